"""Simulated hardware and vehicles: configuration values (declared per `evse.config.meta`).

`SimSettings` holds the station-wide values of the simulated world; the nested per-driver structs are the
defaults of each simulated driver. A connector's hardware configuration may override any of them per driver,
e.g. `[connectors.hardware.power] driver = "sim"` with `max_current_a = 200`.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from evse.config.meta import Settings, setting


class SimPowerSettings(Settings, frozen=True):
    """Simulated DC power module of one connector."""

    max_voltage_v: Annotated[float, setting("Highest output voltage of the simulated power module", "V", gt=0)] = 1000.0
    min_voltage_v: Annotated[float, setting("Lowest regulated output voltage", "V", ge=0)] = 150.0
    max_current_a: Annotated[float, setting("Highest output current", "A", gt=0)] = 500.0
    min_current_a: Annotated[float, setting("Lowest regulated output current", "A", ge=0)] = 0.0
    max_power_w: Annotated[float, setting("Highest output power", "W", gt=0)] = 350_000.0
    voltage_slew_v_per_s: Annotated[
        float, setting("How fast the output voltage follows its set-point (open output)", "V/s", gt=0)
    ] = 2000.0
    current_slew_a_per_s: Annotated[float, setting("How fast the output current follows its limit", "A/s", gt=0)] = (
        500.0
    )
    discharge_time_constant_s: Annotated[
        float, setting("Time constant of the output bleed circuit when discharging", "s", gt=0)
    ] = 0.1
    self_discharge_time_constant_s: Annotated[
        float, setting("Time constant of the output voltage decay with the module off and no bleed", "s", gt=0)
    ] = 5.0
    cable_resistance_ohm: Annotated[float, setting("Resistance of cable and contacts (both poles)", "Ω", ge=0)] = 0.01
    measurement_noise_v: Annotated[float, setting("Standard deviation of the voltage reading", "V", ge=0)] = 0.2
    measurement_noise_a: Annotated[float, setting("Standard deviation of the current reading", "A", ge=0)] = 0.1


class SimContactorSettings(Settings, frozen=True):
    """Simulated output contactors (DC+ / DC−, GB/T K1/K2) with mirror contacts."""

    close_delay_s: Annotated[float, setting("From close command to mirror contacts reporting closed", "s", ge=0)] = 0.03
    open_delay_s: Annotated[float, setting("From open command to mirror contacts reporting open", "s", ge=0)] = 0.02


class SimImdSettings(Settings, frozen=True):
    """Simulated insulation monitor."""

    sample_period_s: Annotated[float, setting("Period of insulation samples while measuring", "s", gt=0)] = 1.0
    settling_time_constant_s: Annotated[
        float, setting("Time constant with which readings converge to the true resistance", "s", gt=0)
    ] = 1.5
    self_test_duration_s: Annotated[float, setting("Duration of the IMD self-test", "s", ge=0)] = 20.0
    healthy_resistance_ohm: Annotated[
        float, setting("Insulation resistance of a healthy system (each pole to PE)", "Ω", gt=0)
    ] = 10_000_000.0
    open_reading_ohm: Annotated[
        float, setting("Reading with nothing to measure (the IMD's upper range end)", "Ω", gt=0)
    ] = 50_000_000.0
    noise_fraction: Annotated[float, setting("Relative standard deviation of resistance readings", "", ge=0)] = 0.02


class SimLockSettings(Settings, frozen=True):
    """Simulated connector lock."""

    feedback_delay_s: Annotated[float, setting("From lock or unlock command to the feedback changing", "s", ge=0)] = 0.3


class SimSignalSettings(Settings, frozen=True):
    """Simulated control pilot, proximity and CHAdeMO / GB/T signal lines."""

    cp_noise_v: Annotated[float, setting("Standard deviation of CP and CC1 voltage readings", "V", ge=0)] = 0.05
    cp_window_v: Annotated[
        float, setting("Half width of the CP state decision windows around 12/9/6/3/0 V", "V", gt=0)
    ] = 1.0
    proximity_ohm: Annotated[float, setting("PP–PE resistance of the plugged DC connector", "Ω", gt=0)] = 1500.0
    cc1_unplugged_v: Annotated[
        float, setting("GB/T CC1 voltage with the gun in its holster (released, not inserted)", "V")
    ] = 6.0


class SimThermalSettings(Settings, frozen=True):
    """Simulated connector/cable temperatures."""

    ambient_c: Annotated[float, setting("Ambient temperature of the simulated station", "°C")] = 25.0
    rise_k_per_a2: Annotated[
        float, setting("Steady-state temperature rise of the connector pins per A² of current", "K/A²", ge=0)
    ] = 0.0004
    time_constant_s: Annotated[float, setting("Thermal time constant of connector and cable", "s", gt=0)] = 300.0
    sample_period_s: Annotated[float, setting("Period of temperature readings", "s", gt=0)] = 1.0


class SimSettings(Settings, frozen=True):
    """Simulated hardware and vehicles."""

    seed: Annotated[int, setting("Seed of every random choice in the simulation (noise, jitter)", "")] = 0
    tick_s: Annotated[float, setting("Step of the physical simulation while power flows", "s", gt=0)] = 0.1
    idle_tick_s: Annotated[
        float, setting("Step of the physical simulation while the power path is idle", "s", gt=0)
    ] = 1.0
    vehicle_contactor_delay_s: Annotated[
        float, setting("From a vehicle's contactor command to its contactors moving", "s", ge=0)
    ] = 0.05
    hil_battery_voltage_v: Annotated[
        float,
        setting(
            "Hardware in the loop: battery voltage the simulated power path presents when the vehicle is external",
            "V",
            ge=0,
        ),
    ] = 380.0
    power: SimPowerSettings = msgspec.field(default_factory=SimPowerSettings)
    contactors: SimContactorSettings = msgspec.field(default_factory=SimContactorSettings)
    imd: SimImdSettings = msgspec.field(default_factory=SimImdSettings)
    lock: SimLockSettings = msgspec.field(default_factory=SimLockSettings)
    signals: SimSignalSettings = msgspec.field(default_factory=SimSignalSettings)
    thermal: SimThermalSettings = msgspec.field(default_factory=SimThermalSettings)
