"""The session's stage API: everything a protocol adapter may ask of the charger during a session.

Each power-path method enforces the safety rules itself (they are not the adapter's to remember):
* `close_contactors()` refuses (raises `StageFailure(SAFETY_TRIP)`) unless the insulation test passed in this
  session **and** pre-charge matched the voltage within tolerance — or the plan has no pre-charge and the output
  is below `no_precharge_max_voltage_v` (CHAdeMO: the vehicle expects ~0 V).
* `request()` never lets the power module leave the safety envelope (charger ∩ cable ∩ vehicle ∩ CSMS ∩ station
  budget) and ramps set-point changes at the configured A/s.
* `open_contactors()` in a normal stop first ramps the current to ≤ the configured threshold (5 A).
* `unlock_connector()` only unlocks once the output is below 60 V.
Methods that wait (`lock_connector`, `insulation_test`, `precharge`, …) use event-loop time only, and raise
`StageFailure` with a reason code (HARDWARE_FAULT, INSULATION_FAULT, PRECHARGE_FAILED, TIMEOUT, …) and a
detail that is evidence an operator can act on.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from evse.session.stages import Reason, Stage

if TYPE_CHECKING:
    import structlog

    from evse.hardware.roles import ControlPilot, VehicleLines
    from evse.session.events import Event


@dataclass(frozen=True, slots=True)
class VehicleLimits:
    """What the vehicle declared. Unknown values stay None and do not constrain the envelope."""

    max_voltage_v: float
    max_current_a: float
    max_power_w: float | None = None
    min_current_a: float | None = None
    target_voltage_v: float | None = None
    max_cell_voltage_v: float | None = None
    max_temperature_c: float | None = None


@dataclass(frozen=True, slots=True)
class ChargerOffer:
    """What the charger can offer this vehicle right now (the envelope without the vehicle's own limits)."""

    max_voltage_v: float
    min_voltage_v: float
    max_current_a: float
    min_current_a: float
    max_power_w: float


@dataclass(frozen=True, slots=True)
class InsulationResult:
    passed: bool
    resistance_ohm: float
    test_voltage_v: float
    #: "ok" (≥ 500 Ω/V), "warning" (100–500 Ω/V: charging may go on), "fault"
    level: str
    samples: int = 0


@dataclass(frozen=True, slots=True)
class Setpoint:
    """What the power module was actually commanded after the envelope and the ramp."""

    voltage_v: float
    current_a: float
    limit_source: str


@dataclass(slots=True)
class VehicleStatus:
    """The latest vehicle-reported values the adapter keeps current (for meter samples and the store)."""

    soc_pct: float | None = None
    requested_voltage_v: float | None = None
    requested_current_a: float | None = None
    battery_voltage_v: float | None = None
    temperatures_c: dict[str, float] = field(default_factory=dict)
    remaining_time_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class StageContext(Protocol):
    connector_id: int
    session_id: str
    standard: str
    log: structlog.stdlib.BoundLogger
    #: set when the station side asks to stop; `stop_reason` says why (USER_STOP, CSMS_STOP, SHUTDOWN, …)
    stop_requested: asyncio.Event
    stop_reason: Reason | None

    @property
    def tripped(self) -> bool:
        """True once the safety supervisor has tripped in this session (power off, contactors open): the adapter
        reports a charger fault to the vehicle (CHAdeMO 0x109 malfunction, CCS EVSE_EmergencyShutdown, GB/T CST)."""
        ...

    #: the latest vehicle values; the adapter updates it in place, the session samples it at 1 Hz
    vehicle: VehicleStatus
    #: signal-line roles the adapter drives directly (d1/d2, aux supply, CC1 / CP); None if absent
    lines: VehicleLines | None
    pilot: ControlPilot | None

    def now(self) -> float: ...
    def timeout_s(self, name: str) -> float:
        """A protocol timeout from the configuration by name (e.g. "gbt.bhm_timeout_s")."""
        ...

    # ---- information for the envelope, OCPP and the store
    def set_vehicle_limits(self, limits: VehicleLimits) -> None: ...
    def charger_offer(self) -> ChargerOffer: ...
    def identify(self, protocol_version: str, identity: dict[str, str]) -> None: ...
    def trace(self, direction: str, kind: str, text: str) -> None:
        """Record a vehicle-link message for the handshake trace (candump line or decoded V2G message)."""
        ...

    def publish(self, event: Event) -> None: ...
    def current_stage(self) -> Stage: ...
    def pause(self, paused: bool) -> None:
        """The vehicle paused/resumed charging (GB/T BSM permit, CCS/CHAdeMO request 0): output held at 0 A."""
        ...

    # ---- power path, safety-checked
    async def lock_connector(self) -> None: ...
    async def unlock_connector(self) -> None: ...
    def measured_voltage_v(self) -> float:
        """Output voltage on the charger side of the contactors."""
        ...

    def measured_current_a(self) -> float: ...
    def vehicle_side_voltage_v(self) -> float: ...
    async def insulation_test(self, test_voltage_v: float, keep_contactors_closed: bool = False) -> InsulationResult:
        """Output must be < 10 V first; close the output contactors, raise to the test voltage at ≤ 2 A, take IMD
        samples until settled, then bleed below 60 V (and open the contactors unless `keep_contactors_closed`,
        which CCS uses: PreCharge follows on closed contactors). Raises StageFailure(INSULATION_FAULT) on a
        fault-level reading."""
        ...

    async def precharge(self, target_voltage_v: float, tolerance_v: float, max_current_a: float = 2.0) -> float:
        """Drive the output to `target_voltage_v` with current ≤ `max_current_a` and wait until it is within
        `tolerance_v` of the target (or of the vehicle-side voltage if contactors are open and it is nonzero).
        Returns the matched voltage. Raises StageFailure(PRECHARGE_FAILED) on timeout."""
        ...

    async def close_contactors(self) -> None: ...
    def request(self, voltage_v: float, current_a: float) -> Setpoint:
        """The vehicle's present request; returns what is commanded after the envelope and the ramp."""
        ...

    def setpoint(self) -> Setpoint: ...
    async def ramp_down(self) -> None:
        """Ramp the current down to ≤ the stop threshold (5 A) at the configured ramp rate."""
        ...

    async def open_contactors(self) -> None:
        """Normal stop: ramp down first (unless already tripped), then open; checks mirror contacts (welding)."""
        ...

    async def discharge(self) -> None:
        """Power module off, discharge until the output is below 60 V."""
        ...
