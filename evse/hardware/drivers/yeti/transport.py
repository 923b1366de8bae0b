"""Byte transports for the board link: a serial port (pyserial, read through the event loop) and an in-process
pipe (the emulated board of a simulation, delivered by the loop: no threads, no kernel, virtual time works).

Both call `receiver(chunk)` from the loop for every chunk that arrives; `write()` never blocks the caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import serial

Receiver = Callable[[bytes], None]


class SerialTransport:
    def __init__(self, port: str, baudrate: int) -> None:
        """Opens the port 8N1; raises `serial.SerialException` when it cannot be opened."""
        self._serial = serial.Serial(port, baudrate, timeout=0, write_timeout=0)
        self._receiver: Receiver = lambda _chunk: None
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._serial.fileno(), self._readable)
        self.closed = False

    def set_receiver(self, receiver: Receiver) -> None:
        self._receiver = receiver

    def write(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self._serial.write(data)
        except serial.SerialException:
            pass  # a write that cannot go out is a silent board for the supervision: the keep-alive rule sees it

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._loop.remove_reader(self._serial.fileno())
            self._serial.close()

    def _readable(self) -> None:
        try:
            chunk = self._serial.read(4096)
        except serial.SerialException:
            return
        if chunk:
            self._receiver(chunk)


class PipeEnd:
    """One end of an in-process byte pipe; `write()` hands the bytes to the other end on the next loop cycle."""

    def __init__(self) -> None:
        self.peer: PipeEnd | None = None
        self._receiver: Receiver = lambda _chunk: None
        self._loop = asyncio.get_running_loop()
        self.closed = False

    def set_receiver(self, receiver: Receiver) -> None:
        self._receiver = receiver

    def write(self, data: bytes) -> None:
        if self.closed or self.peer is None or self.peer.closed:
            return
        self._loop.call_soon(self.peer._deliver, bytes(data))

    def close(self) -> None:
        self.closed = True

    def _deliver(self, data: bytes) -> None:
        if not self.closed:
            self._receiver(data)


def pipe() -> tuple[PipeEnd, PipeEnd]:
    a, b = PipeEnd(), PipeEnd()
    a.peer, b.peer = b, a
    return a, b
