"""Runs a scenario against a station: plugs simulated vehicles in, injects faults, stops and unplugs on cue, and
keeps one record per session from the station's events (for the live view and the summary).

The runner touches the station only through `StationControl.stop` and the event bus; everything else goes
through the simulated world (the plants the station's "sim" drivers drive), exactly as a vehicle in front of a
real charger would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from evse.session.events import (
    Event,
    EventBus,
    FaultRaised,
    LimitChanged,
    MeterSample,
    SessionEnded,
    SessionStarted,
    StageChanged,
)
from evse.session.stages import Outcome, Stage
from evse.sim import faults
from evse.sim.dock import VehicleDock
from evse.sim.interfaces import VehicleProfile
from evse.sim.scenario import Scenario, ScenarioEvent
from evse.sim.vehicle_plant import PluggedVehicle
from evse.sim.vehicles import VehicleError
from evse.sim.world import SimWorld

#: a scenario with vehicles still waiting for a session that never comes ends after this (simulated) time
DEFAULT_MAX_DURATION_S = 6 * 3600.0


class StationPort(Protocol):
    """What the runner needs of the station (a subset of `evse.station.control.StationControl`)."""

    async def stop(self, connector_id: int, reason: str) -> bool: ...


@dataclass
class SessionRecord:
    """One vehicle visit on one connector: from plug-in to unplug, with its session's outcome."""

    connector_id: int
    vehicle: str
    standard: str
    plugged_s: float
    soc_start_pct: float
    session_id: str | None = None
    started_s: float | None = None
    ended_s: float | None = None
    stage: Stage = Stage.IDLE
    outcome: Outcome | None = None
    stage_durations_s: dict[Stage, float] = field(default_factory=dict)
    energy_wh: float = 0.0
    soc_end_pct: float | None = None
    limit_a: float | None = None
    limit_source: str = ""
    faults: list[str] = field(default_factory=list)
    trips: list[str] = field(default_factory=list)


@dataclass
class _Connector:
    plugged: PluggedVehicle | None = None
    record: SessionRecord | None = None
    unplug_handle: asyncio.TimerHandle | None = None


Note = Callable[[float, int, str], None]


class ScenarioRunner:
    def __init__(
        self,
        world: SimWorld,
        scenario: Scenario,
        bus: EventBus,
        station: StationPort | None = None,
        *,
        max_duration_s: float = DEFAULT_MAX_DURATION_S,
    ) -> None:
        self.world = world
        self.dock = VehicleDock(world)
        self.scenario = scenario
        self.bus = bus
        self.station = station
        self.max_duration_s = max_duration_s
        self.records: list[SessionRecord] = []
        self.connectors: dict[int, _Connector] = {}
        #: observers of what happens (t_s, connector_id, text): the view prints them
        self.notes: list[Note] = []
        self.t0_s = 0.0
        self._pending: set[int] = set()
        self._stage_waiters: dict[int, list[ScenarioEvent]] = {}
        self._done: asyncio.Future[str] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsubscribe: Callable[[], None] | None = None

    # ---- running
    async def run(self) -> list[SessionRecord]:
        loop = asyncio.get_running_loop()
        self.t0_s = loop.time()
        self._done = loop.create_future()
        self._unsubscribe = self.bus.subscribe(self._on_event)
        for event in self.scenario.events:
            self._pending.add(event.index)
            if event.at_s is not None:
                loop.call_at(self.t0_s + event.at_s, self._fire, event)
            else:
                self._stage_waiters.setdefault(event.connector_id, []).append(event)
        limit_s = self.scenario.end_after_s if self.scenario.end_after_s is not None else self.max_duration_s
        end_handle = loop.call_at(self.t0_s + limit_s, self._finish, "time limit")
        try:
            why = await self._done
            self._note(0, f"scenario ends ({why})")
        finally:
            end_handle.cancel()
            if self._unsubscribe is not None:
                self._unsubscribe()
            for connector_id, connector in self.connectors.items():
                if connector.record is not None and connector.plugged is not None:
                    connector.record.soc_end_pct = connector.plugged.battery.soc_pct
                self._stop_vehicle(connector_id)
            for task in list(self._tasks):
                task.cancel()
        return self.records

    def elapsed_s(self) -> float:
        return asyncio.get_running_loop().time() - self.t0_s

    def _finish(self, why: str) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(why)

    def _maybe_done(self) -> None:
        if self._pending:
            return
        if any(c.plugged is not None for c in self.connectors.values()):
            return
        self._finish("every event played, every vehicle gone")

    def _note(self, connector_id: int, text: str) -> None:
        t = self.elapsed_s()
        for observer in self.notes:
            observer(t, connector_id, text)

    # ---- events of the scenario
    def _fire(self, event: ScenarioEvent) -> None:
        self._pending.discard(event.index)
        try:
            if event.action == "plug":
                assert event.profile is not None
                self.plug(event.connector_id, event.profile)
            elif event.action == "unplug":
                self.unplug(event.connector_id)
            elif event.action == "fault":
                self._inject(event)
            elif event.action == "clear_fault":
                if faults.clear(self.world, event.connector_id, event.fault):
                    self._note(event.connector_id, f"fault {event.fault} cleared")
            elif event.action == "stop":
                self._spawn(self._stop(event))
            elif event.action == "end":
                self._finish("end event")
                return
        except (faults.FaultError, VehicleError, RuntimeError) as exc:
            self._note(event.connector_id, f"event {event.index} not played: {exc}")
        self._maybe_done()

    def _inject(self, event: ScenarioEvent) -> None:
        fault = faults.inject(self.world, event.connector_id, event.fault, event.params)
        params = ", ".join(f"{k}={v}" for k, v in fault.params.items())
        self._note(event.connector_id, f"fault injected: {event.fault}" + (f" ({params})" if params else ""))
        record = self.connectors.get(event.connector_id, _Connector()).record
        if record is not None:
            record.faults.append(event.fault)

    async def _stop(self, event: ScenarioEvent) -> None:
        reason = event.stop_reason.value if event.stop_reason else "user_stop"
        if self.station is None:
            self._note(event.connector_id, "stop requested, but there is no station to stop")
            return
        accepted = await self.station.stop(event.connector_id, reason)
        self._note(event.connector_id, f"stop requested ({reason})" + ("" if accepted else ": nothing to stop"))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- vehicles
    def plug(self, connector_id: int, profile: VehicleProfile) -> PluggedVehicle:
        connector = self.connectors.setdefault(connector_id, _Connector())
        plugged = self.dock.plug(connector_id, profile).plugged
        battery = plugged.battery
        connector.plugged = plugged
        record = SessionRecord(
            connector_id, profile.name, profile.standard, self.elapsed_s(), soc_start_pct=battery.soc_pct
        )
        connector.record = record
        self.records.append(record)
        self._note(connector_id, f"plugged in: {profile.name} at {battery.soc_pct:.0f} % SOC")
        return plugged

    def unplug(self, connector_id: int) -> None:
        connector = self.connectors.get(connector_id)
        if connector is None or connector.plugged is None:
            return
        record = connector.record
        if record is not None and record.soc_end_pct is None:
            record.soc_end_pct = connector.plugged.battery.soc_pct
        self._stop_vehicle(connector_id)
        self._note(connector_id, "unplugged")
        self._maybe_done()

    def _stop_vehicle(self, connector_id: int) -> None:
        connector = self.connectors[connector_id]
        if connector.unplug_handle is not None:
            connector.unplug_handle.cancel()
            connector.unplug_handle = None
        self.dock.unplug(connector_id)
        connector.plugged = None

    # ---- the station's events
    def _record(self, event: Event) -> SessionRecord | None:
        connector = self.connectors.get(event.connector_id)
        return connector.record if connector is not None else None

    def _on_event(self, event: Event) -> None:
        record = self._record(event)
        if isinstance(event, StageChanged):
            self._on_stage(event)
        if record is None:
            return
        if isinstance(event, SessionStarted):
            if record.session_id is not None and record.session_id != event.session_id and record.outcome:
                return  # a second session on the same plug-in (rare): the record keeps the first
            record.session_id = event.session_id
            record.started_s = event.t_s - self.t0_s
        elif isinstance(event, StageChanged):
            record.stage = event.stage
        elif isinstance(event, LimitChanged):
            record.limit_a, record.limit_source = event.current_limit_a, event.source
        elif isinstance(event, MeterSample):
            record.energy_wh = event.energy_wh
            if event.limit_source:
                record.limit_source = event.limit_source
            if event.offered_current_a is not None:
                record.limit_a = event.offered_current_a
        elif isinstance(event, FaultRaised):
            record.trips.append(event.code)
            self._note(event.connector_id, f"safety: {event.code} — {event.detail}")
        elif isinstance(event, SessionEnded):
            self._on_ended(event, record)

    def _on_stage(self, event: StageChanged) -> None:
        waiting = self._stage_waiters.get(event.connector_id, [])
        for scenario_event in [e for e in waiting if e.on_stage == event.stage]:
            waiting.remove(scenario_event)
            loop = asyncio.get_running_loop()
            loop.call_later(scenario_event.after_s, self._fire, scenario_event)

    def _on_ended(self, event: SessionEnded, record: SessionRecord) -> None:
        record.outcome = event.outcome
        record.ended_s = event.t_s - self.t0_s
        record.stage_durations_s = dict(event.stage_durations_s)
        record.energy_wh = event.energy_wh
        connector = self.connectors[event.connector_id]
        if connector.plugged is not None:
            record.soc_end_pct = connector.plugged.battery.soc_pct
        self._note(event.connector_id, f"session ended: {event.outcome.summary()}")
        # on_stage events refer to the connector's first session: the ones it never reached are dropped
        for skipped in self._stage_waiters.pop(event.connector_id, []):
            self._pending.discard(skipped.index)
            self._note(
                event.connector_id, f"event {skipped.index} skipped: the session never reached {skipped.on_stage}"
            )
        if connector.plugged is not None and self.scenario.unplug_after_s >= 0:
            loop = asyncio.get_running_loop()
            connector.unplug_handle = loop.call_later(self.scenario.unplug_after_s, self.unplug, event.connector_id)
