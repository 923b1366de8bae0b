"""What the GB/T core asks its I/O layer to do, and what it is told about the charger's measurements.

The core never performs I/O: every input returns an `Output` (CAN frames to send now and `Action`s); the adapter
carries the actions out through the session's stage API and feeds completions back (`GbtCore.done(op, …)`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from evse.can.channel import CanFrame
from evse.session.context import VehicleLimits
from evse.session.errors import SessionEnd
from evse.session.stages import Stage


class Op(StrEnum):
    """Power-path operations that take time; each one's completion is fed back with `GbtCore.done(op)`."""

    LOCK = "lock"
    INSULATION_TEST = "insulation_test"
    PRECHARGE = "precharge"
    CLOSE_CONTACTORS = "close_contactors"
    OPEN_CONTACTORS = "open_contactors"
    DISCHARGE = "discharge"
    UNLOCK = "unlock"


@dataclass(frozen=True, slots=True)
class SetLine:
    line: str  # "aux_12v" | "aux_24v"
    on: bool


@dataclass(frozen=True, slots=True)
class Do:
    op: Op
    #: INSULATION_TEST: test voltage; PRECHARGE: target voltage
    voltage_v: float = 0.0
    #: PRECHARGE: |ΔU| at which the output counts as matched
    tolerance_v: float = 0.0
    #: PRECHARGE: current limit
    current_a: float = 0.0


@dataclass(frozen=True, slots=True)
class Request:
    """The BMS's present demand (BCL), already clamped to what the charger advertised in CML."""

    voltage_v: float
    current_a: float


@dataclass(frozen=True, slots=True)
class Pause:
    """BSM charge permit: 00 forbid → hold the output at 0 A, 01 allow → resume."""

    paused: bool


@dataclass(frozen=True, slots=True)
class SetLimits:
    limits: VehicleLimits


@dataclass(frozen=True, slots=True)
class Identify:
    protocol_version: str
    identity: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VehicleUpdate:
    """Fields of the session's `VehicleStatus` to set (None values are left as they are); `extra` is merged."""

    soc_pct: float | None = None
    requested_voltage_v: float | None = None
    requested_current_a: float | None = None
    battery_voltage_v: float | None = None
    remaining_time_s: float | None = None
    temperatures_c: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StageDone:
    stage: Stage


@dataclass(frozen=True, slots=True)
class End:
    """The session must end: the adapter raises `error` out of the running (or next) stage step."""

    error: SessionEnd


@dataclass(frozen=True, slots=True)
class Note:
    """Something an operator should see in the log (a tolerated BMS quirk, a timeout in the stop phase)."""

    text: str


Action = SetLine | Do | Request | Pause | SetLimits | Identify | VehicleUpdate | StageDone | End | Note


@dataclass(slots=True)
class Output:
    frames: list[CanFrame] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)

    def extend(self, other: Output) -> None:
        self.frames.extend(other.frames)
        self.actions.extend(other.actions)


@dataclass(frozen=True, slots=True)
class Measurements:
    """The charger's own measurements, fed before every input."""

    output_voltage_v: float = 0.0
    #: vehicle side of K1/K2 (the inlet)
    inlet_voltage_v: float = 0.0
    output_current_a: float = 0.0
