"""The yeti board drivers (pilot, contactors, lock, temperatures) against the board emulator on a pty pair, and
every fault the emulator injects. Real time with short timeouts (a pty is real I/O); each test takes < 2 s."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from evse.hardware.drivers.emulators.ptylink import PtyLink
from evse.hardware.drivers.emulators.yeti import YetiBoardEmulator
from evse.hardware.drivers.yeti import messages as m
from evse.hardware.drivers.yeti.board_roles import YetiContactors, YetiLock, YetiPilot, YetiTemperatures
from evse.hardware.drivers.yeti.transport import SerialTransport
from evse.hardware.registry import DriverContext, DriverError, create, known
from evse.hardware.roles import CpState

FAST: dict[str, Any] = {"keep_alive_interval_s": 0.05, "keep_alive_timeout_s": 0.5, "reset_timeout_s": 0.3}


@dataclass
class Rig:
    board: YetiBoardEmulator
    link: PtyLink
    pilot: YetiPilot
    contactors: YetiContactors
    lock: YetiLock
    temperatures: YetiTemperatures
    adc: Path
    heard: dict[str, int]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    link = PtyLink()
    board = YetiBoardEmulator(SerialTransport(link.device_port, 115_200), keep_alive_s=0.05, lock_delay_s=0.05)
    adc = tmp_path / "in_voltage1_raw"
    adc.write_text("400\n")
    (tmp_path / "in_voltage_scale").write_text("1.0\n")  # 1 mV per count
    context = DriverContext(1)
    params = {"port": link.driver_port, **FAST}
    pilot = create("pilot", "yeti", params, context=context)
    contactors = create(
        "contactors",
        "yeti",
        {**params, "feedback_timeout_s": 0.2, "vehicle_voltage_adc": str(adc), "vehicle_voltage_divider": 1000.0},
        context=context,
    )
    lock = create("lock", "yeti", {**params, "feedback_timeout_s": 0.3, "motor_lock_type": "qwello"}, context=context)
    temperatures = create("temperatures", "yeti", {**params, "sensors": ["dc_plus", "", "dc_minus"]}, context=context)
    heard = {"pilot": 0, "contactors": 0, "lock": 0}
    for name, role in (("pilot", pilot), ("contactors", contactors), ("lock", lock)):
        role.add_listener(lambda name=name: heard.__setitem__(name, heard[name] + 1))
    rig = Rig(board, link, pilot, contactors, lock, temperatures, adc, heard)
    await until(lambda: pilot.link.alive)
    yield rig
    pilot.shutdown()
    board.close()
    link.close()


async def until(condition: Callable[[], bool], timeout_s: float = 2.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - a pty peer: no event to wait on
            await asyncio.sleep(0.01)


def test_the_drivers_are_registered_by_entry_point() -> None:
    for role in ("pilot", "contactors", "lock", "temperatures"):
        assert "yeti" in known(role)


async def test_start_resets_the_mcu_and_answers_its_configuration_request(rig: Rig) -> None:
    assert rig.board.received[0] == ("reset", m.BOARD)
    await until(lambda: rig.board.config is not None)
    assert rig.board.config.hw_rev == m.HardwareRevision.HW_REV_B
    assert rig.board.config.lock_1.type == m.MotorLockType.MOTOR_LOCK_QWELLO  # from the lock role of connector 1
    assert rig.board.config.lock_2.type == m.MotorLockType.MOTOR_LOCK_UNKNOWN
    assert rig.pilot.link.config_requests == 1 and rig.pilot.link.spurious_resets == 0
    await until(lambda: rig.pilot.link.firmware_version == "emulated-1.0")
    assert rig.board.keep_alives >= 3
    assert rig.pilot.fault() is None and rig.contactors.fault() is None and rig.lock.fault() is None


async def test_pilot_pwm_states_levels_and_proximity(rig: Rig) -> None:
    pilot, board = rig.pilot, rig.board
    await until(lambda: pilot.state() == CpState.F)  # the MCU starts in F
    pilot.set_pwm(None)
    await until(lambda: board.connectors[1].pwm_e2 == m.PWM_STEADY_X1)
    await until(lambda: pilot.state() == CpState.A and abs(pilot.high_voltage_v() - 12.0) < 0.01)
    board.set_cp(1, m.CpState.STATE_B, 8.7)
    board.set_pp(1, m.PpState.STATE_20A)
    pilot.set_pwm(5.0)
    await until(lambda: board.connectors[1].pwm_e2 == 500)
    await until(lambda: pilot.state() == CpState.B and abs(pilot.high_voltage_v() - 8.7) < 0.01)
    await until(lambda: abs(pilot.low_voltage_v() + 12.0) < 0.01)  # negative level: two's complement on the wire
    assert pilot.proximity_ohm() == 680.0
    board.set_cp(1, m.CpState.STATE_C)
    pilot.set_pwm(53.3)
    await until(lambda: board.connectors[1].pwm_e2 == 5330 and pilot.state() == CpState.C)
    assert rig.heard["pilot"] > 3
    pilot.set_state_f()
    await until(lambda: board.connectors[1].pwm_e2 == m.PWM_STEADY_F and pilot.state() == CpState.F)
    board.set_pp(1, m.PpState.STATE_NC)
    await until(lambda: pilot.proximity_ohm() is None)


async def test_pilot_error_flags(rig: Rig) -> None:
    pilot, board = rig.pilot, rig.board
    pilot.set_pwm(5.0)
    board.set_cp(1, m.CpState.STATE_C)
    await until(lambda: pilot.state() == CpState.C)
    board.set_errors(1, diode_fault=True)
    await until(lambda: pilot.state() == CpState.DIODE_FAULT)
    board.set_errors(1, diode_fault=False, cp_signal_fault=True)
    await until(lambda: pilot.state() == CpState.E and pilot.fault() == "cp_signal_fault")
    board.set_errors(1, cp_signal_fault=False, rcd_triggered=True)
    await until(lambda: pilot.fault() == "rcd_triggered")
    board.set_errors(1, rcd_triggered=False)
    await until(lambda: pilot.fault() is None and pilot.state() == CpState.C)


async def test_contactors_follow_the_board_coil_reports(rig: Rig) -> None:
    contactors, board = rig.contactors, rig.board
    assert not contactors.feedback_closed() and not contactors.commanded_closed()
    contactors.close()
    assert contactors.commanded_closed() and not contactors.feedback_closed()  # sync command, feedback later
    await until(contactors.feedback_closed)
    assert board.coil_closed(1, m.CoilType.COIL_DC1) and not board.coil_closed(2, m.CoilType.COIL_DC1)
    await asyncio.sleep(0.3)
    assert contactors.fault() is None and rig.heard["contactors"] >= 1
    contactors.open()
    await until(lambda: not contactors.feedback_closed())
    assert contactors.vehicle_side_voltage_v() == pytest.approx(400.0)  # 400 mV at the ADC × 1000


async def test_missing_relay_feedback_is_a_fault_after_the_timeout(rig: Rig) -> None:
    contactors, board = rig.contactors, rig.board
    board.relay_feedback_missing = True
    contactors.close()
    heard = rig.heard["contactors"]
    await until(lambda: contactors.fault() == "contactor_feedback_timeout", 1.0)
    assert rig.heard["contactors"] > heard and not contactors.feedback_closed()
    board.relay_feedback_missing = False  # the report arrives late: feedback agrees again, the fault clears
    await until(lambda: contactors.feedback_closed() and contactors.fault() is None)


async def test_an_unreadable_vehicle_voltage_adc_is_a_fault(rig: Rig) -> None:
    assert rig.contactors.vehicle_side_voltage_v() == pytest.approx(400.0)
    rig.adc.unlink()
    assert rig.contactors.vehicle_side_voltage_v() == pytest.approx(400.0)  # the last reading stays
    assert rig.contactors.fault() == "adc_unreadable"


async def test_lock_follows_and_a_stuck_lock_is_a_fault(rig: Rig) -> None:
    lock, board = rig.lock, rig.board
    lock.lock()
    await until(lock.locked)
    lock.unlock()
    await until(lambda: not lock.locked())
    board.lock_stuck = True
    lock.lock()
    await until(lambda: lock.fault() == "connector_lock_failed", 1.0)
    board.set_errors(1, connector_lock_failed=False)
    await until(lambda: lock.fault() == "lock_feedback_timeout", 1.0)
    assert not lock.locked()


async def test_keep_alive_loss_is_a_fault_on_every_role_and_recovers(rig: Rig) -> None:
    pilot, contactors, lock, board = rig.pilot, rig.contactors, rig.lock, rig.board
    pilot.set_pwm(5.0)
    board.set_cp(1, m.CpState.STATE_C)
    contactors.close()
    lock.lock()
    await until(lambda: contactors.feedback_closed() and lock.locked() and pilot.state() == CpState.C)
    heard = dict(rig.heard)
    board.silent = True
    await until(lambda: pilot.fault() == "board_communication_lost", 2.0)
    assert contactors.fault() == lock.fault() == "board_communication_lost"
    assert pilot.state() == CpState.E and pilot.high_voltage_v() == 0.0
    assert not contactors.feedback_closed()  # commanded closed, unknown: reads dropped (the supervisor trips)
    assert not lock.locked()
    assert all(rig.heard[name] > heard[name] for name in heard)
    contactors.open()  # the supervisor's trip; the board cannot confirm it
    assert contactors.feedback_closed()  # reported closed, not confirmed open: no new session
    sent = board.commands("set_coil_state_request")
    board.silent = False
    await until(lambda: pilot.fault() is None and contactors.fault() is None)
    # the link sent the last commands again, so the board's reports are fresh
    await until(lambda: board.commands("set_coil_state_request") > sent and not contactors.feedback_closed())
    assert pilot.state() == CpState.C and lock.locked()


async def test_corrupted_frames_are_dropped_and_become_communication_lost(rig: Rig) -> None:
    rig.board.corrupt = True  # every frame the board sends fails its CRC
    await until(lambda: rig.pilot.fault() == "board_communication_lost", 2.0)
    assert rig.pilot.link.decoder.bad_frames > 3
    rig.board.corrupt = False
    await until(lambda: rig.pilot.fault() is None)
    rig.link.corrupt = True  # the line flips a bit in every chunk it carries: those frames are dropped
    bad = rig.pilot.link.decoder.bad_frames
    await until(lambda: rig.pilot.link.decoder.bad_frames > bad + 3)
    rig.link.corrupt = False


async def test_a_spurious_mcu_reset_opens_the_coils_and_shows_until_commanded(rig: Rig) -> None:
    contactors, pilot, board = rig.contactors, rig.pilot, rig.board
    pilot.set_pwm(5.0)
    contactors.close()
    await until(contactors.feedback_closed)
    board.watchdog_reset()
    await until(lambda: contactors.fault() == "board_reset")
    assert pilot.fault() == "board_reset" and not contactors.feedback_closed()
    assert rig.pilot.link.last_reset_reason == m.ResetReason.WATCHDOG and rig.pilot.link.spurious_resets == 1
    await until(lambda: rig.pilot.link.config_requests == 2)  # asked for its configuration again
    contactors.open()
    assert contactors.fault() is None and pilot.fault() == "board_reset"
    pilot.set_pwm(5.0)
    assert pilot.fault() is None


async def test_temperatures_from_raw_adc_counts(rig: Rig) -> None:
    rig.board.temperatures_raw = [0, 4095, 1241]  # 0 V, 3.3 V, 1.0 V
    await until(lambda: bool(rig.temperatures.readings_c()))
    readings = rig.temperatures.readings_c()
    assert set(readings) == {"dc_plus", "dc_minus"}  # the unnamed channel is skipped
    assert readings["dc_plus"] == pytest.approx(92.8)
    assert readings["dc_minus"] == pytest.approx(92.8 - 31.0 * 1.0, abs=0.05)
    assert rig.temperatures.fault() is None


async def test_configuration_errors_are_one_sentence(tmp_path: Path) -> None:
    context = DriverContext(3)
    with pytest.raises(DriverError, match="vehicle_voltage_adc"):
        create("contactors", "yeti", {"port": "/dev/null"}, context=context)
    with pytest.raises(DriverError, match="cannot be opened"):
        create("pilot", "yeti", {"port": str(tmp_path / "ttyNONE")}, context=context)
    with pytest.raises(DriverError, match="connector"):
        create("lock", "yeti", {"port": "/dev/ttyS9", "connector": 3}, context=context)
    with pytest.raises(DriverError, match="colour"):
        create("pilot", "yeti", {"colour": "red"}, context=context)
    link = PtyLink()
    try:
        shared = DriverContext(1)
        pilot = create("pilot", "yeti", {"port": link.driver_port}, context=shared)
        with pytest.raises(DriverError, match="same ones"):
            create("lock", "yeti", {"port": link.driver_port, "baudrate": 9600}, context=shared)
        pilot.shutdown()
    finally:
        link.close()


async def test_missing_protobuf_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import evse.hardware.drivers.yeti as package

    monkeypatch.delattr(package, "board_roles", raising=False)
    monkeypatch.setitem(sys.modules, "evse.hardware.drivers.yeti.board_roles", None)
    with pytest.raises(DriverError, match=r"pip install 'evse\[hardware\]'"):
        create("pilot", "yeti", {"port": "/dev/ttyS9"}, context=DriverContext(1))


async def test_a_board_that_never_answers_is_lost_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    link = PtyLink()  # nothing on the device end
    try:
        pilot = create("pilot", "yeti", {"port": link.driver_port, **FAST}, context=DriverContext(1))
        assert pilot.fault() == "board_communication_lost" and pilot.state() == CpState.E
        await asyncio.sleep(0.8)
        assert pilot.fault() == "board_communication_lost" and pilot.proximity_ohm() is None
        lines = [r for r in caplog.records if "silent for more than" in r.getMessage()]
        assert len(lines) == 1
        assert link.bytes_to_device > 0  # reset and keep-alives went out
        pilot.shutdown()
    finally:
        link.close()


async def test_a_failing_listener_does_not_stop_the_link(rig: Rig) -> None:
    def broken() -> None:
        raise RuntimeError("listener bug")

    after: list[int] = []
    rig.pilot.add_listener(broken)
    rig.pilot.add_listener(lambda: after.append(1))  # called after the broken one
    rig.pilot.set_pwm(None)
    rig.board.set_cp(1, m.CpState.STATE_B)
    await until(lambda: rig.pilot.state() == CpState.B and len(after) > 2)
