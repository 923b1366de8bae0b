"""Simulated output contactors (DC+ / DC−, GB/T K1/K2): close/open delays, mirror contacts, welding."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from evse.hardware.roles import Listener
from evse.sim.hardware.listeners import Listeners
from evse.sim.settings import SimContactorSettings

if TYPE_CHECKING:
    from evse.sim.plant import ConnectorPlant

#: opening above this current counts as opening under load (contactor wear; a normal stop ramps to ≤ 5 A first)
UNDER_LOAD_CURRENT_A = 5.0


class SimContactors:
    """`Contactors` of one simulated connector. `closed` is the physical (mirror-contact) state."""

    def __init__(self, plant: ConnectorPlant, settings: SimContactorSettings) -> None:
        self._plant = plant
        self.settings = settings
        self.listeners = Listeners()
        self.commanded = False
        self.closed = False
        self.welded = False
        self._pending: asyncio.TimerHandle | None = None
        #: physical openings with current above UNDER_LOAD_CURRENT_A (emergency trips wear contactors)
        self.openings_under_load = 0
        #: largest |charger side − vehicle side| voltage seen at a closing (pre-charge quality)
        self.worst_closing_mismatch_v = 0.0
        self.closings = 0

    # ---- Contactors
    def close(self) -> None:
        self.commanded = True
        self._move(True, self.settings.close_delay_s)

    def open(self) -> None:
        self.commanded = False
        self._move(False, self.settings.open_delay_s)

    def commanded_closed(self) -> bool:
        return self.commanded

    def feedback_closed(self) -> bool:
        return self.closed

    def vehicle_side_voltage_v(self) -> float:
        return self._plant.inlet_reading_v()

    def add_listener(self, listener: Listener) -> None:
        self.listeners.add(listener)

    # ---- fault injection
    def set_welded(self, welded: bool = True) -> None:
        """A welded contactor stays closed when commanded open (it only welds if closed: inject before opening)."""
        self.welded = welded
        if not welded and not self.commanded and self.closed:
            self._move(False, self.settings.open_delay_s)

    # ---- physics
    def _move(self, closed: bool, delay_s: float) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        if self.closed == closed:
            return
        loop = asyncio.get_running_loop()
        self._plant.ensure_running()
        self._pending = loop.call_later(delay_s, self._arrive, closed)

    def _arrive(self, closed: bool) -> None:
        self._pending = None
        if not closed and self.welded:
            return
        plant = self._plant
        if closed:
            self.closings += 1
            mismatch = abs(plant.output_voltage_v - plant.inlet_voltage_v)
            self.worst_closing_mismatch_v = max(self.worst_closing_mismatch_v, mismatch)
        elif plant.current_a > UNDER_LOAD_CURRENT_A:
            self.openings_under_load += 1
        self.closed = closed
        plant.topology_changed()
        self.listeners.notify()
