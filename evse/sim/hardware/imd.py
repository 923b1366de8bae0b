"""Simulated insulation monitor (IMD): ~1 Hz samples that settle towards the true insulation resistance,
a self-test that takes its time, and injectable degradation, silence and device faults.

What the IMD sees depends on the contactors: the charger's own circuit always; the cable and the vehicle inlet
only while the output contactors are closed; the vehicle's HV system only when its contactors are closed too.
Readings converge towards the true value on a log scale (the IMD's measuring pulses charge the Y capacitances),
so a fault shows fully after a few samples — a test that trusts its first sample is the bug this catches.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from evse.hardware.roles import InsulationSample, Listener
from evse.sim.hardware.listeners import Listeners
from evse.sim.settings import SimImdSettings

if TYPE_CHECKING:
    from evse.sim.plant import ConnectorPlant

LOCATIONS = ("charger", "cable", "vehicle")


@dataclass(frozen=True, slots=True)
class InsulationFault:
    """A degraded insulation: `resistance_ohm` from one pole ("pos", "neg") or both to PE, at a location."""

    resistance_ohm: float
    pole: str = "pos"
    location: str = "cable"


def _parallel(a: float, b: float) -> float:
    return a * b / (a + b)


class SimInsulationMonitor:
    """`InsulationMonitor` of one simulated connector."""

    def __init__(self, plant: ConnectorPlant, settings: SimImdSettings) -> None:
        self._plant = plant
        self.settings = settings
        self.listeners = Listeners()
        self.measuring = False
        self.faults: dict[str, InsulationFault] = {}
        self.silent = False
        self.device_fault = False
        self.self_test_fails = False
        self._latest: InsulationSample | None = None
        self._self_test: bool | None = None
        self._sample_handle: asyncio.TimerHandle | None = None
        self._self_test_handle: asyncio.TimerHandle | None = None
        self._reading_pos_ohm = settings.open_reading_ohm
        self._reading_neg_ohm = settings.open_reading_ohm
        self.samples_sent = 0

    # ---- InsulationMonitor
    def start(self) -> None:
        if self.measuring:
            return
        self.measuring = True
        # a new measurement starts from the top of the range and settles down
        self._reading_pos_ohm = self._reading_neg_ohm = self.settings.open_reading_ohm
        self._plant.ensure_running()
        self._sample_handle = asyncio.get_running_loop().call_later(self.settings.sample_period_s, self._sample)

    def stop(self) -> None:
        self.measuring = False
        if self._sample_handle is not None:
            self._sample_handle.cancel()
            self._sample_handle = None

    def start_self_test(self) -> None:
        self._self_test = None
        if self._self_test_handle is not None:
            self._self_test_handle.cancel()
        loop = asyncio.get_running_loop()
        self._self_test_handle = loop.call_later(self.settings.self_test_duration_s, self._self_test_done)

    def self_test_result(self) -> bool | None:
        return self._self_test

    def latest(self) -> InsulationSample | None:
        return self._latest

    def add_listener(self, listener: Listener) -> None:
        self.listeners.add(listener)

    # ---- fault injection
    def degrade(self, resistance_ohm: float, pole: str = "pos", location: str = "cable") -> None:
        if pole not in ("pos", "neg", "both"):
            raise ValueError(f"insulation pole {pole!r}: use pos, neg or both")
        if location not in LOCATIONS:
            raise ValueError(f"insulation fault location {location!r}: use one of {', '.join(LOCATIONS)}")
        if resistance_ohm <= 0:
            raise ValueError("insulation resistance must be > 0 Ω")
        self.faults[location] = InsulationFault(resistance_ohm, pole, location)

    def restore(self, location: str | None = None) -> None:
        if location is None:
            self.faults.clear()
        else:
            self.faults.pop(location, None)

    # ---- physics
    def true_resistance_ohm(self) -> tuple[float, float]:
        """(DC+ to PE, DC− to PE) as the IMD would see them settled, given the contactor states now."""
        healthy = self.settings.healthy_resistance_ohm
        pos = neg = healthy
        plant = self._plant
        cable_seen = plant.contactors.closed
        vehicle_seen = cable_seen and plant.vehicle is not None and plant.vehicle.contactors_closed
        if vehicle_seen:  # the vehicle's HV system has its own (healthy) insulation in parallel
            pos, neg = _parallel(pos, healthy), _parallel(neg, healthy)
        for fault in self.faults.values():
            seen = (
                fault.location == "charger"
                or (fault.location == "cable" and cable_seen)
                or (fault.location == "vehicle" and vehicle_seen)
            )
            if not seen:
                continue
            if fault.pole in ("pos", "both"):
                pos = _parallel(pos, fault.resistance_ohm)
            if fault.pole in ("neg", "both"):
                neg = _parallel(neg, fault.resistance_ohm)
        return pos, neg

    def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        s = self.settings
        self._sample_handle = loop.call_later(s.sample_period_s, self._sample)
        true_pos, true_neg = self.true_resistance_ohm()
        settle = math.exp(-s.sample_period_s / s.settling_time_constant_s)
        self._reading_pos_ohm = math.exp(
            math.log(true_pos) + (math.log(self._reading_pos_ohm) - math.log(true_pos)) * settle
        )
        self._reading_neg_ohm = math.exp(
            math.log(true_neg) + (math.log(self._reading_neg_ohm) - math.log(true_neg)) * settle
        )
        if self.silent:
            return
        rng = self._plant.rng
        pos = self._reading_pos_ohm * (1.0 + rng.gauss(0.0, s.noise_fraction))
        neg = self._reading_neg_ohm * (1.0 + rng.gauss(0.0, s.noise_fraction))
        output_v = self._plant.output_voltage_v
        # the insulation resistances divide the output voltage: DC+ sits at U·R+/(R+ + R−) above PE
        to_earth_v = output_v * true_pos / (true_pos + true_neg)
        self._latest = InsulationSample(
            t_s=loop.time(),
            resistance_ohm=min(pos, neg),
            voltage_to_earth_v=to_earth_v,
            resistance_pos_ohm=pos,
            resistance_neg_ohm=neg,
            device_fault=self.device_fault,
        )
        self.samples_sent += 1
        self.listeners.notify()

    def _self_test_done(self) -> None:
        self._self_test_handle = None
        self._self_test = not (self.self_test_fails or self.device_fault)
