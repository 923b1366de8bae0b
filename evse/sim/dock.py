"""Plugging simulated vehicles in and out: battery from the profile, the plant's vehicle side, the protocol's
simulated vehicle on the connector's link — and the reverse on unplug. Used by the scenario runner and by the
local API's simulator commands (`evse.sim.control`)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from evse.sim.interfaces import VehicleProfile
from evse.sim.profile import make_battery
from evse.sim.vehicle_plant import PluggedVehicle
from evse.sim.vehicles import SimulatedVehicle, create_vehicle
from evse.sim.world import SimWorld


@dataclass
class Docked:
    profile: VehicleProfile
    plugged: PluggedVehicle
    vehicle: SimulatedVehicle
    task: asyncio.Task[None] | None = None


class VehicleDock:
    def __init__(self, world: SimWorld) -> None:
        self.world = world
        self.docked: dict[int, Docked] = {}

    def plug(self, connector_id: int, profile: VehicleProfile) -> Docked:
        """Plug `profile` into `connector_id` and start its simulated vehicle. Raises `RuntimeError` when the
        connector is taken, `VehicleError` when there is no simulated vehicle for the standard."""
        if connector_id in self.docked:
            raise RuntimeError(f"connector {connector_id} already has a vehicle plugged in; unplug it first")
        plugged = self.world.plug(connector_id, make_battery(profile), profile.standard, profile)
        try:
            link = self.world.vehicle_link(connector_id, profile.standard)
            vehicle = create_vehicle(profile, plugged, link, self.world.settings)
            run = getattr(vehicle, "run", None)
            task = asyncio.get_running_loop().create_task(run()) if run is not None else None
            if run is None:
                vehicle.start()  # type: ignore[attr-defined]
        except BaseException:
            self.world.unplug(connector_id)
            raise
        docked = self.docked[connector_id] = Docked(profile, plugged, vehicle, task)
        return docked

    def unplug(self, connector_id: int) -> bool:
        """Stop the vehicle and pull the plug; False if nothing was plugged in."""
        docked = self.docked.pop(connector_id, None)
        if docked is None:
            return False
        with contextlib.suppress(Exception):  # a vehicle that fails to stop must not stay plugged in
            docked.vehicle.stop()
        if docked.task is not None:
            docked.task.cancel()
        self.world.unplug(connector_id)
        return True

    def plugged(self, connector_id: int) -> PluggedVehicle | None:
        docked = self.docked.get(connector_id)
        return docked.plugged if docked is not None else None

    def close(self) -> None:
        for connector_id in list(self.docked):
            self.unplug(connector_id)
