"""One module bus shared by the groups of several connectors: one `CanChannel`, frames routed by source address.

The module bus is its own CAN interface (e.g. `can2`), separate from the vehicle buses: a babbling module cannot
delay a CHAdeMO/GB/T frame, and a vehicle-bus error cannot cut the rectifiers' control.
"""

from __future__ import annotations

from typing import Protocol

from evse.can.channel import CanChannel, CanFrame


class FrameSink(Protocol):
    def owns(self, frame: CanFrame) -> bool: ...
    def on_frame(self, frame: CanFrame) -> None: ...


class ModuleBus:
    """Fans the frames received on `channel` out to the groups that own them (synchronously, in the loop)."""

    def __init__(self, channel: CanChannel) -> None:
        self.channel = channel
        self._sinks: list[FrameSink] = []
        channel.set_receiver(self._dispatch)

    def attach(self, sink: FrameSink) -> None:
        self._sinks.append(sink)

    def _dispatch(self, frame: CanFrame) -> None:
        if not frame.is_extended_id:
            return  # InfyPower uses extended frames only; anything else on this bus is not ours
        for sink in self._sinks:
            if sink.owns(frame):
                sink.on_frame(frame)
