"""Modbus DC meter driver against the emulator: pymodbus's TCP server on loopback (real time, short polls)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evse.hardware import registry
from evse.hardware.drivers.emulators.meter import ModbusMeterEmulator, free_tcp_port
from evse.hardware.drivers.meter import codec
from evse.hardware.drivers.meter.modbus import METER_SILENT, ModbusMeter
from evse.hardware.drivers.settings import MeterRegister, ModbusMeterSettings
from evse.hardware.roles import EnergyMeter

OCMF = 'OCMF|{"FV":"1.0","GI":"ACME DCM","RD":[{"RV":1234.5,"RU":"kWh"}]}|{"SD":"3045022100ab"}'


def _params(port: int) -> dict[str, Any]:
    return {
        "transport": "tcp",
        "host": "127.0.0.1",
        "tcp_port": port,
        "unit": 7,
        # a map with three encodings: energy u64 in mWh little word order, voltage f32, current s32 in mA
        "energy_wh": {"address": 100, "type": "u64", "scale": 0.001, "word_order": "little"},
        "voltage_v": {"address": 110, "type": "f32"},
        "current_a": {"address": 120, "type": "s32", "scale": 0.001, "function": "input"},
        "ocmf_address": 1000,
        "ocmf_registers": 200,
        "poll_interval_s": 0.02,
        "response_timeout_s": 0.2,
        "failed_polls_for_fault": 3,
    }


@pytest.fixture
async def rig() -> AsyncIterator[tuple[ModbusMeter, ModbusMeterEmulator]]:
    params = _params(free_tcp_port())
    device = ModbusMeterEmulator(msgspec.convert(params, ModbusMeterSettings))
    await device.start()
    meter = registry.create("meter", "modbus_meter", params, context=registry.DriverContext(1))
    assert isinstance(meter, ModbusMeter) and isinstance(meter, EnergyMeter)
    yield meter, device
    meter.shutdown()
    await device.stop()


async def until(condition: Callable[[], bool], timeout_s: float = 3.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - polling a TCP peer: no event to wait on
            await asyncio.sleep(0.01)


@given(
    st.sampled_from(["u16", "s16", "u32", "s32", "u64", "s64"]),
    st.sampled_from(["big", "little"]),
    st.integers(-(2**15), 2**15 - 1),
)
def test_integer_codec_round_trip(kind: str, order: str, value: int) -> None:
    if kind.startswith("u"):
        value = abs(value)
    spec = MeterRegister(address=0, type=kind, word_order=order)  # type: ignore[arg-type]
    assert codec.decode(spec, codec.encode(spec, value)) == value


@given(st.lists(st.integers(0, 0xFFFF), min_size=4, max_size=4), st.sampled_from(list(codec.FORMATS)))
def test_decoder_takes_any_registers(registers: list[int], kind: str) -> None:
    codec.decode(MeterRegister(address=0, type=kind), registers)  # type: ignore[arg-type]


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40))
def test_text_round_trip(text: str) -> None:
    assert codec.decode_text(codec.encode_text(text, 20)) == text


async def test_readings_and_signed_value_pass_through(rig: tuple[ModbusMeter, ModbusMeterEmulator]) -> None:
    meter, device = rig
    device.energy_wh = 1_234_567.891
    device.voltage_v = 402.5
    device.current_a = -12.345  # reverse current is representable (s32)
    device.ocmf = OCMF
    await until(lambda: meter.signed_value() is not None)
    assert meter.energy_wh() == pytest.approx(1_234_567.891, abs=0.001)
    assert meter.voltage_v() == pytest.approx(402.5)
    assert meter.current_a() == pytest.approx(-12.345)
    assert meter.signed_value() == OCMF
    assert meter.fault() is None
    device.energy_wh += 500.0
    await until(lambda: meter.energy_wh() > 1_235_000)


async def test_a_meter_without_signature_has_no_signed_value(rig: tuple[ModbusMeter, ModbusMeterEmulator]) -> None:
    meter, device = rig
    device.voltage_v = 10.0
    await until(lambda: meter.voltage_v() == 10.0)
    assert meter.signed_value() is None


async def test_exceptions_and_silence_become_a_fault(rig: tuple[ModbusMeter, ModbusMeterEmulator]) -> None:
    meter, device = rig
    device.energy_wh = 42.0
    await until(lambda: meter.energy_wh() == pytest.approx(42.0))
    device.busy = True
    await until(lambda: meter.fault() == METER_SILENT)
    assert meter.energy_wh() == pytest.approx(42.0)  # the last reading is kept
    device.busy = False
    await until(lambda: meter.fault() is None)
    await device.stop()
    await until(lambda: meter.fault() == METER_SILENT)


def test_bad_register_map_is_one_sentence() -> None:
    with pytest.raises(registry.DriverError, match=r"modbus_meter.*energy_wh"):
        registry.create(
            "meter", "modbus_meter", {"energy_wh": {"address": 1, "type": "f16"}}, context=registry.DriverContext(1)
        )
