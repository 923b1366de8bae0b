"""The charger's cyclic transmission grid (chademo.md, Physical layer: every 100 ms ± 10 ms).

Slots are t0 + n·period on the loop clock, so nothing accumulates drift; a late tick takes the current slot and
skips the missed ones, so a stalled loop never answers with a burst.
"""

from __future__ import annotations

import math

#: tolerance for float noise when comparing loop times against the grid
EPSILON_S = 1e-9


class CyclicSchedule:
    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self.origin_s: float | None = None
        self._cycle = 0

    @property
    def running(self) -> bool:
        return self.origin_s is not None

    def start(self, now: float) -> None:
        """The first slot is now."""
        self.origin_s = now
        self._cycle = 0

    def stop(self) -> None:
        self.origin_s = None

    def next_s(self) -> float | None:
        """Loop time of the next slot (None when stopped)."""
        if self.origin_s is None:
            return None
        return self.origin_s + self._cycle * self.period_s

    def due(self, now: float) -> bool:
        slot = self.next_s()
        return slot is not None and now + EPSILON_S >= slot

    def take(self, now: float) -> None:
        """A cycle was sent at `now`: the next slot is the first grid point after it."""
        assert self.origin_s is not None
        elapsed = (now - self.origin_s) / self.period_s
        self._cycle = max(self._cycle + 1, math.floor(elapsed + EPSILON_S) + 1)
