"""What a sans-I/O protocol core asks its adapter to do, and the measurements it is fed — the vocabulary the CAN
cores (CHAdeMO, GB/T) share.

A core never performs I/O: it returns these values, and its adapter carries them out through the session's stage
API (`evse.session.context.StageContext`, via `evse.protocols.executor`). Operations that take time are `Do(op)`;
their completion is fed back to the core (`core.done(op, …)`). Anything only one standard needs stays in that
protocol's `actions` module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from evse.session.context import VehicleLimits
from evse.session.errors import SessionEnd
from evse.session.stages import Stage


@dataclass(frozen=True, slots=True)
class SetLine:
    """Switch an auxiliary output line (CHAdeMO "d1"/"d2", GB/T "aux_12v"/"aux_24v")."""

    line: str
    on: bool


@dataclass(frozen=True, slots=True)
class Request:
    """The vehicle's present request, already clamped to what the charger advertised (CHAdeMO 0x108, GB/T CML)."""

    voltage_v: float
    current_a: float


@dataclass(frozen=True, slots=True)
class Pause:
    """The vehicle paused (CHAdeMO request 0 A, GB/T BSM permit 00: hold the output at 0 A) or resumed."""

    paused: bool


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
    """Something an operator should see in the log (a tolerated vehicle quirk, a clamped request, a timeout in the
    stop phase)."""

    text: str


@dataclass(frozen=True, slots=True)
class Measurements:
    """The charger's own measurements, fed with every input."""

    output_voltage_v: float = 0.0
    #: vehicle side of the charger's contactors (the inlet; GB/T: of K1/K2)
    inlet_voltage_v: float = 0.0
    output_current_a: float = 0.0


class Op(StrEnum):
    """Power-path operations that take time (each is one call of the stage API); a core asks for the ones its
    standard needs (CHAdeMO has no pre-charge, GB/T ramps down inside opening the contactors)."""

    LOCK = "lock"
    INSULATION_TEST = "insulation_test"
    PRECHARGE = "precharge"
    CLOSE_CONTACTORS = "close_contactors"
    RAMP_DOWN = "ramp_down"
    OPEN_CONTACTORS = "open_contactors"
    DISCHARGE = "discharge"
    UNLOCK = "unlock"


@dataclass(frozen=True, slots=True)
class Do:
    op: Op
    #: INSULATION_TEST: test voltage; PRECHARGE: target voltage
    voltage_v: float = 0.0
    #: PRECHARGE: |ΔU| at which the output counts as matched
    tolerance_v: float = 0.0
    #: PRECHARGE: current limit
    current_a: float = 0.0
