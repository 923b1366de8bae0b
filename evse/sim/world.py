"""The simulated world of one station: a `ConnectorPlant` and an in-loop CAN bus per connector, one seed.

The station builder's simulated drivers find it at `DriverContext.shared["sim.world"]` (created there on first
use); `evse sim`, scenarios and tests create it first and put it there, so they can plug vehicles in and inject
faults into the very plants the daemon's drivers drive.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from evse.can.channel import InLoopBus, InLoopChannel
from evse.sim.hardware.meter import SimEmergencyStop
from evse.sim.plant import ConnectorPlant
from evse.sim.settings import SimSettings
from evse.sim.vehicle_plant import PluggedVehicle

if TYPE_CHECKING:
    from evse.hardware.registry import DriverContext
    from evse.sim.interfaces import Battery, VehicleProfile

SHARED_KEY = "sim.world"


class SimWorld:
    def __init__(self, settings: SimSettings | None = None, seed: int | None = None) -> None:
        self.settings = settings or SimSettings()
        self.seed = self.settings.seed if seed is None else seed
        self.plants: dict[int, ConnectorPlant] = {}
        #: the station's emergency-stop button, shared by every connector
        self.estop = SimEmergencyStop()
        self.buses: dict[int, InLoopBus] = {}
        self._charger_channels: dict[int, InLoopChannel] = {}
        self._vehicle_channels: dict[int, InLoopChannel] = {}
        #: faults in force per connector, by name (`evse.sim.faults.ActiveFault`)
        self.active_faults: dict[int, dict[str, Any]] = {}
        #: hardware in the loop: the stand-ins for external vehicles (`evse.sim.hil.HilVehicle`) per connector
        self.hil_vehicles: dict[int, Any] = {}
        #: per connector, a non-CAN vehicle link a protocol's sim drivers provide (CCS: its V2G transport)
        self.vehicle_links: dict[int, Any] = {}

    def plant(self, connector_id: int) -> ConnectorPlant:
        plant = self.plants.get(connector_id)
        if plant is None:
            rng = random.Random(f"{self.seed}:{connector_id}")
            plant = self.plants[connector_id] = ConnectorPlant(connector_id, self.settings, rng, self.estop)
        return plant

    def rng(self, connector_id: int, purpose: str) -> random.Random:
        """A reproducible random source for something else on this connector (a vehicle's jitter, …)."""
        return random.Random(f"{self.seed}:{connector_id}:{purpose}")

    # ---- the vehicle link
    def bus(self, connector_id: int) -> InLoopBus:
        bus = self.buses.get(connector_id)
        if bus is None:
            bus = self.buses[connector_id] = InLoopBus(f"sim{connector_id}")
        return bus

    def charger_channel(self, connector_id: int) -> InLoopChannel:
        channel = self._charger_channels.get(connector_id)
        if channel is None or channel.closed:
            channel = self._charger_channels[connector_id] = self.bus(connector_id).attach(f"charger{connector_id}")
        return channel

    def vehicle_channel(self, connector_id: int) -> InLoopChannel:
        """The vehicle's endpoint on the connector's bus (a new one per plug-in; muted = BMS silence)."""
        channel = self._vehicle_channels.get(connector_id)
        if channel is None or channel.closed:
            channel = self._vehicle_channels[connector_id] = self.bus(connector_id).attach(f"vehicle{connector_id}")
        return channel

    def vehicle_link(self, connector_id: int, standard: str) -> Any:
        """What a simulated vehicle of `standard` talks through: the CAN endpoint (CHAdeMO, GB/T) or the link a
        CCS sim driver registered in `vehicle_links` (None if none)."""
        if standard in ("chademo", "gbt"):
            return self.vehicle_channel(connector_id)
        return self.vehicle_links.get(connector_id)

    # ---- plugging
    def plug(
        self, connector_id: int, battery: Battery, standard: str, profile: VehicleProfile | None = None
    ) -> PluggedVehicle:
        plant = self.plant(connector_id)
        vehicle = PluggedVehicle(
            plant, battery, standard, profile, contactor_delay_s=self.settings.vehicle_contactor_delay_s
        )
        plant.attach(vehicle)
        return vehicle

    def unplug(self, connector_id: int) -> None:
        self.plant(connector_id).detach()
        faults = self.active_faults.get(connector_id, {})
        for name in [n for n, f in faults.items() if getattr(f, "ends_on_unplug", False)]:
            undo = getattr(faults.pop(name), "undo", None)
            if undo is not None:
                undo()
        channel = self._vehicle_channels.pop(connector_id, None)
        if channel is not None:
            channel.close()

    def close(self) -> None:
        for plant in self.plants.values():
            plant.close()


_active: SimWorld | None = None
#: the last world `world_of` created by itself (the daemon on simulated hardware): found by `current_world()`,
#: never reused for another station
_latest: SimWorld | None = None


def activate(world: SimWorld | None) -> None:
    """Make `world` the one the "sim" drivers of a station built next will use (`evse sim` and tests call this
    before building the station, so they hold the very plants its drivers drive). None deactivates."""
    global _active
    _active = world


def current_world() -> SimWorld | None:
    """The activated world (for the local API's fault injection and tools), None outside a simulation."""
    return _active or _latest


def world_of(context: DriverContext) -> SimWorld:
    """The station's simulated world: `context.shared["sim.world"]`, else the activated world, else a new one
    from the configuration's `sim` settings (stored in `context.shared` either way)."""
    world = context.shared.get(SHARED_KEY)
    if world is None and _active is not None:
        world = context.shared[SHARED_KEY] = _active
    if world is None:
        settings = getattr(context.settings, "sim", None)
        world = SimWorld(settings if isinstance(settings, SimSettings) else None)
        context.shared[SHARED_KEY] = world
        global _latest
        _latest = world  # the daemon on simulated hardware: the local API finds it for fault injection
    if not isinstance(world, SimWorld):
        raise TypeError(f"shared[{SHARED_KEY!r}] is not a SimWorld")
    return world
