"""Runs a sans-I/O core on a CAN channel inside the event loop: the thin I/O layer around the protocol objects.

A core offers `feed(frame, now)`, `poll(now)` and `next_deadline()`; the first two return an output with the
`frames` to send. The driver delivers each received frame synchronously (the channel's `set_receiver`), sends what
the core answers at once, and keeps exactly one `loop.call_at` timer on the core's next absolute deadline — so a
cyclic frame due at t = 0.25 × n goes out at that loop time, not at "last send + period" (no drift), and a CAN
transfer in progress never blocks anything else: nothing here awaits.

Every frame in either direction can be observed (`on_rx`, `on_tx`) for the handshake trace; sent frames are
stamped with the loop time they were handed to the channel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

import structlog

from evse.can.channel import CanChannel, CanError, CanFrame


class _Output(Protocol):
    @property
    def frames(self) -> list[CanFrame]: ...


OutputT_co = TypeVar("OutputT_co", bound=_Output, covariant=True)
OutputT = TypeVar("OutputT", bound=_Output)


class Core(Protocol[OutputT_co]):
    def feed(self, frame: CanFrame, now: float) -> OutputT_co: ...
    def poll(self, now: float) -> OutputT_co: ...
    def next_deadline(self) -> float | None: ...


FrameHook = Callable[[CanFrame], None]
_OVERDUE_RETRY_S = 0.001


class CoreDriver(Generic[OutputT]):
    def __init__(
        self,
        channel: CanChannel,
        core: Core[OutputT],
        on_output: Callable[[OutputT], None] | None = None,
        *,
        on_rx: FrameHook | None = None,
        on_tx: FrameHook | None = None,
    ) -> None:
        self.channel = channel
        self.core = core
        self.on_output = on_output
        self.on_rx = on_rx
        self.on_tx = on_tx
        self.send_errors = 0
        #: times the core asked for a deadline already past (a core bug; counted, and retried a moment later)
        self.overdue = 0
        self._polled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._log = structlog.get_logger("evse.gbt.driver")

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.channel.set_receiver(self._on_frame)
        self.kick()

    def stop(self) -> None:
        self.channel.set_receiver(None)
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._timer_at = None
        self._loop = None

    @property
    def running(self) -> bool:
        return self._loop is not None

    def kick(self) -> None:
        """Poll the core now (after an input other than a frame changed it) and re-arm the timer."""
        if self._loop is None:
            return
        self.submit(self.core.poll(self._loop.time()))

    # ---- internals
    def _on_frame(self, frame: CanFrame) -> None:
        if self._loop is None:
            return
        if self.on_rx is not None:
            self.on_rx(frame)
        self.submit(self.core.feed(frame, self._loop.time()))

    def _on_timer(self) -> None:
        deadline = self._timer_at
        self._timer = self._timer_at = None
        if self._loop is not None:
            self._polled = True
            # asyncio fires a timer up to one clock resolution early (looptime's clock steps in 1 µs), so the
            # loop's time may sit a hair before the deadline it fired for: poll *at* the deadline, or a core that
            # compares exactly would find nothing due and re-arm the same instant forever
            now = self._loop.time() if deadline is None else max(self._loop.time(), deadline)
            try:
                self.submit(self.core.poll(now))
            finally:
                self._polled = False

    def submit(self, output: OutputT) -> None:
        """Send the frames of `output` (from feed, poll or a direct call on the core) and re-arm the timer."""
        assert self._loop is not None
        if output.frames:
            if self.on_tx is None:
                for frame in output.frames:
                    self._send(frame)
            else:  # the observer sees each frame stamped with the loop time it was handed to the channel
                now = self._loop.time()
                for frame in output.frames:
                    self._send(CanFrame(frame.arbitration_id, frame.data, frame.is_extended_id, now))
        if self.on_output is not None:
            self.on_output(output)
        self._arm()

    def _send(self, frame: CanFrame) -> None:
        try:
            self.channel.send(frame)
        except CanError as exc:
            # the core's receive timeouts turn a dead bus into a session failure; here we only count
            self.send_errors += 1
            if self.send_errors == 1 or self.send_errors % 1000 == 0:
                self._log.warning("CAN send failed", channel=self.channel.name, error=str(exc), count=self.send_errors)
            return
        if self.on_tx is not None:
            self.on_tx(frame)

    def _arm(self) -> None:
        if self._loop is None:
            return
        deadline = self.core.next_deadline()
        if self._polled and deadline is not None and deadline <= self._loop.time():
            # a core that is still overdue right after being polled would spin the loop (and freeze a virtual
            # clock): look again a moment later instead
            self.overdue += 1
            deadline = self._loop.time() + _OVERDUE_RETRY_S
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = None if deadline is None else self._loop.call_at(deadline, self._on_timer)
