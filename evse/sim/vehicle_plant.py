"""The vehicle's side of one simulated connector: its battery, its contactors and the lines it drives
(implements `evse.sim.interfaces.VehiclePlant`).

A per-protocol simulated vehicle gets one of these when it is plugged in. Besides the Protocol it offers:
* `on_charger_output(callback)` — called on the next loop pass whenever the charger switches a line the vehicle
  reads (d1, d2, aux supply, CP PWM or state F), so a vehicle need not poll;
* `pwm_duty_pct()` / `cp_state_f()` — what the CCS vehicle sees on CP;
* `set_fault_handler(handler)` — the hook through which `evse.sim.faults` asks the protocol's vehicle to raise a
  fault flag, stop, or misbehave (`handler(name, params) -> bool`, True if it handled the fault).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from evse.sim.interfaces import Battery, VehicleProfile

if TYPE_CHECKING:
    from evse.sim.plant import ConnectorPlant

FaultHandler = Callable[[str, dict[str, Any]], bool]

#: GB/T 18487.1 detection point 1 voltage with the gun inserted and latched
CC1_LATCHED_V = 4.0


class PluggedVehicle:
    """One vehicle plugged into one simulated connector."""

    def __init__(
        self,
        plant: ConnectorPlant,
        battery: Battery,
        standard: str,
        profile: VehicleProfile | None = None,
        *,
        contactor_delay_s: float = 0.05,
    ) -> None:
        self.plant = plant
        self.battery = battery
        self.standard = standard
        self.profile = profile
        self.contactor_delay_s = contactor_delay_s
        self.contactors_closed = False
        self.contactors_commanded = False
        self.cc1_plugged_v = CC1_LATCHED_V
        self.fault_handler: FaultHandler | None = None
        self._pending: asyncio.TimerHandle | None = None

    # ---- VehiclePlant: power path
    def close_vehicle_contactors(self) -> None:
        self._command(True)

    def open_vehicle_contactors(self) -> None:
        self._command(False)

    def vehicle_contactors_closed(self) -> bool:
        return self.contactors_closed

    def inlet_voltage_v(self) -> float:
        return self.plant.inlet_voltage_v

    def charge_current_a(self) -> float:
        return self.plant.current_a

    # ---- VehiclePlant: lines
    def set_vehicle_line(self, name: str, value: bool | float | str) -> None:
        if self.plant.vehicle is not self:
            return  # unplugged: the vehicle's pins touch nothing
        if name == "cp_state":
            self.plant.pilot.set_vehicle_state(str(value))
        elif name == "cc1_v":
            self.plant.lines.set_input("cc1", float(value))
        elif name in ("k", "connected"):
            self.plant.lines.set_input(name, bool(value))
        else:
            raise ValueError(f"unknown vehicle line {name!r}: use k, connected, cc1_v or cp_state")

    def charger_line(self, name: str) -> bool:
        if self.plant.vehicle is not self:
            return False
        return self.plant.lines.output(name)

    # ---- additions
    def pwm_duty_pct(self) -> float | None:
        return self.plant.pilot.duty_pct if self.plant.vehicle is self else None

    def cp_state_f(self) -> bool:
        return self.plant.pilot.state_f

    def on_charger_output(self, callback: Callable[[], None]) -> None:
        self.plant.charger_output_observers.append(callback)

    def set_fault_handler(self, handler: FaultHandler | None) -> None:
        self.fault_handler = handler

    @property
    def plugged(self) -> bool:
        return self.plant.vehicle is self

    # ---- internals
    def _command(self, closed: bool) -> None:
        self.contactors_commanded = closed
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        if closed == self.contactors_closed:
            return
        self._pending = asyncio.get_running_loop().call_later(self.contactor_delay_s, self._arrive, closed)

    def _arrive(self, closed: bool) -> None:
        self._pending = None
        self.contactors_closed = closed
        if self.plant.vehicle is self:
            self.plant.topology_changed()
