"""The session runner: walks a standard's plan, one stage step at a time, and always ends with an outcome.

Theory of operation
-------------------
* The machine (`evse.session.machine`) is the state table; this runner performs each stage's step as a plain
  asyncio task (`adapter.run_stage(stage, ctx)`) bounded by the stage's timeout, and moves the machine after it.
* A step ends the session by raising `SessionEnd` (the adapter names the reason, the runner the stage), by running
  out of time (`timeout`), by a station-side stop (the step is cancelled, `ctx.stop_requested` is set and
  `ctx.stop_reason` says why) or by a safety trip (the supervisor has already cut the power; the step is
  cancelled). The first cause wins; a failure later in stopping/unlock replaces a normal outcome (the session did
  not end cleanly) but never another failure.
* STOPPING and UNLOCK always run: the adapter's step (which must tolerate a dead link and a tripped power path),
  then the runner makes sure of the power path itself: contactors open (ramped unless tripped), output discharged
  below 60 V, connector unlocked. A session ends FINISHED or, when its outcome is a failure, FAULTED.
* AUTHORIZATION: unless the adapter declares `handles_authorization = True` (Plug & Charge inside its protocol),
  the runner waits for the station's authorization (free vend, allow-list, remote start, an `Authorizer`) before
  the adapter's step runs; the adapter's link tasks keep the vehicle awake meanwhile.
* Events out: SessionStarted, StageChanged, LimitsNegotiated / LimitChanged / InsulationMeasured /
  VehicleIdentified / TraceRecord (from the context), MeterSample at `meter_sample_period_s` during energy transfer,
  FaultRaised (from the supervisor), SessionEnded.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from evse.safety.envelope import Envelope
from evse.safety.settings import SafetySettings
from evse.safety.supervisor import Supervisor
from evse.session.adapter import ProtocolAdapter
from evse.session.errors import SessionEnd
from evse.session.events import Event, MeterSample, PilotQuality, SessionEnded, SessionStarted, StageChanged
from evse.session.hardware import ConnectorRoles
from evse.session.machine import ADVANCE, BEGIN, END, FAULT, FINISH, PAUSE, RESUME, SessionMachine, plan_stages
from evse.session.power_path import SessionContext
from evse.session.settings import SessionSettings
from evse.session.signal_quality import connection_line_readings
from evse.session.stages import Outcome, Reason, Stage, StageLog

_CLOSING = (Stage.STOPPING, Stage.UNLOCK)
VEHICLE_PAUSE = "vehicle"
STATION_PAUSE = "station"


def settings_timeouts(sections: dict[str, Any]) -> Callable[[str], float]:
    """`ctx.timeout_s("gbt.bhm_timeout_s")` from settings objects keyed by section name."""

    def lookup(name: str) -> float:
        section, _, key = name.partition(".")
        value = getattr(sections.get(section), key, None)
        if not isinstance(value, int | float):
            raise KeyError(f"no timeout named {name!r} in the configuration sections {sorted(sections)}")
        return float(value)

    return lookup


class Session:
    """One charging session on one connector, from plug-in to unlock."""

    def __init__(
        self,
        *,
        connector_id: int,
        adapter: ProtocolAdapter,
        roles: ConnectorRoles,
        envelope: Envelope,
        supervisor: Supervisor,
        session_settings: SessionSettings,
        safety_settings: SafetySettings,
        publish: Callable[[Event], None],
        timeouts: Callable[[str], float] | None = None,
        session_id: str | None = None,
    ) -> None:
        self.connector_id = connector_id
        self.adapter = adapter
        self.roles = roles
        self.supervisor = supervisor
        self.settings = session_settings
        self._publish = publish
        self.session_id = session_id or uuid.uuid4().hex[:16]
        self.machine = SessionMachine(adapter.plan)
        self.stages = plan_stages(adapter.plan)
        self.stage_log = StageLog()
        self.outcome: Outcome | None = None
        self.energy_wh = 0.0
        self.paused_by: set[str] = set()
        self.rejections: list[str] = []
        self.ctx = SessionContext(
            connector_id=connector_id,
            session_id=self.session_id,
            plan=adapter.plan,
            roles=roles,
            envelope=envelope,
            supervisor=supervisor,
            settings=safety_settings,
            publish=publish,
            stage=lambda: self.machine.stage,
            on_pause=self._vehicle_paused,
            timeouts=timeouts or settings_timeouts({}),
        )
        self.log = self.ctx.log
        self._loop = asyncio.get_running_loop()
        self._step: asyncio.Task[None] | None = None
        self._closing = False
        self._paused_since_s: float | None = None
        self.done = asyncio.Event()

    # ------------------------------------------------------------------ commands in
    @property
    def stage(self) -> Stage:
        return self.machine.stage

    def authorize(self, id_tag: str) -> None:
        """The station accepted `id_tag` for this session."""
        self.ctx.id_tag = id_tag
        self.ctx.authorized.set()

    def authorization_rejected(self, id_tag: str, status: str) -> None:
        """Remember a rejected identification: a session that times out waiting says so."""
        self.rejections.append(f"{id_tag}: {status}")

    def request_stop(self, reason: Reason, detail: str = "") -> None:
        """A station-side stop (user, CSMS, shutdown, unplug): cancel the running step, then stop and unlock."""
        if self.machine.ended or self._closing:
            self.supervisor.stop_requested()
            return
        if self.ctx.stop_reason is None:
            self.ctx.stop_reason = reason
        self.ctx.stop_requested.set()
        self.supervisor.stop_requested()
        self._end(Outcome.of(self.stage, reason, detail))

    def emergency_stop(self, detail: str = "emergency stop command") -> None:
        """Trip at once (power off, contactors open), then end FAULTED."""
        self.supervisor.trip(Reason.EMERGENCY_STOP, "emergency_stop", detail)

    def set_station_pause(self, paused: bool) -> None:
        """The station suspends (or resumes) delivery; the envelope holds the current at 0 A meanwhile."""
        self.ctx.envelope.set_station_paused(paused)
        self._set_paused(STATION_PAUSE, paused)

    # ------------------------------------------------------------------ the run
    async def run(self) -> Outcome:
        self.supervisor.bind(self.session_id, self._on_trip, getattr(self.adapter, "plug_line", None))
        self._publish(
            SessionStarted(
                connector_id=self.connector_id,
                session_id=self.session_id,
                t_s=self._now(),
                standard=self.adapter.plan.standard,
            )
        )
        try:
            await self._run_body()
            await self._run_closing()
        except asyncio.CancelledError:
            self.ctx.safe_now()
            self._end(Outcome.of(self.stage, Reason.SHUTDOWN, "session task cancelled"))
            if self._step is not None:
                self._step.cancel()
            raise
        finally:
            await self._teardown()
        assert self.outcome is not None
        return self.outcome

    async def _run_body(self) -> None:
        self._move(BEGIN)
        opened = await self._run_step(self.stage, self._open_adapter())
        if not opened:
            return
        body = [s for s in self.stages if s not in _CLOSING]
        for index, stage in enumerate(body):
            if index:
                self._move(ADVANCE)
            if self.outcome is not None:
                return
            if stage is Stage.ENERGY_TRANSFER:
                await self._energy_transfer()
            else:
                await self._run_step(stage, self._stage_step(stage))
            if stage is Stage.CONNECTION_DETECTION:
                # whatever the result: a line out of its window (worn pins) is the evidence of a failed detection
                self._publish_signal_quality()
            if self.outcome is not None:
                return
        self._end(Outcome.of(self.stage, Reason.COMPLETED, "energy transfer step returned"))

    def _publish_signal_quality(self) -> None:
        now = self._now()
        for line, voltage_v, nominal_v in connection_line_readings(self.roles, self.ctx.standard):
            self._publish(
                PilotQuality(
                    connector_id=self.connector_id,
                    session_id=self.session_id,
                    t_s=now,
                    line=line,
                    voltage_v=voltage_v,
                    nominal_v=nominal_v,
                )
            )

    async def _open_adapter(self) -> None:
        await self.adapter.open(self.ctx)

    async def _stage_step(self, stage: Stage) -> None:
        if stage is Stage.AUTHORIZATION and not getattr(self.adapter, "handles_authorization", False):
            await self.ctx.authorized.wait()
        await self.adapter.run_stage(stage, self.ctx)

    async def _energy_transfer(self) -> None:
        if self.paused_by:
            self._move(PAUSE)
        sampler = self._loop.create_task(self._meter_samples(), name=f"meter-{self.connector_id}")
        try:
            await self._run_step(Stage.ENERGY_TRANSFER, self.adapter.run_stage(Stage.ENERGY_TRANSFER, self.ctx))
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler

    async def _run_closing(self) -> None:
        self._closing = True
        completed = self.outcome is not None and self.outcome.reason is Reason.COMPLETED
        self._move(ADVANCE if completed and self.machine.can(ADVANCE) and self.stage is not Stage.PAUSED else END)
        self.supervisor.stop_requested()
        await self._run_step(Stage.STOPPING, self.adapter.run_stage(Stage.STOPPING, self.ctx))
        await self._ensure(self._ensure_stopped)
        self._move(ADVANCE)
        await self._run_step(Stage.UNLOCK, self.adapter.run_stage(Stage.UNLOCK, self.ctx))
        await self._ensure(self._ensure_unlocked)
        assert self.outcome is not None
        self._move(FAULT if self.outcome.failed else FINISH)

    async def _ensure_stopped(self) -> None:
        contactors = self.roles.contactors
        if self.ctx.energy_enabled or contactors.commanded_closed() or contactors.feedback_closed():
            await self.ctx.open_contactors()
        await self.ctx.discharge()

    async def _ensure_unlocked(self) -> None:
        lock = self.roles.lock
        if lock is not None and lock.locked():
            await self.ctx.unlock_connector()

    async def _ensure(self, action: Callable[[], Coroutine[Any, Any, None]]) -> None:
        try:
            await action()
        except SessionEnd as exc:
            self._fail(exc.reason, exc.detail, exc.vehicle_reason)

    async def _run_step(self, stage: Stage, step: Coroutine[Any, Any, None]) -> bool:
        """Run one step under the stage's timeout; True when it completed normally."""
        timeout_s = self.settings.stage_timeout_s(stage)
        task = self._loop.create_task(step, name=f"{stage.value}-{self.connector_id}")
        self._step = task
        try:
            done, _ = await asyncio.wait({task}, timeout=None if timeout_s == float("inf") else timeout_s)
        except asyncio.CancelledError:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            raise
        finally:
            self._step = None
        if not done:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            detail = f"{stage.value} did not complete within {timeout_s:g} s"
            reason = Reason.TIMEOUT
            if stage is Stage.AUTHORIZATION and self.rejections:
                reason, detail = Reason.AUTHORIZATION_REJECTED, f"rejected: {', '.join(self.rejections)}"
            self._fail(reason, detail)
            return False
        if task.cancelled():
            return False  # whoever cancelled it recorded the outcome
        exc = task.exception()
        if exc is None:
            return True
        if isinstance(exc, SessionEnd):
            self._fail(exc.reason, exc.detail, exc.vehicle_reason)
        else:
            self.log.error("stage step crashed", stage=stage.value, error=repr(exc), exc_info=exc)
            self._fail(Reason.PROTOCOL_ERROR, f"internal error in the {stage.value} step: {exc!r}")
        return False

    # ------------------------------------------------------------------ outcome bookkeeping
    def _fail(self, reason: Reason, detail: str = "", vehicle_reason: str = "") -> None:
        self._end(Outcome.of(self.stage, reason, detail, vehicle_reason))

    def _end(self, outcome: Outcome) -> None:
        """Record `outcome` if it is the first, or a failure replacing a normal end; cancel a running body step."""
        current = self.outcome
        if current is None or (outcome.failed and not current.failed):
            self.outcome = outcome
            self.log.info("session outcome", outcome=outcome.summary())
        if not self._closing and self._step is not None:
            self._step.cancel()

    def _on_trip(self, reason: Reason, code: str, detail: str) -> None:
        """Called synchronously by the supervisor after it cut the power."""
        self._end(Outcome.of(self.stage, reason, f"{code}: {detail}"))

    # ------------------------------------------------------------------ stages and pause
    def _move(self, trigger: str) -> None:
        previous = self.machine.stage
        stage = self.machine.fire(trigger)
        now = self._now()
        self.stage_log.enter(stage, now)
        self._paused_since_s = now if stage is Stage.PAUSED else None
        self.log = self.log.bind(stage=stage.value)
        self._publish(
            StageChanged(
                connector_id=self.connector_id, session_id=self.session_id, t_s=now, stage=stage, previous=previous
            )
        )

    def _vehicle_paused(self, paused: bool) -> None:
        self._set_paused(VEHICLE_PAUSE, paused)

    def _set_paused(self, who: str, paused: bool) -> None:
        if paused:
            self.paused_by.add(who)
        else:
            self.paused_by.discard(who)
        if self.paused_by and self.stage is Stage.ENERGY_TRANSFER:
            self._move(PAUSE)
        elif not self.paused_by and self.stage is Stage.PAUSED:
            self._move(RESUME)

    async def _meter_samples(self) -> None:
        period_s = self.settings.meter_sample_period_s
        meter = self.roles.meter
        start_wh = meter.energy_wh() if meter is not None else 0.0
        last_s = self._now()
        while True:
            await asyncio.sleep(period_s)
            now = self._now()
            voltage_v, current_a = self.ctx.measured_voltage_v(), self.ctx.measured_current_a()
            if meter is not None:
                self.energy_wh = meter.energy_wh() - start_wh
            else:
                self.energy_wh += voltage_v * current_a * (now - last_s) / 3600.0
            last_s = now
            setpoint = self.ctx.setpoint()
            vehicle = self.ctx.vehicle
            temperatures = self.roles.temperatures.readings_c() if self.roles.temperatures is not None else {}
            self._publish(
                MeterSample(
                    connector_id=self.connector_id,
                    session_id=self.session_id,
                    t_s=now,
                    voltage_v=voltage_v,
                    current_a=current_a,
                    power_w=voltage_v * current_a,
                    energy_wh=self.energy_wh,
                    soc_pct=vehicle.soc_pct,
                    requested_current_a=vehicle.requested_current_a,
                    offered_current_a=setpoint.current_a,
                    limit_source=setpoint.limit_source,
                    temperatures_c=dict(temperatures),
                )
            )
            if self._paused_since_s is not None and now - self._paused_since_s > self.settings.paused_timeout_s:
                self._fail(Reason.TIMEOUT, f"paused for more than {self.settings.paused_timeout_s:g} s")

    async def _teardown(self) -> None:
        try:
            await self.adapter.close()
        except Exception as exc:  # a broken adapter must not keep the connector from ending its session
            self.log.error("adapter close failed", error=repr(exc))
        now = self._now()
        self.stage_log.close(now)
        self.ctx.close()
        self.supervisor.unbind()
        outcome = self.outcome or Outcome.of(self.stage, Reason.SHUTDOWN)
        self.outcome = outcome
        self._publish(
            SessionEnded(
                connector_id=self.connector_id,
                session_id=self.session_id,
                t_s=now,
                outcome=outcome,
                stage_durations_s=self.stage_log.durations_s(),
                energy_wh=self.energy_wh,
            )
        )
        self.done.set()

    def _now(self) -> float:
        return self._loop.time()
