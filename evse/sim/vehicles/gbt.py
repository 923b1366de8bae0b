"""A simulated GB/T 27930 vehicle: the BMS of `evse.sim.vehicles.gbt_bms` on the connector's in-loop CAN bus.

Registered for the "gbt" standard: `create_vehicle(profile, plugged, link, settings)` builds it from the profile's
`[gbt]` table (see `BmsProfile`: edition "2015" or "2011", VIN, BHM voltage, target SOC, TP behaviour, …). The BMS
runs in the loop through the same driver as the charger's core, so it works on the virtual clock; it wakes when
the charger switches the auxiliary supply on (the plant tells it) and falls silent when it goes off.

The generic faults of `evse.sim.faults` map onto the BMS: `vehicle_stop` → BST with no reason bit (a driver stop),
`vehicle_fault` (kind = a BST fault name, default other_fault) → BST with that fault; every GB/T-specific fault
of `gbt_bms.FAULTS` is reachable as `vehicle.<name>`.
"""

from __future__ import annotations

from typing import Any

from evse.can.channel import CanChannel
from evse.protocols.gbt import messages as m
from evse.protocols.gbt.driver import CoreDriver
from evse.sim.interfaces import VehicleProfile
from evse.sim.settings import SimSettings
from evse.sim.vehicle_plant import PluggedVehicle
from evse.sim.vehicles import register_vehicle
from evse.sim.vehicles.gbt_bms import BmsOutput, BmsProfile, GbtBms


class SimGbtVehicle:
    """One simulated GB/T car on one connector."""

    def __init__(self, plant: Any, channel: CanChannel, protocol: dict[str, Any] | None = None) -> None:
        self.plant = plant
        self.channel = channel
        self.bms = GbtBms(plant, BmsProfile.from_table(dict(protocol or {})))
        self.driver: CoreDriver[BmsOutput] = CoreDriver(channel, self.bms)

    def start(self) -> None:
        self.driver.start()
        on_output = getattr(self.plant, "on_charger_output", None)
        if on_output is not None:
            on_output(self.driver.kick)
        set_handler = getattr(self.plant, "set_fault_handler", None)
        if set_handler is not None:
            set_handler(self.handle_fault)

    def stop(self) -> None:
        self.driver.stop()

    def inject(self, name: str, **params: Any) -> bool:
        handled = self.bms.inject(name, **params)
        self.driver.kick()
        return handled

    def handle_fault(self, name: str, params: dict[str, Any]) -> bool:
        """The generic fault names of `evse.sim.faults`, then the BMS's own."""
        if name == "vehicle_stop":
            return self.inject("bst", reason="unspecified")
        if name == "vehicle_fault":
            kind = str(params.get("kind", "other_fault"))
            return self.inject("bst", reason=kind if kind in m.Bst.NAMES else "other_fault")
        return self.inject(name, **params)


def _factory(profile: VehicleProfile, plant: PluggedVehicle, link: Any, settings: SimSettings) -> SimGbtVehicle:
    return SimGbtVehicle(plant, link, profile.protocol)


register_vehicle("gbt", _factory)
