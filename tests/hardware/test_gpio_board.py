"""Generic GPIO/IIO board drivers. No GPIO chip exists here (gpio-sim needs a kernel module this container lacks),
so the drivers run on `MemoryLines`, an in-memory `LineIO` with a scripted "physical" side (a contactor that
follows its coil after a delay, or never); the IIO ADC is a real sysfs-shaped directory tree built in tmp_path."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from evse.hardware import registry
from evse.hardware.drivers.board.gpio import (
    CONTACTOR_FEEDBACK_TIMEOUT,
    LOCK_FEEDBACK_TIMEOUT,
    GpioContactors,
    GpioEmergencyStop,
    GpioLock,
    GpioVehicleLines,
)
from evse.hardware.drivers.board.iio import IioError, IioVoltage
from evse.hardware.drivers.settings import (
    GpioContactorsSettings,
    GpioEmergencyStopSettings,
    GpioLockSettings,
    GpioVehicleLinesSettings,
)
from evse.hardware.roles import ConnectorLock, Contactors, EmergencyStop, VehicleLines

pytestmark = pytest.mark.looptime


class MemoryLines:
    """Logical line values; `follow[input] = (output, delay_s)` makes an input copy an output after a delay (a
    mirror contact); `stuck` inputs ignore their output (a welded or dropped contactor, a jammed lock)."""

    def __init__(self) -> None:
        self.values: dict[int, bool] = {}
        self.follow: dict[int, tuple[int, float]] = {}
        self.stuck: set[int] = set()

    def read(self, offset: int) -> bool:
        return self.values.get(offset, False)

    def write(self, offset: int, value: bool) -> None:
        self.values[offset] = value
        loop = asyncio.get_running_loop()
        for inp, (out, delay_s) in self.follow.items():
            if out == offset and inp not in self.stuck:
                loop.call_later(delay_s, self._settle, inp, out)

    def _settle(self, inp: int, out: int) -> None:
        if inp not in self.stuck:
            self.values[inp] = self.values.get(out, False)


def iio_tree(tmp_path: Path, channel: int, raw: int, scale_mv: float, shared_scale: bool = False) -> Path:
    device = tmp_path / "iio:device0"
    device.mkdir(exist_ok=True)
    (device / f"in_voltage{channel}_raw").write_text(f"{raw}\n")
    scale_name = "in_voltage_scale" if shared_scale else f"in_voltage{channel}_scale"
    (device / scale_name).write_text(f"{scale_mv}\n")
    return device / f"in_voltage{channel}_raw"


def test_iio_voltage_applies_scale_offset_and_divider(tmp_path: Path) -> None:
    raw = iio_tree(tmp_path, 1, 2048, 0.805664062, shared_scale=True)
    (raw.parent / "in_voltage1_offset").write_text("-48\n")
    adc = IioVoltage(str(raw), divider=250.0)
    assert adc.voltage_v() == pytest.approx((2048 - 48) * 0.805664062 / 1000 * 250)
    raw.write_text("0\n")
    assert adc.voltage_v() == pytest.approx(-48 * 0.805664062 / 1000 * 250)
    raw.write_text("garbage\n")
    with pytest.raises(IioError, match="cannot be read"):
        adc.voltage_v()


def test_iio_path_errors_are_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(IioError, match="does not exist"):
        IioVoltage(str(tmp_path / "in_voltage3_raw"))
    with pytest.raises(IioError, match="not an IIO"):
        IioVoltage(str(tmp_path / "temperature"))


async def contactors(tmp_path: Path, lines: MemoryLines) -> GpioContactors:
    raw = iio_tree(tmp_path, 0, 1000, 1.0)
    settings = GpioContactorsSettings(
        close_lines=(5, 6), feedback_lines=(12, 13), vehicle_voltage_adc=str(raw), vehicle_voltage_divider=0.4
    )
    lines.follow = {12: (5, 0.03), 13: (6, 0.04)}
    return GpioContactors(lines, settings, IioVoltage(str(raw), 0.4))


async def test_contactors_follow_with_mirror_contacts_and_sense_voltage(tmp_path: Path) -> None:
    lines = MemoryLines()
    c = await contactors(tmp_path, lines)
    assert isinstance(c, Contactors)
    changes: list[bool] = []
    c.add_listener(lambda: changes.append(c.feedback_closed()))
    await asyncio.sleep(0.05)
    assert c.vehicle_side_voltage_v() == pytest.approx(0.4)  # 1000 × 1 mV × 0.4
    c.close()
    assert c.commanded_closed() and not c.feedback_closed()
    await asyncio.sleep(0.1)
    assert c.feedback_closed() and True in changes and c.fault() is None
    c.open()
    await asyncio.sleep(0.1)
    assert not c.feedback_closed() and c.fault() is None
    c.shutdown()


async def test_missing_mirror_contact_is_a_fault_after_the_timeout(tmp_path: Path) -> None:
    lines = MemoryLines()
    c = await contactors(tmp_path, lines)
    lines.stuck = {12, 13}  # coil driven, contactor never moves
    faults: list[str | None] = []
    c.add_listener(lambda: faults.append(c.fault()))
    c.close()
    await asyncio.sleep(0.15)
    assert c.fault() is None  # within the 0.2 s allowance
    await asyncio.sleep(0.1)
    assert c.fault() == CONTACTOR_FEEDBACK_TIMEOUT and CONTACTOR_FEEDBACK_TIMEOUT in faults
    c.shutdown()


async def test_welded_contactor_reads_closed_after_open_and_faults(tmp_path: Path) -> None:
    lines = MemoryLines()
    c = await contactors(tmp_path, lines)
    c.close()
    await asyncio.sleep(0.1)
    lines.stuck = {12}
    c.open()
    await asyncio.sleep(0.3)
    assert c.feedback_closed() and c.fault() == CONTACTOR_FEEDBACK_TIMEOUT
    c.shutdown()


async def test_lock_feedback_and_its_timeout() -> None:
    lines = MemoryLines()
    lines.follow = {21: (20, 0.3)}
    lock = GpioLock(lines, GpioLockSettings(line=20, feedback_line=21))
    assert isinstance(lock, ConnectorLock)
    lock.lock()
    assert not lock.locked()
    await asyncio.sleep(0.4)
    assert lock.locked() and lock.fault() is None
    lines.stuck = {21}
    lock.unlock()
    await asyncio.sleep(0.9)
    assert lock.fault() is None
    await asyncio.sleep(0.2)
    assert lock.fault() == LOCK_FEEDBACK_TIMEOUT and lock.locked()
    lock.shutdown()


async def test_emergency_stop_is_heard_within_one_poll() -> None:
    lines = MemoryLines()
    estop = GpioEmergencyStop(lines, GpioEmergencyStopSettings(line=17))
    assert isinstance(estop, EmergencyStop)
    heard: list[float] = []
    estop.add_listener(lambda: heard.append(asyncio.get_running_loop().time()))
    await asyncio.sleep(0.1)
    pressed_at = asyncio.get_running_loop().time()
    lines.values[17] = True
    await asyncio.sleep(0.05)
    assert estop.pressed() and heard and heard[0] - pressed_at <= 0.011
    estop.shutdown()


async def test_vehicle_lines_outputs_inputs_and_cc1(tmp_path: Path) -> None:
    lines = MemoryLines()
    raw = iio_tree(tmp_path, 2, 4000, 1.0)
    settings = GpioVehicleLinesSettings(d1=22, d2=23, k=24, connected=25, cc1_adc=str(raw), cc1_divider=1.0)
    vl = GpioVehicleLines(lines, settings, IioVoltage(str(raw)))
    assert isinstance(vl, VehicleLines)
    vl.set_output("d1", True)
    assert lines.values[22] and vl.output("d1") and not vl.output("d2")
    lines.values[24] = True
    await asyncio.sleep(0.02)
    assert vl.input_active("k") and not vl.input_active("connected")
    assert vl.input_voltage_v("cc1") == pytest.approx(4.0)
    with pytest.raises(ValueError, match=r"aux_12v.*not wired"):
        vl.set_output("aux_12v", True)
    vl.shutdown()


def test_contactors_without_feedback_or_voltage_sense_are_refused() -> None:
    with pytest.raises(registry.DriverError, match="feedback_lines"):
        registry.create("contactors", "gpio", {"close_lines": [5, 6]}, context=registry.DriverContext(1))


def test_a_missing_gpio_chip_is_one_sentence(tmp_path: Path) -> None:
    raw = iio_tree(tmp_path, 0, 0, 1.0)
    params = {
        "chip": str(tmp_path / "gpiochip9"),
        "close_lines": [5],
        "feedback_lines": [6],
        "vehicle_voltage_adc": str(raw),
    }
    with pytest.raises(registry.DriverError, match="cannot be requested"):
        registry.create("contactors", "gpio", params, context=registry.DriverContext(1))
