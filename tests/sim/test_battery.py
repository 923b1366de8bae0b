"""The battery model: OCV over SOC, resistance, taper, temperature derating, heating, charge counting."""

from __future__ import annotations

import pytest

from evse.sim.battery import BatteryParams, TractionBattery
from evse.sim.profile import builtin_profiles, load_profile, make_battery


def nmc(**overrides: object) -> TractionBattery:
    params = {
        "chemistry": "nmc",
        "cells_series": 96,
        "cells_parallel": 3,
        "cell_capacity_ah": 71.6,
        "cell_resistance_ohm": 0.0015,
        "max_charge_current_a": 350.0,
        "charge_power_kw": [(0, 110), (10, 135), (35, 135), (50, 105), (80, 60), (100, 8)],
        "soc_pct": 10.0,
        **overrides,
    }
    import msgspec

    return TractionBattery(msgspec.convert(params, BatteryParams))


def test_pack_figures_follow_cells() -> None:
    battery = nmc()
    assert battery.capacity_kwh == pytest.approx(77.0, abs=0.5)
    assert battery.max_voltage_v == pytest.approx(96 * 4.2)


@pytest.mark.parametrize("chemistry", ["nmc", "lmo", "lfp"])
def test_ocv_rises_with_soc(chemistry: str) -> None:
    battery = nmc(chemistry=chemistry)
    voltages = []
    for soc in range(0, 101, 5):
        battery.soc_pct = soc
        voltages.append(battery.open_circuit_voltage_v())
    assert voltages == sorted(voltages) and voltages[0] < voltages[-1]


def test_terminal_voltage_includes_resistance_and_cold_raises_it() -> None:
    battery = nmc(soc_pct=50)
    ocv = battery.open_circuit_voltage_v()
    warm_rise = battery.terminal_voltage_v(100.0) - ocv
    assert warm_rise == pytest.approx(100.0 * 0.0015 * 96 / 3, rel=0.05)
    battery.temperature_c = 0.0
    assert battery.terminal_voltage_v(100.0) - ocv > warm_rise * 1.5


def test_current_limit_tapers_above_80_percent() -> None:
    battery = nmc()
    limits = {}
    for soc in (20, 50, 80, 90, 99):
        battery.soc_pct = soc
        limits[soc] = battery.max_charge_current_a()
    assert limits[20] > limits[50] > limits[80] > limits[90] > limits[99]
    assert limits[90] < 0.5 * limits[20]
    battery.soc_pct = 100.0
    assert battery.max_charge_current_a() == 0.0


def test_constant_voltage_phase_keeps_pack_below_its_maximum() -> None:
    battery = nmc(soc_pct=97, charge_power_kw=[(0, 500), (100, 500)], max_charge_current_a=1000.0)
    current = battery.max_charge_current_a()
    assert battery.terminal_voltage_v(current) <= battery.max_voltage_v


@pytest.mark.parametrize(("temperature_c", "factor_below"), [(0.0, 0.3), (52.0, 0.7), (60.0, 0.01)])
def test_temperature_derates_current(temperature_c: float, factor_below: float) -> None:
    battery = nmc(soc_pct=30)
    nominal = battery.max_charge_current_a()
    battery.temperature_c = temperature_c
    assert battery.max_charge_current_a() <= nominal * factor_below


def test_charging_raises_soc_by_coulomb_count_and_heats() -> None:
    battery = nmc(soc_pct=20)
    for _ in range(600):
        battery.step(214.8, 1.0)  # 214.8 A for 10 min = 35.8 Ah = 16.67 % of 214.8 Ah
    assert battery.soc_pct == pytest.approx(20 + 100 / 6, abs=0.01)
    assert battery.temperature_c > 26.0
    assert battery.energy_in_wh > 0


def test_idle_pack_cools_to_ambient() -> None:
    battery = nmc(temperature_c=40.0)
    for _ in range(200):
        battery.step(0.0, 60.0)
    assert battery.temperature_c == pytest.approx(25.0, abs=0.5)


@pytest.mark.parametrize("name", sorted(builtin_profiles()))
def test_profiles_charge_10_to_80_in_realistic_time(name: str) -> None:
    battery = make_battery(load_profile(name), soc_pct=10)
    seconds = 0
    while battery.soc_pct < 80 and seconds < 4 * 3600:
        current = battery.max_charge_current_a()
        battery.step(current, 5.0)
        seconds += 5
    # every shipped car does 10→80 % on an unlimited charger in 10–60 minutes
    assert 10 * 60 <= seconds <= 60 * 60
