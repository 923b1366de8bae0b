"""The CHAdeMO codec: DBC-driven round trips, fuzzing, out-of-range reporting and the known vehicle quirks."""

from __future__ import annotations

import cantools
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evse.can.channel import CanFrame
from evse.protocols.chademo import messages as m
from evse.protocols.chademo.codec import DBC_PATH, ChademoCodec, CodecError

codec = ChademoCodec()
u8 = st.integers(0, 255)
volts = st.integers(0, 1500)
flag = st.booleans()
time_s = st.one_of(st.integers(0, 254).map(lambda n: n * 10), st.integers(43, 255).map(lambda n: n * 60))

battery_limits = st.builds(
    m.VehicleBatteryLimits,
    min_current_a=u8,
    nonstandard_max_current_a=u8,
    min_battery_voltage_v=volts,
    max_battery_voltage_v=volts,
    charged_rate_reference=u8,
)
charge_time = st.builds(
    lambda t, est, cap: m.VehicleChargeTime(t, est, cap, round(cap * 0.1, 3)),
    time_s,
    u8,
    st.integers(0, 0xFFFF),
)
control = st.builds(
    m.VehicleControl,
    protocol_number=st.integers(0, 3),
    target_voltage_v=volts,
    current_request_a=u8,
    faults=st.frozensets(st.sampled_from(m.FAULT_FLAGS)),
    charging_enabled=flag,
    shift_lever_not_park=flag,
    charging_system_fault=flag,
    contactor_open=flag,
    normal_stop_request=flag,
    discharge_compatible=flag,
    vendor_bits=st.integers(0, 3),
    charged_rate=u8,
)
extended = st.builds(m.VehicleExtendedFunctions, flag, flag, flag) | st.builds(
    m.ChargerExtendedFunctions, flag, flag, flag
)
capability = st.builds(m.ChargerCapability, flag, volts, u8, volts)
status = st.builds(
    m.ChargerStatus,
    protocol_number=st.integers(0, 3),
    present_voltage_v=volts,
    present_current_a=u8,
    discharge_compatible=flag,
    charging=flag,
    charger_malfunction=flag,
    connector_locked=flag,
    battery_incompatible=flag,
    charging_system_malfunction=flag,
    stop_control=flag,
    remaining_time_s=time_s,
)


@given(st.one_of(battery_limits, charge_time, control, extended, capability, status))
def test_round_trip(msg: m.VehicleMessage | m.ChargerMessage) -> None:
    frame = codec.encode(msg)
    assert len(frame.data) == 8
    decoded = codec.decode(frame)
    assert decoded == msg
    assert decoded is not None and not getattr(decoded, "problems", ())


@given(st.sampled_from(sorted(m.VEHICLE_IDS | m.CHARGER_IDS)), st.binary(min_size=8, max_size=8))
def test_any_eight_byte_payload_decodes(frame_id: int, data: bytes) -> None:
    decoded = codec.decode(CanFrame(frame_id, data))
    assert decoded is not None
    # a value the decoder did not trust is named in problems
    untrusted = [
        n
        for n in ("max_battery_voltage_v", "min_battery_voltage_v", "target_voltage_v")
        if getattr(decoded, n, 0) is None
    ]
    problems = getattr(decoded, "problems", ())
    assert len(problems) >= len(untrusted)


@given(st.integers(0, 0x7FF), st.binary(max_size=12))
def test_any_frame_decodes_or_raises_codec_error(frame_id: int, data: bytes) -> None:
    try:
        codec.decode(CanFrame(frame_id, data))
    except CodecError:
        assert len(data) != 8


def test_out_of_range_values_are_reported_and_not_trusted() -> None:
    data = bytes([0, 0, 0, 0]) + (60000).to_bytes(2, "little") + bytes([100, 0])
    limits = codec.decode(CanFrame(0x100, data))
    assert isinstance(limits, m.VehicleBatteryLimits)
    assert limits.max_battery_voltage_v is None
    assert limits.problems and "MaxBatteryVoltage=60000 V" in limits.problems[0]

    ctrl = codec.decode(CanFrame(0x102, bytes([7, 0x10, 0x01, 10, 0, 1, 50, 0])))
    assert isinstance(ctrl, m.VehicleControl)
    assert ctrl.protocol_number == 7 and ctrl.target_voltage_v == 0x110
    assert any("ControlProtocolNumber=7" in p for p in ctrl.problems)


def test_0x102_fields_and_bits() -> None:
    # protocol 1.0, target 400 V, 120 A, faults bit0 + bit3, status enabled + contactor open + bit7, rate 55
    data = bytes([2, 0x90, 0x01, 120, 0b1001, 0b1000_1001, 55, 0])
    ctrl = codec.decode(CanFrame(0x102, data))
    assert ctrl == m.VehicleControl(
        protocol_number=2,
        target_voltage_v=400,
        current_request_a=120,
        faults=frozenset({"battery_over_voltage", "battery_high_temperature"}),
        charging_enabled=True,
        contactor_open=True,
        discharge_compatible=True,
        charged_rate=55,
    )


def test_nonstandard_max_current_byte_is_decoded_separately() -> None:
    limits = codec.decode(CanFrame(0x100, bytes([0, 125, 0, 0, 0x9A, 0x01, 240, 0])))
    assert isinstance(limits, m.VehicleBatteryLimits)
    assert limits.nonstandard_max_current_a == 125 and limits.min_current_a == 0
    assert limits.max_battery_voltage_v == 410 and limits.charged_rate_reference == 240


@pytest.mark.parametrize(
    ("rate", "reference", "soc"), [(80, 100, 80.0), (120, 240, 50.0), (255, 255, 100.0), (130, 100, 100.0)]
)
def test_soc_from_charged_rate_reference(rate: int, reference: int, soc: float) -> None:
    assert m.soc_pct(rate, reference) == pytest.approx(soc)


def test_soc_unknown_without_reference() -> None:
    assert m.soc_pct(50, 0) is None


def test_capacity_scale_is_configurable() -> None:
    data = bytes([0, 0xFF, 60, 30, 0]) + (354).to_bytes(2, "little") + bytes(1)
    common = codec.decode(CanFrame(0x101, data))
    leaf = ChademoCodec(capacity_kwh_per_unit=0.11).decode(CanFrame(0x101, data))
    assert isinstance(common, m.VehicleChargeTime) and isinstance(leaf, m.VehicleChargeTime)
    assert common.capacity_kwh == pytest.approx(35.4) and leaf.capacity_kwh == pytest.approx(38.94)
    assert common.capacity_raw == leaf.capacity_raw == 354
    assert common.max_charge_time_s == 60 * 60  # 0xFF in byte 1: minutes from byte 2


def test_time_in_10s_steps() -> None:
    data = bytes([0, 90, 0, 0, 0, 0, 0, 0])
    decoded = codec.decode(CanFrame(0x101, data))
    assert isinstance(decoded, m.VehicleChargeTime) and decoded.max_charge_time_s == 900


def test_encoder_clamps_and_rounds_up_remaining_time() -> None:
    frame = codec.encode(m.ChargerStatus(present_current_a=400, remaining_time_s=5))
    assert frame.data[3] == 255
    assert frame.data[6] == 1 and frame.data[7] == 1  # 5 s left is never encoded as 0
    long = codec.encode(m.ChargerStatus(remaining_time_s=3 * 3600))
    assert long.data[6] == 0xFF and long.data[7] == 180


def test_unknown_and_extended_ids_are_not_chademo() -> None:
    assert codec.decode(CanFrame(0x200, bytes(8))) is None
    assert codec.decode(CanFrame(0x102, bytes(8), is_extended_id=True)) is None


def test_wrong_length_is_a_codec_error() -> None:
    with pytest.raises(CodecError, match="0x102 has 5 bytes"):
        codec.decode(CanFrame(0x102, bytes(5)))


def test_the_shipped_dbc_is_plain_cantools_readable() -> None:
    """An operator's tool sees every frame and signal with units (what `cantools dump` shows)."""
    db = cantools.database.load_file(str(DBC_PATH))
    assert isinstance(db, cantools.database.can.Database)
    ids = {msg.frame_id for msg in db.messages}
    assert ids == {0x100, 0x101, 0x102, 0x110, 0x108, 0x109, 0x118}
    for msg in db.messages:
        assert msg.length == 8
        for sig in msg.signals:
            assert sig.byte_order == "little_endian"
    assert db.get_message_by_frame_id(0x100).get_signal_by_name("MaxBatteryVoltage").unit == "V"
    assert db.get_message_by_frame_id(0x101).get_signal_by_name("RatedBatteryCapacity").scale == 0.1
