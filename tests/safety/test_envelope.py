"""The envelope is the intersection of its sources and names the binding one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evse.safety.envelope import (
    CABLE,
    CABLE_TEMPERATURE,
    CHARGER,
    CSMS,
    STATION_BUDGET,
    STATION_PAUSE,
    VEHICLE,
    CableLimits,
    ChargerLimits,
    Envelope,
)
from evse.safety.limits import (
    emergency_overvoltage_v,
    insulation_level,
    insulation_test_voltage_v,
)
from evse.safety.settings import SafetySettings
from evse.session.context import VehicleLimits

CHARGER_LIMITS = ChargerLimits(
    max_voltage_v=500, min_voltage_v=150, max_current_a=200, min_current_a=0, max_power_w=60_000
)


def envelope(cable_a: float = 250) -> Envelope:
    return Envelope(CHARGER_LIMITS, CableLimits(cable_a, 60, 90))


def test_charger_alone_binds_by_power_at_high_voltage_and_by_current_at_low() -> None:
    env = envelope()
    assert env.current_limit_a(200) == (200, CHARGER)
    current, source = env.current_limit_a(400)
    assert current == pytest.approx(150) and source == CHARGER


def test_each_source_can_bind() -> None:
    env = envelope(cable_a=150)
    assert env.current_limit_a(200) == (150, CABLE)
    env.set_cable_temperature_c(75)  # halfway through the derating
    assert env.current_limit_a(200) == (pytest.approx(75), CABLE_TEMPERATURE)
    env.set_vehicle(VehicleLimits(max_voltage_v=410, max_current_a=50))
    assert env.current_limit_a(200) == (50, VEHICLE)
    assert env.limits().max_voltage_v == 410 and env.limits().voltage_source == VEHICLE
    env.set_csms(40, None)
    assert env.current_limit_a(200) == (40, CSMS)
    env.set_station_share_w(4_000)
    assert env.current_limit_a(200) == (pytest.approx(20), STATION_BUDGET)
    env.set_station_paused(True)
    assert env.current_limit_a(200) == (0, STATION_PAUSE)


def test_derating_reaches_zero_at_end_temperature() -> None:
    env = envelope()
    env.set_cable_temperature_c(95)
    assert env.current_limit_a(300) == (0, CABLE_TEMPERATURE)


def test_listeners_hear_every_change() -> None:
    env = envelope()
    calls: list[int] = []
    env.add_listener(lambda: calls.append(1))
    env.set_csms(None, 10_000)
    env.set_station_share_w(5_000)
    env.set_station_share_w(5_000)  # no change, no call
    assert len(calls) == 2
    assert env.limits().max_power_w == 5_000


@given(
    vehicle_a=st.floats(0, 1000),
    vehicle_v=st.floats(50, 1000),
    csms_a=st.none() | st.floats(0, 1000),
    share_w=st.none() | st.floats(0, 200_000),
    temp_c=st.none() | st.floats(-30, 120),
    voltage_v=st.floats(0, 1000),
)
def test_limit_is_never_above_any_source(
    vehicle_a: float,
    vehicle_v: float,
    csms_a: float | None,
    share_w: float | None,
    temp_c: float | None,
    voltage_v: float,
) -> None:
    env = envelope()
    env.set_vehicle(VehicleLimits(max_voltage_v=vehicle_v, max_current_a=vehicle_a))
    env.set_csms(csms_a, None)
    env.set_station_share_w(share_w)
    env.set_cable_temperature_c(temp_c)
    current, _ = env.current_limit_a(voltage_v)
    assert 0 <= current <= min(vehicle_a, 200, 250)
    if csms_a is not None:
        assert current <= csms_a
    if share_w is not None and voltage_v >= 1:
        assert current * voltage_v <= share_w * (1 + 1e-9)
    assert env.limits().max_voltage_v <= min(vehicle_v, 500)


@pytest.mark.parametrize(
    ("negotiated_v", "threshold_v"),
    [(400, 550), (500, 550), (501, 825), (750, 825), (800, 935), (1000, 1100), (1250, 1375)],
)
def test_emergency_overvoltage_table_103(negotiated_v: float, threshold_v: float) -> None:
    assert emergency_overvoltage_v(negotiated_v) == threshold_v


@pytest.mark.parametrize(
    ("vehicle_v", "charger_v", "test_v"),
    [(400, 1000, 450), (480, 1000, 500), (800, 1000, 880), (800, 850, 850), (None, 1000, 500), (None, 400, 400)],
)
def test_insulation_test_voltage(vehicle_v: float | None, charger_v: float, test_v: float) -> None:
    assert insulation_test_voltage_v(vehicle_v, charger_v) == pytest.approx(test_v)


def test_insulation_levels_use_both_rules() -> None:
    s = SafetySettings()
    assert insulation_level(90_000, 500, s) == "fault"  # < 100 kΩ (2023) although 180 Ω/V
    assert insulation_level(101_000, 1200, s) == "fault"  # 84 Ω/V < 100 Ω/V
    assert insulation_level(200_000, 500, s) == "warning"  # 400 Ω/V
    assert insulation_level(300_000, 500, s) == "ok"
