"""CCS control pilot on sysfs PWM + IIO ADC, against a sysfs-shaped tree built by the test (virtual time)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from evse.hardware import registry
from evse.hardware.drivers.board.pilot import PWM_PERIOD_NS, SysfsPilot
from evse.hardware.roles import ControlPilot, CpState

pytestmark = pytest.mark.looptime


class Board:
    """The files a board's kernel drivers would show: PWM channel 0, IIO ADC channels 0 (CP high), 1 (CP low),
    2 (PP), 1 mV per LSB."""

    def __init__(self, root: Path) -> None:
        self.pwm = root / "pwmchip0" / "pwm0"
        self.pwm.mkdir(parents=True)
        for name in ("period", "duty_cycle", "enable"):
            (self.pwm / name).write_text("0\n")
        self.adc = root / "iio:device0"
        self.adc.mkdir()
        (self.adc / "in_voltage_scale").write_text("1.0\n")
        self.cp(12.0, -12.0)
        self.pp_v(3.3)

    def cp(self, high_v: float, low_v: float) -> None:
        # the board's level shift: ADC volts = CP volts / 6 + 1.65
        (self.adc / "in_voltage0_raw").write_text(f"{round((high_v / 6 + 1.65) * 1000)}\n")
        (self.adc / "in_voltage1_raw").write_text(f"{round((low_v / 6 + 1.65) * 1000)}\n")

    def pp_v(self, volts: float) -> None:
        (self.adc / "in_voltage2_raw").write_text(f"{round(volts * 1000)}\n")

    def duty(self) -> float:
        return int((self.pwm / "duty_cycle").read_text()) / int((self.pwm / "period").read_text())

    def params(self) -> dict[str, object]:
        return {
            "pwm_chip": str(self.pwm.parent),
            "cp_high_adc": str(self.adc / "in_voltage0_raw"),
            "cp_low_adc": str(self.adc / "in_voltage1_raw"),
            "pp_adc": str(self.adc / "in_voltage2_raw"),
        }


def set_cp(board: Board, high_v: float, low_v: float = -12.0) -> None:
    board.cp(high_v, low_v)


def set_pp(board: Board, volts: float) -> None:
    board.pp_v(volts)


async def test_states_pwm_and_proximity(tmp_path: Path) -> None:
    board = Board(tmp_path)
    pilot = registry.create("pilot", "sysfs", board.params(), context=registry.DriverContext(1))
    assert isinstance(pilot, SysfsPilot) and isinstance(pilot, ControlPilot)
    assert int((board.pwm / "period").read_text()) == PWM_PERIOD_NS and board.duty() == 1.0  # steady +12 V
    assert pilot.state() == CpState.A and pilot.proximity_ohm() is None
    heard: list[CpState] = []
    pilot.add_listener(lambda: heard.append(pilot.state()))
    set_cp(board, 9.0)
    set_pp(board, 3.3 * 680 / (1000 + 680))  # a 20 A cable's 680 Ω coding resistor
    await asyncio.sleep(0.02)
    assert pilot.state() == CpState.B and heard[-1] == CpState.B
    assert pilot.proximity_ohm() == pytest.approx(680, rel=0.01)
    pilot.set_pwm(5.0)
    assert board.duty() == pytest.approx(0.05)
    set_cp(board, 6.0)
    await asyncio.sleep(0.02)
    assert pilot.state() == CpState.C and pilot.high_voltage_v() == pytest.approx(6.0, abs=0.01)
    set_cp(board, 6.0, low_v=0.0)  # no diode in the vehicle
    await asyncio.sleep(0.02)
    assert pilot.state() == CpState.DIODE_FAULT
    pilot.set_state_f()
    assert board.duty() == 0.0
    set_cp(board, -12.0)
    await asyncio.sleep(0.02)
    assert pilot.state() == CpState.F
    pilot.shutdown()


async def test_an_unreadable_cp_reads_as_state_e(tmp_path: Path) -> None:
    board = Board(tmp_path)
    pilot = registry.create("pilot", "sysfs", board.params(), context=registry.DriverContext(1))
    set_raw(board.adc / "in_voltage0_raw", "EIO")
    await asyncio.sleep(0.02)
    assert pilot.state() == CpState.E
    pilot.shutdown()


def set_raw(path: Path, text: str) -> None:
    path.write_text(text)


def test_a_missing_pwm_chip_is_one_sentence(tmp_path: Path) -> None:
    board = Board(tmp_path)
    params = {**board.params(), "pwm_chip": str(tmp_path / "pwmchip7")}
    with pytest.raises(registry.DriverError, match=r"CP generator.*cannot be exported"):
        registry.create("pilot", "sysfs", params, context=registry.DriverContext(1))
