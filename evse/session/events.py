"""Events that flow *up* from sessions and the station to OCPP, the local API and the session store.

Rules: events are immutable facts, stamped with event-loop time `t_s` (never the wall clock: the consumer that
needs a calendar time — OCPP, the store — converts once via `evse.clock.wall_time`). Publishing is synchronous
and cheap (a list of callbacks): a consumer that needs to do I/O puts the event on its own queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from evse.session.stages import Outcome, Stage


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    connector_id: int
    session_id: str | None
    t_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStarted(Event):
    standard: str  # "ccs" | "chademo" | "gbt"


@dataclass(frozen=True, slots=True, kw_only=True)
class StageChanged(Event):
    stage: Stage
    previous: Stage


@dataclass(frozen=True, slots=True, kw_only=True)
class VehicleIdentified(Event):
    """Who the vehicle is, as far as its protocol tells: GB/T VIN, CCS EVCCID/MAC, CHAdeMO signature."""

    protocol_version: str
    identity: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitsNegotiated(Event):
    """The vehicle's declared limits and the charger's offer after negotiation."""

    vehicle_max_voltage_v: float
    vehicle_max_current_a: float
    vehicle_max_power_w: float | None
    charger_max_voltage_v: float
    charger_max_current_a: float
    target_voltage_v: float | None = None
    soc_pct: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitChanged(Event):
    """The limit in force changed, and who set it (vehicle, charger, cable_temperature, csms, station_budget)."""

    current_limit_a: float
    power_limit_w: float | None
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterSample(Event):
    voltage_v: float
    current_a: float
    power_w: float
    energy_wh: float
    soc_pct: float | None = None
    requested_current_a: float | None = None
    offered_current_a: float | None = None
    limit_source: str | None = None
    temperatures_c: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class InsulationMeasured(Event):
    resistance_ohm: float
    test_voltage_v: float
    passed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class PilotQuality(Event):
    """Signal quality of the pilot/connection line measured at plug-in (CP high level, PP, GB/T CC1 …)."""

    line: str
    voltage_v: float
    nominal_v: float


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultRaised(Event):
    code: str  # a evse.safety fault code, e.g. "over_voltage", "insulation", "contactor_welded"
    detail: str
    tripped: bool  # True when the supervisor cut power


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceRecord(Event):
    """One vehicle-link message for the handshake trace: a CAN frame (candump line) or a decoded V2G message."""

    direction: str  # "rx" (from vehicle) | "tx" (to vehicle)
    kind: str  # "can" | "v2g"
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionEnded(Event):
    outcome: Outcome
    stage_durations_s: dict[Stage, float]
    energy_wh: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectorStatusChanged(Event):
    """Operator-facing availability (the OCPP 1.6 ChargePointStatus names)."""

    status: str
    error_code: str = "NoError"
    info: str = ""


Subscriber = Callable[[Event], None]


class EventBus:
    """Synchronous fan-out. A subscriber must not block; exceptions in one subscriber never reach the
    publisher (a broken consumer must not stop a session) but are counted and logged."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self.errors = 0

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def publish(self, event: Event) -> None:
        for subscriber in tuple(self._subscribers):
            try:
                subscriber(event)
            except Exception:  # isolation of consumers is the point
                self.errors += 1
                import structlog

                structlog.get_logger("evse.events").exception("event subscriber failed", event=type(event).__name__)

    def queue(self, maxsize: int = 0) -> asyncio.Queue[Event]:
        """A queue fed with every event from now on, for a consumer that does I/O."""
        q: asyncio.Queue[Event] = asyncio.Queue(maxsize)

        def put(event: Event) -> None:
            try:
                q.put_nowait(event)
            except asyncio.QueueFull:
                self.errors += 1

        self.subscribe(put)
        return q
