"""Simulated connector lock: the feedback switch follows the command after a delay, unless the lock is stuck."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from evse.sim.settings import SimLockSettings

if TYPE_CHECKING:
    from evse.sim.plant import ConnectorPlant


class SimConnectorLock:
    """`ConnectorLock` of one simulated connector."""

    def __init__(self, plant: ConnectorPlant, settings: SimLockSettings) -> None:
        self._plant = plant
        self.settings = settings
        self.commanded_locked = False
        self.feedback_locked = False
        #: a stuck lock keeps its feedback (and its bolt) where it is
        self.stuck = False
        self._pending: asyncio.TimerHandle | None = None

    def lock(self) -> None:
        self._command(True)

    def unlock(self) -> None:
        self._command(False)

    def locked(self) -> bool:
        return self.feedback_locked

    def set_stuck(self, stuck: bool = True) -> None:
        self.stuck = stuck
        if not stuck and self.commanded_locked != self.feedback_locked:
            self._command(self.commanded_locked)

    def _command(self, locked: bool) -> None:
        self.commanded_locked = locked
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        if self.feedback_locked == locked:
            return
        self._pending = asyncio.get_running_loop().call_later(self.settings.feedback_delay_s, self._arrive, locked)

    def _arrive(self, locked: bool) -> None:
        self._pending = None
        if not self.stuck:
            self.feedback_locked = locked
