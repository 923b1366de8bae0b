"""Simulated energy meter, temperature sensors and emergency-stop button of one connector."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from evse.hardware.roles import Listener
from evse.sim.hardware.listeners import Listeners
from evse.sim.settings import SimThermalSettings

if TYPE_CHECKING:
    from evse.sim.plant import ConnectorPlant

SENSORS = ("dc_plus", "dc_minus", "cable")
#: the cable's mass heats more slowly and less than the pins: a fraction of the pins' rise
CABLE_RISE_FRACTION = 0.6


class SimEnergyMeter:
    """`EnergyMeter`: integrates V·I at the charger output every plant tick."""

    def __init__(self, plant: ConnectorPlant) -> None:
        self._plant = plant
        self.total_wh = 0.0

    def energy_wh(self) -> float:
        return self.total_wh

    def voltage_v(self) -> float:
        return self._plant.output_voltage_v

    def current_a(self) -> float:
        return self._plant.current_a

    def signed_value(self) -> str | None:
        return None

    def integrate(self, voltage_v: float, current_a: float, dt_s: float) -> None:
        self.total_wh += voltage_v * current_a * dt_s / 3600.0


class SimTemperatures:
    """`Temperatures`: pins and cable warm with I² towards a steady rise, first-order with a time constant."""

    def __init__(self, plant: ConnectorPlant, settings: SimThermalSettings) -> None:
        self._plant = plant
        self.settings = settings
        self.listeners = Listeners()
        self.true_c: dict[str, float] = dict.fromkeys(SENSORS, settings.ambient_c)
        #: injected offsets per sensor (a hot pin, a loose crimp)
        self.offsets_c: dict[str, float] = dict.fromkeys(SENSORS, 0.0)
        self._since_sample_s = 0.0

    def readings_c(self) -> dict[str, float]:
        return {name: round(t + self.offsets_c[name], 2) for name, t in self.true_c.items()}

    def add_listener(self, listener: Listener) -> None:
        self.listeners.add(listener)

    def settled(self) -> bool:
        ambient = self.settings.ambient_c
        return all(abs(t - ambient) < 0.2 for t in self.true_c.values())

    def step(self, current_a: float, dt_s: float) -> None:
        s = self.settings
        rise = s.rise_k_per_a2 * current_a * current_a
        alpha = 1.0 - math.exp(-dt_s / s.time_constant_s)
        for name, t in self.true_c.items():
            target = s.ambient_c + (rise * CABLE_RISE_FRACTION if name == "cable" else rise)
            self.true_c[name] = t + (target - t) * alpha
        self._since_sample_s += dt_s
        if self._since_sample_s >= s.sample_period_s:
            self._since_sample_s = 0.0
            self.listeners.notify()

    def set_offset(self, sensor: str, offset_c: float) -> None:
        if sensor not in self.offsets_c:
            raise ValueError(f"unknown temperature sensor {sensor!r}: use one of {', '.join(SENSORS)}")
        self.offsets_c[sensor] = offset_c
        self.listeners.notify_soon()


class SimEmergencyStop:
    """`EmergencyStop`: a latching mushroom button the simulation (or a test) presses and releases."""

    def __init__(self) -> None:
        self.listeners = Listeners()
        self.is_pressed = False

    def pressed(self) -> bool:
        return self.is_pressed

    def add_listener(self, listener: Listener) -> None:
        self.listeners.add(listener)

    def press(self, pressed: bool = True) -> None:
        if pressed != self.is_pressed:
            self.is_pressed = pressed
            self.listeners.notify_soon()
