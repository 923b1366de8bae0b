"""Input polling on loop time, shared by the board drivers, and the feedback-timeout rule."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from evse.hardware.roles import Listener


class Poller:
    """Calls `tick()` every `interval_s` on the running loop; notifies listeners when `tick()` says something
    changed."""

    def __init__(self, tick: Callable[[], bool], interval_s: float, name: str) -> None:
        self._tick = tick
        self._interval_s = interval_s
        self.listeners: list[Listener] = []
        self._task = asyncio.get_running_loop().create_task(self._run(), name=name)

    def notify(self) -> None:
        for listener in list(self.listeners):
            listener()

    async def _run(self) -> None:
        while True:
            if self._tick():
                self.notify()
            await asyncio.sleep(self._interval_s)

    def close(self) -> None:
        self._task.cancel()


class FeedbackWatch:
    """A commanded state whose feedback must follow within `timeout_s`: after that, a mismatch is a fault that
    stays until the feedback agrees with the command again."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.commanded = False
        self._since_s = 0.0
        self.timed_out = False

    def command(self, value: bool, now_s: float) -> None:
        if value != self.commanded:
            self.commanded = value
            self._since_s = now_s

    def check(self, feedback: bool, now_s: float) -> bool:
        """Update with the current feedback; True when the fault state changed."""
        before = self.timed_out
        if feedback == self.commanded:
            self.timed_out = False
        elif now_s - self._since_s > self.timeout_s:
            self.timed_out = True
        return before != self.timed_out
