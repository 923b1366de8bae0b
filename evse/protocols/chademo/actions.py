"""What the CHAdeMO core asks its I/O layer to do (the core's outputs) and the measurements it is fed.

The core never performs I/O: it returns these values, the adapter carries them out through the session's stage
API and feeds the results back (`ChademoCore.done(op)`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from evse.can.channel import CanFrame
from evse.session.context import VehicleLimits
from evse.session.errors import SessionEnd
from evse.session.stages import Stage


class Op(StrEnum):
    """Power-path operations that take time; each one's completion is fed back with `ChademoCore.done(op)`."""

    LOCK = "lock"
    INSULATION_TEST = "insulation_test"
    CLOSE_CONTACTORS = "close_contactors"
    RAMP_DOWN = "ramp_down"
    OPEN_CONTACTORS = "open_contactors"
    DISCHARGE = "discharge"
    UNLOCK = "unlock"


@dataclass(frozen=True, slots=True)
class Send:
    frame: CanFrame


@dataclass(frozen=True, slots=True)
class SetLine:
    line: str  # "d1" | "d2"
    on: bool


@dataclass(frozen=True, slots=True)
class Do:
    op: Op
    #: INSULATION_TEST: the test voltage
    voltage_v: float = 0.0


@dataclass(frozen=True, slots=True)
class Request:
    """The vehicle's present request, already clamped to what the charger advertised in 0x108."""

    voltage_v: float
    current_a: float


@dataclass(frozen=True, slots=True)
class SetLimits:
    limits: VehicleLimits


@dataclass(frozen=True, slots=True)
class Identify:
    protocol_version: str
    identity: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StageDone:
    stage: Stage


@dataclass(frozen=True, slots=True)
class End:
    """The session must end: the adapter raises `error` out of the running (or next) stage step."""

    error: SessionEnd


@dataclass(frozen=True, slots=True)
class Note:
    """Something an operator should see in the log (a tolerated vehicle quirk, a clamped request)."""

    text: str


@dataclass(frozen=True, slots=True)
class Pause:
    """The vehicle paused (request 0 A while charging) or resumed."""

    paused: bool


Action = Send | SetLine | Do | Request | Pause | SetLimits | Identify | StageDone | End | Note


@dataclass(frozen=True, slots=True)
class Measurements:
    """The charger's own measurements, fed with every input."""

    output_voltage_v: float = 0.0
    #: vehicle side of the charger's contactors (the inlet)
    inlet_voltage_v: float = 0.0
    output_current_a: float = 0.0
