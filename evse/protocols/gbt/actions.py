"""What the GB/T core asks its I/O layer to do, and what it is told about the charger's measurements.

The core never performs I/O: every input returns an `Output` (CAN frames to send now and `Action`s); the adapter
carries the actions out through the session's stage API and feeds completions back (`GbtCore.done(op, …)`).
The vocabulary shared with the other CAN core lives in `evse.protocols.actions` (re-exported here); this module
adds what only this standard needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evse.can.channel import CanFrame
from evse.protocols.actions import (
    Do,
    End,
    Identify,
    Measurements,
    Note,
    Op,
    Pause,
    Request,
    SetLimits,
    SetLine,
    StageDone,
)

__all__ = [
    "Action",
    "Do",
    "End",
    "Identify",
    "Measurements",
    "Note",
    "Op",
    "Output",
    "Pause",
    "Request",
    "SetLimits",
    "SetLine",
    "StageDone",
    "VehicleUpdate",
]


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


Action = SetLine | Do | Request | Pause | SetLimits | Identify | VehicleUpdate | StageDone | End | Note


@dataclass(slots=True)
class Output:
    frames: list[CanFrame] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)

    def extend(self, other: Output) -> None:
        self.frames.extend(other.frames)
        self.actions.extend(other.actions)
