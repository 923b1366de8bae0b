"""What the CHAdeMO core asks its I/O layer to do (the core's outputs) and the measurements it is fed.

The core never performs I/O: it returns these values, the adapter carries them out through the session's stage
API and feeds the results back (`ChademoCore.done(op)`).
The vocabulary shared with the other CAN core lives in `evse.protocols.actions` (re-exported here); this module
adds what only this standard needs.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    "Pause",
    "Request",
    "Send",
    "SetLimits",
    "SetLine",
    "StageDone",
]


@dataclass(frozen=True, slots=True)
class Send:
    frame: CanFrame


Action = Send | SetLine | Do | Request | Pause | SetLimits | Identify | StageDone | End | Note
