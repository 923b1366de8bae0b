"""CAN channel role: the vehicle link of CHAdeMO and GB/T, and the power-module bus.

Two back ends share one interface:
* `InLoopBus` — the simulation's bus. Delivery is `loop.call_soon`, so no thread sits between vehicle and
  charger and a virtual-time loop stays deterministic (python-can's `virtual` bus delivers on a thread).
* `evse.can.pythoncan.PythonCanChannel` — any python-can interface (socketcan on hardware, `virtual` in
  hardware-in-the-loop tests and benchmarks).

A channel delivers received frames to one async consumer through `recv()` or to a synchronous callback set with
`set_receiver()` (lower latency: the protocol core reacts inside the delivery call).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class CanFrame:
    arbitration_id: int
    data: bytes
    is_extended_id: bool = False
    #: event-loop time of reception (rx) or sending (tx); 0.0 when not yet stamped
    timestamp_s: float = 0.0
    is_error_frame: bool = False

    def candump(self, channel: str = "can0") -> str:
        """This frame as one line of `candump -L` log format: `(ts) can0 1826F456#010100`."""
        ident = f"{self.arbitration_id:08X}" if self.is_extended_id else f"{self.arbitration_id:03X}"
        return f"({self.timestamp_s:.6f}) {channel} {ident}#{self.data.hex().upper()}"


Receiver = Callable[[CanFrame], None]


@runtime_checkable
class CanChannel(Protocol):
    name: str

    def send(self, frame: CanFrame) -> None:
        """Queue a frame for transmission; never blocks. Raises `CanError` when the bus is off."""
        ...

    async def recv(self) -> CanFrame: ...

    def set_receiver(self, receiver: Receiver | None) -> None:
        """Deliver received frames to `receiver` synchronously instead of through `recv()`."""
        ...

    def close(self) -> None: ...


class CanError(Exception):
    """The CAN channel cannot send (bus-off, interface down)."""


class InLoopBus:
    """A CAN bus inside one asyncio loop. Every attached endpoint sees the frames the others send."""

    def __init__(self, name: str = "sim") -> None:
        self.name = name
        self._endpoints: list[InLoopChannel] = []
        self.frames_sent = 0

    def attach(self, name: str = "") -> InLoopChannel:
        endpoint = InLoopChannel(self, name or f"{self.name}.{len(self._endpoints)}")
        self._endpoints.append(endpoint)
        return endpoint

    def _broadcast(self, sender: InLoopChannel, frame: CanFrame) -> None:
        self.frames_sent += 1
        for endpoint in self._endpoints:
            if endpoint is not sender and not endpoint.closed:
                endpoint._deliver(frame)

    def detach(self, endpoint: InLoopChannel) -> None:
        if endpoint in self._endpoints:
            self._endpoints.remove(endpoint)


class InLoopChannel:
    """One endpoint of an `InLoopBus`. Frames sent are stamped with loop time and delivered with call_soon."""

    def __init__(self, bus: InLoopBus, name: str) -> None:
        self.bus = bus
        self.name = name
        self.closed = False
        self._queue: asyncio.Queue[CanFrame] = asyncio.Queue()
        self._receiver: Receiver | None = None
        #: test/fault hook: when True, frames this endpoint sends are dropped (a silent ECU)
        self.mute = False

    def send(self, frame: CanFrame) -> None:
        if self.closed:
            raise CanError(f"CAN channel {self.name} is closed")
        if self.mute:
            return
        loop = asyncio.get_running_loop()
        stamped = CanFrame(frame.arbitration_id, frame.data, frame.is_extended_id, loop.time())
        loop.call_soon(self.bus._broadcast, self, stamped)

    def _deliver(self, frame: CanFrame) -> None:
        if self._receiver is not None:
            self._receiver(frame)
        else:
            self._queue.put_nowait(frame)

    async def recv(self) -> CanFrame:
        return await self._queue.get()

    def set_receiver(self, receiver: Receiver | None) -> None:
        self._receiver = receiver
        if receiver is not None:
            while not self._queue.empty():
                receiver(self._queue.get_nowait())

    def close(self) -> None:
        self.closed = True
        self.bus.detach(self)
