"""Hardware in the loop: a connector whose vehicle link is a real CAN interface (an external vehicle or BMS
simulator on the bench) while its power path stays simulated.

The external peer speaks the protocol on the bus; it cannot close our simulated vehicle contactors or pull our
simulated k line, so `HilVehicle` stands in for its physical side:
* a battery at a fixed voltage (`[sim] hil_battery_voltage_v`, or what the peer reports, passed in with
  `set_battery_voltage` / `report_battery_voltage`), stiff enough that the charger's current follows its set-point;
* CHAdeMO: the connection-check line is made, k follows d1 (the vehicle permits once woken), the vehicle
  contactors close after d2 and open when d2 drops;
* GB/T: CC1 reads 4 V (inserted and latched); the vehicle contactors close once the auxiliary supply is on and the
  charger has finished its insulation test (its contactors opened again after closing), as a BMS does before
  BRO 0xAA, and open when the auxiliary supply goes off.
It is attached by the simulated drivers themselves when the configuration gives a connector a non-"sim" vehicle
link, so nothing else changes: `evse run` with such a configuration is the bench set-up.
"""

from __future__ import annotations

import asyncio
from typing import Any

from evse.sim.vehicle_plant import PluggedVehicle
from evse.sim.world import SimWorld

#: a bench battery: stiff (the current is the charger's set-point) and never full
HIL_RESISTANCE_OHM = 0.05
HIL_CAPACITY_KWH = 100.0
HIL_MAX_CURRENT_A = 1000.0
#: the external vehicle's reaction time on its lines and contactors
HIL_REACTION_S = 0.2


class FixedVoltageBattery:
    """`Battery` with a constant open-circuit voltage (the external peer's pack, as configured or reported)."""

    def __init__(self, voltage_v: float, capacity_kwh: float = HIL_CAPACITY_KWH) -> None:
        self.voltage_v = voltage_v
        self.capacity_kwh = capacity_kwh
        self.max_voltage_v = voltage_v * 1.1
        self.soc_pct = 50.0
        self.temperature_c = 25.0

    def open_circuit_voltage_v(self) -> float:
        return self.voltage_v

    def terminal_voltage_v(self, current_a: float) -> float:
        return self.voltage_v + current_a * HIL_RESISTANCE_OHM

    def max_charge_current_a(self) -> float:
        return HIL_MAX_CURRENT_A

    def max_cell_voltage_v(self) -> float:
        return 0.0  # unknown: the external BMS reports its own

    def step(self, current_a: float, dt_s: float) -> None:
        energy_kwh = self.voltage_v * current_a * dt_s / 3.6e6
        self.soc_pct = min(100.0, self.soc_pct + 100.0 * energy_kwh / self.capacity_kwh)


class HilVehicle:
    """The physical side of an external vehicle on one simulated connector."""

    def __init__(self, world: SimWorld, connector_id: int, standard: str, voltage_v: float) -> None:
        self.world = world
        self.connector_id = connector_id
        self.standard = standard
        self.battery = FixedVoltageBattery(voltage_v)
        self.plugged: PluggedVehicle = world.plug(connector_id, self.battery, standard)
        self.plant = world.plant(connector_id)
        self._insulation_done = False
        self._contactors_seen_closed = False
        self.plugged.on_charger_output(self._on_output)
        self.plant.contactors.add_listener(self._on_contactors)

    def set_battery_voltage(self, voltage_v: float) -> None:
        self.battery.voltage_v = voltage_v

    # ---- reactions
    def _on_output(self) -> None:
        loop = asyncio.get_running_loop()
        line = self.plugged.charger_line
        if self.standard == "chademo":
            loop.call_later(HIL_REACTION_S, self.plugged.set_vehicle_line, "k", line("d1"))
            if line("d2"):
                loop.call_later(HIL_REACTION_S, self.plugged.close_vehicle_contactors)
            else:
                self.plugged.open_vehicle_contactors()
        elif self.standard == "gbt":
            if not (line("aux_12v") or line("aux_24v")):
                self._insulation_done = self._contactors_seen_closed = False
                self.plugged.open_vehicle_contactors()

    def _on_contactors(self) -> None:
        if self.standard != "gbt":
            return
        aux = self.plugged.charger_line("aux_12v") or self.plugged.charger_line("aux_24v")
        if self.plant.contactors.closed:
            self._contactors_seen_closed = aux
        elif self._contactors_seen_closed and not self._insulation_done:
            self._insulation_done = True
            asyncio.get_running_loop().call_later(HIL_REACTION_S, self.plugged.close_vehicle_contactors)


def attach_if_external(world: SimWorld, connector_id: int, settings: Any) -> HilVehicle | None:
    """Attach a `HilVehicle` to `connector_id` when the configuration (`settings`, an `evse.config.schema.Config`)
    gives that CHAdeMO / GB/T connector a vehicle link other than "sim". Idempotent."""
    lookup = getattr(settings, "connector", None)
    if not callable(lookup):
        return None
    try:
        connector = lookup(connector_id)
    except KeyError:
        return None
    interface = getattr(getattr(connector, "vehicle_link", None), "interface", "sim")
    standard = getattr(connector, "standard", "")
    if interface == "sim" or standard not in ("chademo", "gbt"):
        return None
    existing = world.hil_vehicles.get(connector_id)
    if existing is None:
        voltage = getattr(getattr(settings, "sim", None), "hil_battery_voltage_v", world.settings.hil_battery_voltage_v)
        existing = world.hil_vehicles[connector_id] = HilVehicle(world, connector_id, standard, voltage)
    return existing


def report_battery_voltage(world: SimWorld, connector_id: int, voltage_v: float) -> None:
    """What the external peer reported (e.g. GB/T BCP present voltage): the simulated pack follows it."""
    hil = world.hil_vehicles.get(connector_id)
    if hil is not None:
        hil.set_battery_voltage(voltage_v)
