"""Cyclic transmission on an absolute schedule.

A cyclic frame started at t0 is due at t0, t0 + p, t0 + 2p, … (loop time). A late poll sends it once and skips the
slots it missed, so lateness never accumulates (no drift) and never bursts. The payload can be replaced at any
time without touching the schedule (`update`): the next transmission carries it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from evse.can.channel import CanFrame


@dataclass(slots=True)
class _Entry:
    arbitration_id: int
    payload: bytes
    period_s: float
    due_s: float


class CyclicSchedule:
    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def start(self, name: str, arbitration_id: int, payload: bytes, period_s: float, now: float) -> list[CanFrame]:
        """Start (or keep, updating the payload) sending `name`; a new entry is sent at once."""
        entry = self._entries.get(name)
        if entry is not None:
            entry.payload = payload
            return []
        self._entries[name] = _Entry(arbitration_id, payload, period_s, now + period_s)
        return [CanFrame(arbitration_id, payload, True)]

    def update(self, name: str, payload: bytes) -> None:
        entry = self._entries.get(name)
        if entry is not None:
            entry.payload = payload

    def stop(self, *names: str) -> None:
        for name in names:
            self._entries.pop(name, None)

    def stop_all(self) -> None:
        self._entries.clear()

    def active(self, name: str) -> bool:
        return name in self._entries

    def is_due(self, name: str, now: float) -> bool:
        """`name` is active and `due(now)` would send it: the moment to refresh a payload that only matters when
        it is sent (e.g. a clock)."""
        entry = self._entries.get(name)
        return entry is not None and entry.due_s <= now + 1e-9

    def next_due(self) -> float | None:
        # asked after every input (the driver re-arms its timer): a plain loop, no generator
        earliest: float | None = None
        for entry in self._entries.values():
            if earliest is None or entry.due_s < earliest:
                earliest = entry.due_s
        return earliest

    def due(self, now: float) -> list[CanFrame]:
        frames: list[CanFrame] = []
        for entry in self._entries.values():
            if entry.due_s <= now + 1e-9:
                frames.append(CanFrame(entry.arbitration_id, entry.payload, True))
                missed = math.floor((now - entry.due_s) / entry.period_s + 1e-9)
                entry.due_s += (missed + 1) * entry.period_s
        return frames
