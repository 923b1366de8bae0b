"""A simulated GB/T connector for full-session tests: the sim world's plant and in-loop CAN bus, the real session
runner and stage API, the GB/T adapter, and the simulated GB/T BMS of a profile."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from evse.can.channel import CanFrame
from evse.protocols.gbt.adapter import GbtAdapter
from evse.protocols.gbt.codec import decode
from evse.protocols.gbt.ids import Pgn, parse_id
from evse.protocols.gbt.settings import GbtSettings
from evse.protocols.gbt.wire import GbtMessage
from evse.safety.envelope import CableLimits, ChargerLimits, Envelope
from evse.safety.settings import SafetySettings
from evse.safety.supervisor import Supervisor
from evse.session.events import Event, EventBus, StageChanged, TraceRecord
from evse.session.session import Session
from evse.session.settings import SessionSettings
from evse.session.stages import Outcome, Stage
from evse.sim.profile import load_profile, make_battery, with_overrides
from evse.sim.vehicles.gbt import SimGbtVehicle
from evse.sim.world import SimWorld
from tests.simroles import plant_roles

CHARGER = ChargerLimits(max_voltage_v=750, min_voltage_v=200, max_current_a=250, min_current_a=0, max_power_w=60_000)


@dataclass
class GbtRig:
    profile: str = "gbt-2015-60kwh"
    battery: dict[str, Any] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=dict)
    settings: GbtSettings = field(default_factory=GbtSettings)
    session_settings: SessionSettings = field(default_factory=SessionSettings)
    seed: int = 1

    def __post_init__(self) -> None:
        self.world = SimWorld(seed=self.seed)
        self.plant = self.world.plant(1)
        self.roles = plant_roles(self.plant)
        self.events: list[Event] = []
        self.bus = EventBus()
        self.bus.subscribe(self.events.append)
        #: set when the session enters energy transfer
        self.charging = asyncio.Event()
        self.bus.subscribe(self._on_event)
        self.safety = SafetySettings()
        self.envelope = Envelope(CHARGER, CableLimits(250, 60, 90))
        self.supervisor = Supervisor(1, self.roles, self.envelope, self.safety, self.bus.publish)
        self.supervisor.attach()
        self.charger_channel = self.world.charger_channel(1)
        self.adapter = GbtAdapter(self.charger_channel, self.settings)
        self.frames: list[CanFrame] = []  # everything on the bus, as a candump would see it
        self.world.bus(1).attach("monitor")._receiver = self.frames.append
        profile = with_overrides(load_profile(self.profile), self.battery, self.protocol)
        self.plugged = self.world.plug(1, make_battery(profile), "gbt", profile)
        self.vehicle = SimGbtVehicle(self.plugged, self.world.vehicle_channel(1), profile.protocol)
        self.session = Session(
            connector_id=1,
            adapter=self.adapter,
            roles=self.roles,
            envelope=self.envelope,
            supervisor=self.supervisor,
            session_settings=self.session_settings,
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

    def _on_event(self, event: Event) -> None:
        if isinstance(event, StageChanged) and event.stage is Stage.ENERGY_TRANSFER:
            self.charging.set()

    def traces(self) -> list[TraceRecord]:
        return [e for e in self.events if isinstance(e, TraceRecord)]

    def messages(self, name: str, source: int | None = None) -> list[GbtMessage]:
        """Single-frame messages named `name` seen on the bus, decoded."""
        out = []
        for frame in self.frames:
            ident = parse_id(frame.arbitration_id)
            if ident.pgn == Pgn[name] and (source is None or ident.source == source):
                out.append(decode(ident.pgn, frame.data))
        return out
