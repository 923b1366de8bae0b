"""A simulated CHAdeMO connector for full-session tests: the sim world's plant and in-loop CAN bus, the real
session runner and stage API, the CHAdeMO adapter, and the simulated CHAdeMO vehicle of a profile."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from evse.can.channel import CanChannel, CanFrame
from evse.protocols.chademo.adapter import ChademoAdapter
from evse.protocols.chademo.settings import ChademoSettings
from evse.safety.envelope import CableLimits, ChargerLimits, Envelope
from evse.safety.settings import SafetySettings
from evse.safety.supervisor import Supervisor
from evse.session.events import Event, EventBus, TraceRecord
from evse.session.session import Session
from evse.session.settings import SessionSettings
from evse.session.stages import Outcome
from evse.sim.profile import load_profile, make_battery, with_overrides
from evse.sim.vehicles import create_vehicle
from evse.sim.vehicles.chademo import SimChademoVehicle
from evse.sim.world import SimWorld
from tests.simroles import plant_roles

CHARGER = ChargerLimits(max_voltage_v=500, min_voltage_v=150, max_current_a=125, min_current_a=0, max_power_w=50_000)


@dataclass
class ChademoRig:
    profile: str = "chademo-1.0-40kwh"
    battery: dict[str, Any] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=dict)
    settings: ChademoSettings = field(default_factory=ChademoSettings)
    seed: int = 1
    #: the vehicle link; default: the sim world's in-loop bus (a python-can pair makes it a HIL-style run)
    link: tuple[CanChannel, CanChannel] | None = None

    def __post_init__(self) -> None:
        self.world = SimWorld(seed=self.seed)
        self.plant = self.world.plant(1)
        self.roles = plant_roles(self.plant)
        self.events: list[Event] = []
        self.bus = EventBus()
        self.bus.subscribe(self.events.append)
        self.safety = SafetySettings()
        self.envelope = Envelope(CHARGER, CableLimits(125, 60, 90))
        self.supervisor = Supervisor(1, self.roles, self.envelope, self.safety, self.bus.publish)
        self.supervisor.attach()
        self.frames: list[CanFrame] = []  # everything on the bus, as a candump would see it
        if self.link is None:
            self.charger_channel: CanChannel = self.world.charger_channel(1)
            vehicle_link: CanChannel = self.world.vehicle_link(1, "chademo")
            self.world.bus(1).attach("monitor")._receiver = self.frames.append
        else:
            self.charger_channel, vehicle_link = self.link
        self.adapter = ChademoAdapter(self.charger_channel, self.settings)
        profile = with_overrides(load_profile(self.profile), self.battery, self.protocol)
        self.plugged = self.world.plug(1, make_battery(profile), "chademo", profile)
        vehicle = create_vehicle(profile, self.plugged, vehicle_link)
        assert isinstance(vehicle, SimChademoVehicle)  # registered by evse.sim.vehicles.chademo
        self.vehicle = vehicle
        self.session = Session(
            connector_id=1,
            adapter=self.adapter,
            roles=self.roles,
            envelope=self.envelope,
            supervisor=self.supervisor,
            session_settings=SessionSettings(),
            safety_settings=self.safety,
            publish=self.bus.publish,
        )

    async def run(self, *, authorize: bool = True) -> Outcome:
        self.vehicle.start()
        if authorize:
            self.session.authorize("TAG")
        try:
            return await self.session.run()
        finally:
            self.vehicle.stop()
            self.world.close()

    def start(self) -> asyncio.Task[Outcome]:
        return asyncio.get_running_loop().create_task(self.run())

    def traces(self) -> list[TraceRecord]:
        return [e for e in self.events if isinstance(e, TraceRecord)]
