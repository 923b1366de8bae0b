"""Bender isoCHA425HV driver against the emulator: pymodbus's RTU server on a pty pair (real time, short polls)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evse.hardware import registry
from evse.hardware.drivers.bender import registers as r
from evse.hardware.drivers.bender.imd import BenderIsoChaImd
from evse.hardware.drivers.emulators.bender import BenderIsoChaEmulator
from evse.hardware.drivers.emulators.ptylink import PtyLink
from evse.hardware.roles import InsulationMonitor

#: a pty cannot keep a parity setting across pyserial's reconfiguration (Linux refuses it), so the emulated line
#: runs 8N1; the device's own 8E1 is the driver's default
FAST = {
    "parity": "N",
    "poll_interval_s": 0.02,
    "response_timeout_s": 0.1,
    "failed_polls_for_fault": 3,
    "self_test_timeout_s": 1.0,
}


@dataclass
class Rig:
    imd: BenderIsoChaImd
    device: BenderIsoChaEmulator
    link: PtyLink


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    link = PtyLink()
    device = BenderIsoChaEmulator(link.device_port, address=3, parity="N")
    device.self_test_s = 0.2
    await device.start()
    imd = registry.create("imd", "bender_isocha", {"port": link.driver_port, **FAST}, context=registry.DriverContext(1))
    assert isinstance(imd, BenderIsoChaImd) and isinstance(imd, InsulationMonitor)
    yield Rig(imd, device, link)
    imd.shutdown()
    await device.stop()
    link.close()


async def until(condition: Callable[[], bool], timeout_s: float = 2.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - a pty and a Modbus server: no event to wait on
            await asyncio.sleep(0.01)


@given(st.floats(allow_nan=False, width=32), st.sampled_from(list(r.Alarm)), st.sampled_from(list(r.Test)))
def test_channel_round_trip(value: float, alarm: r.Alarm, test: r.Test) -> None:
    channel = r.Channel(value, alarm, test, r.Validity.TRUE_VALUE, r.UNIT_OHM, 71)
    assert r.Channel.decode(channel.encode()) == channel


@given(st.lists(st.integers(0, 0xFFFF), min_size=4, max_size=4))
def test_channel_decoder_takes_any_registers(registers: list[int]) -> None:
    r.Channel.decode(registers)


async def test_measuring_pushes_resistance_and_voltage_to_earth(rig: Rig) -> None:
    rig.device.resistance_ohm = 2.5e6
    rig.device.voltage_l1e_v = 210.0
    rig.device.voltage_l2e_v = -190.0
    heard: list[float] = []

    def listener() -> None:
        sample = rig.imd.latest()
        heard.append(sample.resistance_ohm if sample else -1.0)

    rig.imd.add_listener(listener)
    await until(lambda: rig.imd.polls >= 2)
    assert rig.imd.latest() is None  # not measuring: nothing pushed
    rig.imd.start()
    await until(lambda: len(heard) >= 3)
    sample = rig.imd.latest()
    assert sample is not None
    assert sample.resistance_ohm == pytest.approx(2.5e6) and sample.voltage_to_earth_v == pytest.approx(210.0)
    assert not sample.device_fault
    assert (r.REG_DEVICE_ENABLE, [1]) in rig.device.writes
    rig.device.resistance_ohm = 80e3
    await until(lambda: rig.imd.latest() is not None and rig.imd.latest().resistance_ohm < 1e5)  # type: ignore[union-attr]
    rig.imd.stop()
    await until(lambda: (r.REG_DEVICE_ENABLE, [0]) in rig.device.writes)


async def test_alarm_type_is_reported(rig: Rig) -> None:
    rig.imd.start()
    rig.device.alarm = r.Alarm.ALARM
    await until(lambda: rig.imd.alarm == r.Alarm.ALARM)


async def test_self_test_passes_and_fails(rig: Rig) -> None:
    rig.imd.start_self_test()
    assert rig.imd.self_test_result() is None
    await until(lambda: rig.imd.self_test_result() is not None)
    assert rig.imd.self_test_result() is True
    rig.device.self_test_fails = True
    rig.imd.start_self_test()
    await until(lambda: rig.imd.self_test_result() is not None)
    assert rig.imd.self_test_result() is False


async def test_self_test_without_answer_fails_in_bounded_time(rig: Rig) -> None:
    rig.link.mute = True
    rig.imd.start_self_test()
    await until(lambda: rig.imd.self_test_result() is not None, timeout_s=3.0)
    assert rig.imd.self_test_result() is False


async def test_device_error_is_a_device_fault_sample(rig: Rig) -> None:
    rig.imd.start()
    await until(lambda: rig.imd.latest() is not None)
    rig.device.device_error = True
    await until(lambda: rig.imd.latest() is not None and rig.imd.latest().device_fault)  # type: ignore[union-attr]
    assert rig.imd.device_fault()


@pytest.mark.parametrize("fault", ["mute", "corrupt"])
async def test_no_answer_and_crc_errors_become_a_device_fault(rig: Rig, fault: str) -> None:
    rig.imd.start()
    await until(lambda: rig.imd.latest() is not None)
    assert not rig.imd.device_fault()
    setattr(rig.link, fault, True)
    await until(lambda: rig.imd.latest() is not None and rig.imd.latest().device_fault)  # type: ignore[union-attr]
    assert rig.imd.device_fault()
    setattr(rig.link, fault, False)
    await until(lambda: not rig.imd.device_fault())


def test_bad_params_are_one_sentence() -> None:
    with pytest.raises(registry.DriverError, match="bender_isocha"):
        registry.create("imd", "bender_isocha", {"parity": "X"}, context=registry.DriverContext(2))
