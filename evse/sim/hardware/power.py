"""Simulated DC power module: set-points clamped to its capabilities, slew-limited output, a fault mode.

The physics (what voltage and current actually appear) is computed by the plant each tick from these commands,
the contactors and the battery behind them; this class holds the commands and the last measurement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evse.hardware.roles import Listener, PowerCapabilities
from evse.sim.hardware.listeners import Listeners
from evse.sim.settings import SimPowerSettings

if TYPE_CHECKING:
    from evse.sim.plant import ConnectorPlant


class SimPowerModule:
    """`PowerModule` of one simulated connector."""

    def __init__(self, plant: ConnectorPlant, settings: SimPowerSettings) -> None:
        self._plant = plant
        self.settings = settings
        self.listeners = Listeners()
        self.voltage_set_v = 0.0
        self.current_limit_a = 0.0
        self.commanded_on = False
        self.discharging = False
        self.fault_code: str | None = None
        self.voltage_reading_v = 0.0
        self.current_reading_a = 0.0
        #: set-point commands received (a benchmark and test aid)
        self.commands = 0

    # ---- PowerModule
    def capabilities(self) -> PowerCapabilities:
        s = self.settings
        return PowerCapabilities(s.max_voltage_v, s.min_voltage_v, s.max_current_a, s.min_current_a, s.max_power_w)

    def set_target(self, voltage_v: float, current_a: float) -> None:
        s = self.settings
        self.commands += 1
        self.voltage_set_v = min(max(voltage_v, 0.0), s.max_voltage_v)
        self.current_limit_a = min(max(current_a, 0.0), s.max_current_a)
        self._plant.ensure_running()

    def enable(self) -> None:
        if self.fault_code is not None:
            return  # a faulted module does not restart until the fault is cleared
        if self.commanded_on:
            return
        self.commanded_on = True
        self.discharging = False
        self._plant.request_tick()

    def disable(self) -> None:
        self.commanded_on = False
        self._plant.cut_current()

    def enabled(self) -> bool:
        return self.commanded_on and self.fault_code is None

    def measured_voltage_v(self) -> float:
        return self.voltage_reading_v

    def measured_current_a(self) -> float:
        return self.current_reading_a

    def fault(self) -> str | None:
        return self.fault_code

    def discharge(self) -> None:
        self.commanded_on = False
        self.discharging = True
        self._plant.cut_current()

    def add_listener(self, listener: Listener) -> None:
        self.listeners.add(listener)
        self._plant.ensure_running()

    # ---- fault injection
    def inject_fault(self, code: str = "module_fault") -> None:
        """The module reports `code` and switches its output off (as a rectifier does on an internal fault)."""
        self.fault_code = code
        self.commanded_on = False
        self._plant.cut_current()

    def clear_fault(self) -> None:
        self.fault_code = None
        self._plant.request_tick()
