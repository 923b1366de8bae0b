"""`CanChannel` over any python-can interface: socketcan on hardware, `virtual` in benchmarks and HIL tests.

Receive path — why `can.Notifier(bus, [listener], loop=loop)`:
* python-can's Notifier, given the running loop, registers the bus's file descriptor with `loop.add_reader`
  when the interface has one (socketcan): frames are read inside the loop, with no thread and no extra copy.
* Interfaces without a descriptor (`virtual`, most USB adapters) get python-can's reader thread, which hands
  every frame to the loop with `call_soon_threadsafe`. Either way our listener runs *in the loop*, so the
  protocol core (set with `set_receiver`) reacts inside the delivery call and never needs a lock.
Writing our own `add_reader` would duplicate exactly that logic, so we do not.

Errors:
* Error frames are counted (`error_frames`), never delivered as data. A socketcan error frame whose class bits
  say bus-off marks the channel off: `send()` raises `CanError` until the controller reports a restart (or any
  regular frame arrives, which proves the controller is back on the bus).
* A failed write (socketcan ENOBUFS / ENETDOWN, interface gone) raises `CanError` naming the interface.
* A reader failure (the notifier thread died) is kept; `recv()` and `send()` then raise `CanError`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import can

from evse.can.channel import CanError, CanFrame, Receiver

#: linux/can/error.h: error class bits carried in the identifier of an error frame
CAN_ERR_BUSOFF = 0x00000040
CAN_ERR_RESTARTED = 0x00000100
#: how long python-can's reader thread blocks in `bus.recv()`; bounds `close()` for thread-read interfaces
READER_POLL_S = 0.05


class _Listener(can.Listener):
    """Runs in the event loop (Notifier with `loop=`); turns python-can messages into `CanFrame`s."""

    def __init__(self, channel: PythonCanChannel) -> None:
        self._channel = channel

    def on_message_received(self, msg: can.Message) -> None:
        self._channel._on_message(msg)

    def on_error(self, exc: Exception) -> None:
        self._channel._on_reader_error(exc)

    def stop(self) -> None:
        pass


class PythonCanChannel:
    """One python-can bus as a `CanChannel`. Construct inside the running loop (the notifier binds to it)."""

    def __init__(self, bus: can.BusABC, name: str = "", *, own_bus: bool = True) -> None:
        self.name = name or str(bus.channel_info)
        self._bus = bus
        self._own_bus = own_bus
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[CanFrame] = asyncio.Queue()
        self._receiver: Receiver | None = None
        self._failure: Exception | None = None
        self.closed = False
        #: error frames received since open
        self.error_frames = 0
        #: times the controller reported bus-off
        self.bus_off_events = 0
        self.bus_off = False
        self.frames_received = 0
        self.frames_sent = 0
        self.send_failures = 0
        self._notifier = can.Notifier(bus, [_Listener(self)], timeout=READER_POLL_S, loop=self._loop)

    @classmethod
    def open(cls, interface: str, channel: str, bitrate: int | None = None, **kwargs: Any) -> PythonCanChannel:
        """Open `interface`/`channel` (e.g. "socketcan"/"can0"). `bitrate` None or 0 leaves the interface's own
        setting (the caller passes the standard's rate when the configuration says 0). A missing interface ends
        in a `CanError` with one sentence that says what to check."""
        config: dict[str, Any] = {"interface": interface, "channel": channel, **kwargs}
        if bitrate and interface != "socketcan":
            # socketcan takes its bitrate from `ip link`, not from the socket
            config["bitrate"] = bitrate
        try:
            bus = can.Bus(**config)
        except (can.CanError, OSError, ValueError, ImportError) as exc:
            hint = (
                f"bring it up with `ip link set {channel} up type can bitrate {bitrate or 500000}`"
                if interface == "socketcan"
                else "check the interface name, the channel and that the adapter is connected"
            )
            raise CanError(f"CAN interface {interface}:{channel} cannot be opened ({exc}); {hint}.") from exc
        return cls(bus, name=f"{interface}:{channel}")

    # ---- CanChannel
    def send(self, frame: CanFrame) -> None:
        if self.closed:
            raise CanError(f"CAN channel {self.name} is closed")
        if self._failure is not None:
            raise CanError(f"CAN channel {self.name} reader failed: {self._failure}")
        if self.bus_off:
            raise CanError(f"CAN channel {self.name} is bus-off")
        msg = can.Message(
            arbitration_id=frame.arbitration_id,
            data=frame.data,
            is_extended_id=frame.is_extended_id,
        )
        try:
            # timeout=0: never wait for the transmit queue inside the loop
            self._bus.send(msg, timeout=0)
        except (can.CanError, OSError) as exc:
            self.send_failures += 1
            raise CanError(f"CAN channel {self.name} cannot send: {exc}") from exc
        self.frames_sent += 1

    async def recv(self) -> CanFrame:
        if self._failure is not None and self._queue.empty():
            raise CanError(f"CAN channel {self.name} reader failed: {self._failure}")
        return await self._queue.get()

    def set_receiver(self, receiver: Receiver | None) -> None:
        self._receiver = receiver
        if receiver is not None:
            while not self._queue.empty():
                receiver(self._queue.get_nowait())

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._notifier.stop(timeout=READER_POLL_S * 4)
        if self._own_bus:
            self._bus.shutdown()

    # ---- called in the loop by the listener
    def _on_message(self, msg: can.Message) -> None:
        if self.closed:
            return
        if msg.is_error_frame:
            self.error_frames += 1
            if msg.arbitration_id & CAN_ERR_BUSOFF:
                if not self.bus_off:
                    self.bus_off_events += 1
                self.bus_off = True
            elif msg.arbitration_id & CAN_ERR_RESTARTED:
                self.bus_off = False
            return
        # a regular frame proves the controller is back on the bus
        self.bus_off = False
        self.frames_received += 1
        frame = CanFrame(msg.arbitration_id, bytes(msg.data), msg.is_extended_id, self._loop.time())
        if self._receiver is not None:
            self._receiver(frame)
        else:
            self._queue.put_nowait(frame)

    def _on_reader_error(self, exc: Exception) -> None:
        self._failure = exc
