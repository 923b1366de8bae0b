"""The allowed operating envelope of one connector, and which limit binds.

envelope = charger limits ∩ cable limits (temperature derating) ∩ vehicle limits ∩ CSMS limit ∩ station budget share

Each source is kept separately so that the binding one can be named: an operator reading "limit 80 A
(cable_temperature)" knows where to look. The envelope is a plain object (no I/O, no time): the connector owns one
for its lifetime; the station writes the CSMS limit and the budget share, the supervisor writes the cable
temperature, the session writes the vehicle's declared limits; the power path reads it before every set-point.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from evse.session.context import VehicleLimits

#: limit sources, as they appear in `LimitChanged.source` and `MeterSample.limit_source`
CHARGER = "charger"
CABLE = "cable"
CABLE_TEMPERATURE = "cable_temperature"
VEHICLE = "vehicle"
CSMS = "csms"
STATION_BUDGET = "station_budget"
STATION_PAUSE = "station_pause"

#: below this voltage a power limit does not constrain the current (P / U is meaningless near 0 V)
_POWER_LIMIT_MIN_VOLTAGE_V = 1.0


@dataclass(frozen=True, slots=True)
class ChargerLimits:
    """What the connector's power path may deliver (configuration ∩ power module capabilities)."""

    max_voltage_v: float
    min_voltage_v: float
    max_current_a: float
    min_current_a: float
    max_power_w: float


@dataclass(frozen=True, slots=True)
class CableLimits:
    """The cable's rated current and its temperature derating (linear from start to zero at end)."""

    max_current_a: float
    derating_start_c: float = 60.0
    derating_end_c: float = 90.0

    def derated_current_a(self, temperature_c: float | None) -> float:
        if temperature_c is None or temperature_c <= self.derating_start_c:
            return self.max_current_a
        if temperature_c >= self.derating_end_c or self.derating_end_c <= self.derating_start_c:
            return 0.0
        fraction = (self.derating_end_c - temperature_c) / (self.derating_end_c - self.derating_start_c)
        return self.max_current_a * fraction


@dataclass(frozen=True, slots=True)
class Limits:
    """The envelope at one instant."""

    max_voltage_v: float
    voltage_source: str
    max_current_a: float
    current_source: str
    #: (power limit, source) pairs; the current limit at a voltage is min(max_current_a, P / U)
    power_limits_w: tuple[tuple[float, str], ...]

    def current_at(self, voltage_v: float) -> tuple[float, str]:
        """The current limit at output voltage `voltage_v` and the source that binds."""
        current, source = self.max_current_a, self.current_source
        if voltage_v >= _POWER_LIMIT_MIN_VOLTAGE_V:
            for power_w, power_source in self.power_limits_w:
                by_power = power_w / voltage_v
                if by_power < current:
                    current, source = by_power, power_source
        return max(0.0, current), source

    @property
    def max_power_w(self) -> float | None:
        return min((p for p, _ in self.power_limits_w), default=None)


class Envelope:
    """Limits of one connector from every source; `limits()` is their intersection."""

    def __init__(self, charger: ChargerLimits, cable: CableLimits) -> None:
        self.charger = charger
        self.cable = cable
        self.vehicle: VehicleLimits | None = None
        self.cable_temperature_c: float | None = None
        self.csms_current_a: float | None = None
        self.csms_power_w: float | None = None
        self.station_share_w: float | None = None
        self.station_paused = False
        self._listeners: list[Callable[[], None]] = []
        self._limits: Limits | None = None

    # ---- writers
    def add_listener(self, listener: Callable[[], None]) -> None:
        """Called synchronously after any source changes (the power path re-applies at once)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def set_vehicle(self, limits: VehicleLimits | None) -> None:
        self.vehicle = limits
        self._changed()

    def set_cable_temperature_c(self, temperature_c: float | None) -> None:
        if temperature_c != self.cable_temperature_c:
            self.cable_temperature_c = temperature_c
            self._changed()

    def set_csms(self, current_a: float | None, power_w: float | None) -> None:
        self.csms_current_a, self.csms_power_w = current_a, power_w
        self._changed()

    def set_station_share_w(self, power_w: float | None) -> None:
        if power_w != self.station_share_w:
            self.station_share_w = power_w
            self._changed()

    def set_station_paused(self, paused: bool) -> None:
        """The station (operator, CSMS 0 A) suspends delivery: current limit 0 (SuspendedEVSE)."""
        self.station_paused = paused
        self._changed()

    def _changed(self) -> None:
        self._limits = None
        for listener in tuple(self._listeners):
            listener()

    # ---- reader
    def limits(self) -> Limits:
        if self._limits is None:
            self._limits = self._compute()
        return self._limits

    def offer(self) -> Limits:
        """The envelope without the vehicle's own limits (what the charger can offer this vehicle now)."""
        return self._compute(include_vehicle=False)

    def _compute(self, include_vehicle: bool = True) -> Limits:
        voltages: list[tuple[float, str]] = [(self.charger.max_voltage_v, CHARGER)]
        currents: list[tuple[float, str]] = [
            (self.charger.max_current_a, CHARGER),
            (self.cable.max_current_a, CABLE),
        ]
        derated = self.cable.derated_current_a(self.cable_temperature_c)
        if derated < self.cable.max_current_a:
            currents.append((derated, CABLE_TEMPERATURE))
        powers: list[tuple[float, str]] = [(self.charger.max_power_w, CHARGER)]
        if self.vehicle is not None and include_vehicle:
            voltages.append((self.vehicle.max_voltage_v, VEHICLE))
            currents.append((self.vehicle.max_current_a, VEHICLE))
            if self.vehicle.max_power_w is not None:
                powers.append((self.vehicle.max_power_w, VEHICLE))
        if self.csms_current_a is not None:
            currents.append((self.csms_current_a, CSMS))
        if self.csms_power_w is not None:
            powers.append((self.csms_power_w, CSMS))
        if self.station_share_w is not None:
            powers.append((self.station_share_w, STATION_BUDGET))
        if self.station_paused:
            currents.append((0.0, STATION_PAUSE))
        # ties keep the earlier (more fundamental) source: min() returns the first minimum
        voltage, voltage_source = min(voltages, key=lambda pair: pair[0])
        current, current_source = min(currents, key=lambda pair: pair[0])
        powers = [(max(0.0, p), s) for p, s in powers if not math.isinf(p)]
        return Limits(max(0.0, voltage), voltage_source, max(0.0, current), current_source, tuple(powers))

    def current_limit_a(self, voltage_v: float) -> tuple[float, str]:
        return self.limits().current_at(voltage_v)
