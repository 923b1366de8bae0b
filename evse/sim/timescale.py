"""Scaled real time for `evse sim --speed N`: an event loop whose clock runs N times faster than the wall.

`loop.time()` is the monotonic clock since start × N, and every wait in the selector is divided by N, so timers,
`asyncio.sleep` and timeouts all run N× faster while real I/O still works. (`--speed max` uses the virtual clock
of `evse.clock` instead: no waiting at all.)
"""

from __future__ import annotations

import asyncio
import selectors
import time
from typing import Any


class _ScaledSelector:
    """Wraps the loop's selector: a wait of t loop-seconds is t / speed wall seconds."""

    def __init__(self, inner: selectors.BaseSelector, speed: float) -> None:
        self._inner = inner
        self._speed = speed

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        return self._inner.select(None if timeout is None else timeout / self._speed)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class ScaledClockLoop(asyncio.SelectorEventLoop):
    def __init__(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        super().__init__()
        self.speed = speed
        self._origin_s = time.monotonic()  # wall-clock ok: the scaled clock's reference
        inner: Any = getattr(self, "_selector")  # noqa: B009 (typeshed does not declare it)
        scaled: Any = _ScaledSelector(inner, speed)
        self._selector = scaled

    def time(self) -> float:
        return (time.monotonic() - self._origin_s) * self.speed  # wall-clock ok: scaled real time by design


def new_loop(speed: float | None) -> asyncio.AbstractEventLoop:
    """The loop for `--speed`: None = virtual time (max), 1 = plain real time, otherwise scaled."""
    if speed is None:
        from evse.clock import new_virtual_loop

        return new_virtual_loop()
    if speed == 1:
        return asyncio.new_event_loop()
    return ScaledClockLoop(speed)
