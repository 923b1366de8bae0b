"""The station: its connectors, their sessions, authorization, power sharing and availability.

Theory of operation
-------------------
* `start()` first drives every output to the safe state (the previous run may have died mid-session), attaches
  each connector's supervisor, listens to its plug line (CP, CHAdeMO connection check, GB/T CC1) and starts a
  session on plug-in when the connector is available and not faulted.
* Authorization: free vend authorizes every session at once; otherwise an identification (local `authorize`,
  `remote_start`) is checked by the `LocalAuthorizer` (allow-list, then the pluggable `Authorizer`) and handed to
  the running session, or kept until the plug arrives (valid for the authorization stage's timeout).
* Power sharing: the station budget is shared between connectors with a session (fair share, each capped by its
  rating, the CSMS limit and the vehicle's maximum) and recomputed at once on session start/end, CSMS limit change
  and negotiation; each share feeds that connector's envelope.
* Status (OCPP names) is derived from session and hardware (`evse.station.availability`) after every relevant
  event and published as `ConnectorStatusChanged`.
* `shutdown(timeout_s)` asks every session to stop (current ramped down, contactors open, discharged, unlocked),
  waits up to `timeout_s`, cancels what remains (the session then trips to safe synchronously) and ends in the
  safe state.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
from collections.abc import Callable

import msgspec
import structlog

from evse.safety.envelope import Envelope
from evse.safety.settings import SafetySettings
from evse.safety.supervisor import Supervisor
from evse.session.events import (
    ConnectorStatusChanged,
    Event,
    EventBus,
    LimitsNegotiated,
    MeterSample,
    SessionEnded,
    StageChanged,
)
from evse.session.session import STATION_PAUSE, VEHICLE_PAUSE, Session
from evse.session.settings import SessionSettings
from evse.session.stages import Outcome, Reason, Stage
from evse.station.allocation import allocate
from evse.station.authorization import FREE_VEND_ID_TAG, LocalAuthorizer
from evse.station.availability import derive_status, plugged_in
from evse.station.connector import Connector, ConnectorSpec, PendingAuthorization
from evse.station.control import (
    Authorization,
    AuthorizationStatus,
    Authorizer,
    ConnectorSnapshot,
    ConnectorStatus,
)

log = structlog.get_logger("evse.station")

#: the plug lines are also polled this often (a listener that never fires must not hide a plug-in)
PLUG_POLL_PERIOD_S = 1.0
#: `alive()` is False when the station's control loop has not run for this many poll periods
ALIVE_PERIODS = 5
_SINGLE_LINE_OUTPUTS = ("d1", "d2", "aux_12v", "aux_24v")


class Station:
    """`StationControl` for the daemon, the API, OCPP and `evse sim`."""

    def __init__(
        self,
        connectors: list[ConnectorSpec],
        *,
        bus: EventBus,
        session_settings: SessionSettings | None = None,
        safety_settings: SafetySettings | None = None,
        power_budget_w: float = math.inf,
        authorizer: LocalAuthorizer | None = None,
        timeouts: Callable[[str], float] | None = None,
    ) -> None:
        self.bus = bus
        self.session_settings = session_settings or SessionSettings()
        self.safety_settings = safety_settings or SafetySettings()
        self.power_budget_w = power_budget_w
        self.authorizer = authorizer or LocalAuthorizer()
        self._timeouts = timeouts
        self.connectors: dict[int, Connector] = {}
        for spec in connectors:
            envelope = Envelope(spec.charger, spec.cable)
            supervisor = Supervisor(spec.connector_id, spec.roles, envelope, self.safety_settings, bus.publish)
            self.connectors[spec.connector_id] = Connector(spec, envelope, supervisor)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poller: asyncio.Task[None] | None = None
        self._heartbeat_s = -math.inf
        self._started = False
        #: OCPP (ReserveNow): connectors held for a reservation — Reserved while nothing else is going on
        self._reserved: set[int] = set()
        #: OCPP ConnectionTimeOut: how long an identification waits for the plug and a plugged vehicle for an
        #: identification (None: the session's authorization stage timeout)
        self._connection_timeout_s: float | None = None
        #: plugged, but the attempt was abandoned (no identification within the timeout): Available until
        #: unplugged or identified
        self._abandoned: set[int] = set()
        self._pending_expiry: dict[int, asyncio.TimerHandle] = {}
        bus.subscribe(self._on_event)

    # ------------------------------------------------------------------ lifecycle
    def safe_state(self) -> None:
        """Every output off: power modules disabled and discharging, contactors open, signal lines off."""
        for connector in self.connectors.values():
            roles = connector.spec.roles
            roles.power.disable()
            roles.contactors.open()
            roles.power.discharge()
            if roles.lines is not None:
                for line in _SINGLE_LINE_OUTPUTS:
                    with contextlib.suppress(ValueError, KeyError):
                        roles.lines.set_output(line, False)
            if roles.pilot is not None:
                roles.pilot.set_pwm(None)

    async def start(self) -> None:
        self.safe_state()
        self._loop = asyncio.get_running_loop()
        for connector in self.connectors.values():
            connector.supervisor.attach()
            roles = connector.spec.roles
            signal = roles.pilot if connector.spec.standard == "ccs" else roles.lines
            if signal is not None:
                signal.add_listener(functools.partial(self._plug_changed, connector))
            if connector.spec.start is not None:
                await connector.spec.start()
        self._started = True
        self._heartbeat_s = self._loop.time()
        self._poller = self._loop.create_task(self._poll(), name="station-poll")
        for connector in self.connectors.values():
            self._plug_changed(connector)
            self._refresh(connector)

    async def shutdown(self, timeout_s: float) -> None:
        """Stop every session safely within `timeout_s`, then leave the safe state."""
        running = [c for c in self.connectors.values() if c.running and c.session is not None]
        for connector in running:
            assert connector.session is not None
            connector.session.request_stop(Reason.SHUTDOWN)
        tasks = [c.task for c in running if c.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None
        self.safe_state()
        for connector in self.connectors.values():
            if connector.spec.stop is not None:
                with contextlib.suppress(Exception):
                    await connector.spec.stop()
        self._started = False

    def alive(self) -> bool:
        if self._loop is None or self._poller is None or self._poller.done():
            return False
        return self._loop.time() - self._heartbeat_s < ALIVE_PERIODS * PLUG_POLL_PERIOD_S

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(PLUG_POLL_PERIOD_S)
            self._heartbeat_s = loop.time()
            for connector in self.connectors.values():
                self._plug_changed(connector)

    # ------------------------------------------------------------------ plug-in and sessions
    def _plug_changed(self, connector: Connector) -> None:
        try:
            plugged = plugged_in(connector.spec.standard, connector.spec.roles)
        except Exception as exc:  # a sensor read failing must not stop the station's loop
            log.warning("plug detection failed", connector_id=connector.connector_id, error=repr(exc))
            return
        if plugged == connector.plugged:
            return
        connector.plugged = plugged
        self._abandoned.discard(connector.connector_id)
        if plugged:
            self._start_session(connector)
        else:
            connector.session_over = False
            if connector.running and connector.session is not None:
                connector.session.request_stop(Reason.UNPLUGGED)
        self._refresh(connector)

    def _start_session(self, connector: Connector) -> bool:
        if not self._started or connector.running or not connector.available:
            return False
        if connector.supervisor.persistent_fault() is not None:
            return False
        spec = connector.spec
        session = Session(
            connector_id=spec.connector_id,
            adapter=spec.new_adapter(),
            roles=spec.roles,
            envelope=connector.envelope,
            supervisor=connector.supervisor,
            session_settings=self._session_settings(),
            safety_settings=self.safety_settings,
            publish=self.bus.publish,
            timeouts=self._timeouts,
        )
        connector.session = session
        connector.id_tag = None
        connector.sessions += 1
        connector.session_over = False
        pending = connector.pending
        connector.pending = None
        if self.authorizer.free_vend:
            self._hand_over(connector, FREE_VEND_ID_TAG)
        elif pending is not None and pending.expires_s >= self._now():
            self._hand_over(connector, pending.authorization.id_tag)
        connector.task = asyncio.get_running_loop().create_task(self._run(connector, session))
        self._reallocate()
        return True

    def _hand_over(self, connector: Connector, id_tag: str) -> None:
        assert connector.session is not None
        connector.id_tag = id_tag
        connector.session.authorize(id_tag)

    async def _run(self, connector: Connector, session: Session) -> Outcome:
        try:
            return await session.run()
        finally:
            connector.task = None  # not running any more: the reallocation below must not count it
            connector.last_outcome = session.outcome
            connector.session_over = connector.plugged
            outcome = session.outcome
            if (
                connector.plugged
                and outcome is not None
                and outcome.stage is Stage.AUTHORIZATION
                and outcome.reason is Reason.TIMEOUT
            ):
                self._abandoned.add(connector.connector_id)  # nobody identified in time (ConnectionTimeOut)
            if connector.unavailable_pending:
                connector.available, connector.unavailable_pending = False, False
            self._reallocate()
            self._refresh(connector)

    # ------------------------------------------------------------------ power sharing
    def _reallocate(self) -> None:
        caps: dict[int, float] = {}
        for cid, connector in self.connectors.items():
            if not connector.running:
                continue
            caps[cid] = self._cap_w(connector)
        shares = allocate(self.power_budget_w, caps) if math.isfinite(self.power_budget_w) else {}
        for cid, connector in self.connectors.items():
            if math.isfinite(self.power_budget_w):
                connector.envelope.set_station_share_w(shares.get(cid, 0.0))
            else:
                connector.envelope.set_station_share_w(None)

    def _cap_w(self, connector: Connector) -> float:
        charger = connector.spec.charger
        caps = [charger.max_power_w]
        if connector.csms_power_w is not None:
            caps.append(connector.csms_power_w)
        if connector.csms_current_a is not None:
            caps.append(connector.csms_current_a * charger.max_voltage_v)
        vehicle = connector.envelope.vehicle
        if vehicle is not None:
            caps.append(vehicle.max_power_w or vehicle.max_voltage_v * vehicle.max_current_a)
        return max(0.0, min(caps))

    # ------------------------------------------------------------------ status
    def _on_event(self, event: Event) -> None:
        connector = self.connectors.get(event.connector_id)
        if connector is None or isinstance(event, ConnectorStatusChanged):
            return
        if isinstance(event, LimitsNegotiated):
            self._reallocate()
        if isinstance(event, StageChanged | SessionEnded | MeterSample) or getattr(event, "tripped", False):
            self._refresh(connector)

    def _status(self, connector: Connector) -> ConnectorStatus:
        session = connector.session if connector.running else None
        stage = session.stage if session is not None else None
        allowed_a = requested_a = None
        if session is not None and stage is Stage.ENERGY_TRANSFER:
            voltage_v = session.ctx.measured_voltage_v()
            allowed_a, _ = connector.envelope.current_limit_a(max(voltage_v, 1.0))
            requested_a = session.ctx.vehicle.requested_current_a
        return derive_status(
            available=connector.available,
            fault=connector.supervisor.persistent_fault(),
            plugged=connector.plugged,
            stage=stage,
            session_over=connector.session_over,
            station_paused=session is not None and STATION_PAUSE in session.paused_by,
            vehicle_paused=session is not None and VEHICLE_PAUSE in session.paused_by,
            requested_current_a=requested_a,
            allowed_current_a=allowed_a,
            reserved=connector.connector_id in self._reserved,
            abandoned=connector.connector_id in self._abandoned,
            identified=connector.pending is not None and connector.pending.expires_s > self._now(),
        )

    def _refresh(self, connector: Connector) -> None:
        status = self._status(connector)
        if status is connector.status:
            return
        connector.status = status
        outcome = connector.last_outcome
        info = outcome.summary()[:50] if status is ConnectorStatus.FAULTED and outcome is not None else ""
        error = "OtherError" if status is ConnectorStatus.FAULTED else "NoError"
        self.bus.publish(
            ConnectorStatusChanged(
                connector_id=connector.connector_id,
                session_id=connector.session.session_id if connector.session is not None else None,
                t_s=self._now(),
                status=status.value,
                error_code=error,
                info=info,
            )
        )

    # ------------------------------------------------------------------ StationControl
    def connector_ids(self) -> list[int]:
        return sorted(self.connectors)

    def snapshot(self, connector_id: int) -> ConnectorSnapshot:
        connector = self._connector(connector_id)
        roles = connector.spec.roles
        session = connector.session
        voltage_v, current_a = roles.power.measured_voltage_v(), roles.power.measured_current_a()
        limit_a, source = connector.envelope.current_limit_a(max(voltage_v, 1.0))
        running = session is not None and connector.running
        if running and session is not None and session.ctx.energy_enabled:
            setpoint = session.ctx.setpoint()
            source = setpoint.limit_source
        fault = connector.supervisor.persistent_fault()
        return ConnectorSnapshot(
            connector_id=connector_id,
            standard=connector.spec.standard,
            status=connector.status or self._status(connector),
            stage=(session.stage.value if session is not None and running else Stage.IDLE.value),
            session_id=session.session_id if session is not None and running else None,
            id_tag=connector.id_tag if running else None,
            voltage_v=voltage_v,
            current_a=current_a,
            power_w=voltage_v * current_a,
            energy_wh=session.energy_wh if session is not None and running else 0.0,
            soc_pct=session.ctx.vehicle.soc_pct if session is not None and running else None,
            current_limit_a=limit_a,
            limit_source=source,
            error_code="OtherError" if fault is not None else "NoError",
            info=fault or (connector.last_outcome.summary() if connector.last_outcome is not None else ""),
        )

    async def authorize(self, connector_id: int, id_tag: str) -> Authorization:
        connector = self._connector(connector_id)
        result = await self.authorizer.authorize(connector_id, id_tag)
        session = connector.session if connector.running else None
        if result.status is not AuthorizationStatus.ACCEPTED:
            if session is not None:
                session.authorization_rejected(id_tag, result.status.value)
            return result
        if session is not None:
            if not session.ctx.authorized.is_set():
                self._hand_over(connector, id_tag)
        else:
            self._identified(connector, result)
        return result

    async def remote_start(self, connector_id: int, id_tag: str) -> bool:
        connector = self._connector(connector_id)
        if not connector.available or connector.supervisor.persistent_fault() is not None:
            return False
        session = connector.session if connector.running else None
        if session is not None:
            if session.ctx.authorized.is_set() or session.machine.ended:
                return False
            self._hand_over(connector, id_tag)
            return True
        authorization = Authorization(AuthorizationStatus.ACCEPTED, id_tag, source="remote_start")
        self._identified(connector, authorization)
        return True

    # ------------------------------------------------------------------ identification before the plug, timeouts
    def _authorization_wait_s(self) -> float:
        if self._connection_timeout_s is not None:
            return self._connection_timeout_s
        return self.session_settings.authorization_timeout_s

    def _session_settings(self) -> SessionSettings:
        if self._connection_timeout_s is None:
            return self.session_settings
        return msgspec.structs.replace(self.session_settings, authorization_timeout_s=self._connection_timeout_s)

    def _identified(self, connector: Connector, authorization: Authorization) -> None:
        """An identification without a session: kept for the plug (Preparing) until the connection timeout; a
        vehicle still plugged in after an abandoned attempt starts a session with it at once."""
        cid = connector.connector_id
        expires_s = self._now() + self._authorization_wait_s()
        connector.pending = PendingAuthorization(authorization, expires_s)
        old = self._pending_expiry.pop(cid, None)
        if old is not None:
            old.cancel()
        loop = self._loop or asyncio.get_running_loop()
        self._pending_expiry[cid] = loop.call_at(expires_s, self._identification_expired, connector)
        if connector.plugged and cid in self._abandoned and not connector.running:
            self._abandoned.discard(cid)
            self._start_session(connector)
        self._refresh(connector)

    def _identification_expired(self, connector: Connector) -> None:
        self._pending_expiry.pop(connector.connector_id, None)
        if connector.pending is not None and connector.pending.expires_s <= self._now():
            connector.pending = None
        self._refresh(connector)

    def set_connection_timeout(self, timeout_s: float | None) -> None:
        """OCPP ConnectionTimeOut: seconds an identification waits for the plug and a plugged vehicle waits
        for an identification (the next sessions' authorization stage); None or ≤ 0: the configured stage
        timeout."""
        self._connection_timeout_s = timeout_s if timeout_s is not None and timeout_s > 0 else None

    def set_reserved(self, connector_id: int, reserved: bool) -> None:
        """OCPP ReserveNow accepted (True) / the reservation used, cancelled or expired (False): an idle
        connector shows Reserved meanwhile."""
        connector = self._connector(connector_id)
        if reserved:
            self._reserved.add(connector_id)
        else:
            self._reserved.discard(connector_id)
        self._refresh(connector)

    async def stop(self, connector_id: int, reason: str) -> bool:
        """Stop that connector's session (`StationControl`); the whole station stops with `shutdown(timeout_s)`."""
        connector = self._connector(connector_id)
        if not connector.running or connector.session is None:
            return False
        try:
            why = Reason(reason)
        except ValueError:
            why = Reason.USER_STOP
        connector.session.request_stop(why)
        return True

    def set_available(self, connector_id: int, available: bool) -> bool:
        connector = self._connector(connector_id)
        if available:
            connector.available, connector.unavailable_pending = True, False
            scheduled = False
        elif connector.running:
            connector.unavailable_pending = True
            scheduled = True
        else:
            connector.available = False
            scheduled = False
        self._refresh(connector)
        if available and connector.plugged and not connector.running and not connector.session_over:
            self._start_session(connector)
        return not scheduled

    def set_csms_limit(self, connector_id: int, current_a: float | None, power_w: float | None) -> None:
        connector = self._connector(connector_id)
        connector.csms_current_a, connector.csms_power_w = current_a, power_w
        connector.envelope.set_csms(current_a, power_w)
        self._reallocate()

    def set_station_pause(self, connector_id: int, paused: bool) -> bool:
        """Suspend (SuspendedEVSE) or resume delivery on a running session."""
        connector = self._connector(connector_id)
        if not connector.running or connector.session is None:
            return False
        connector.session.set_station_pause(paused)
        self._refresh(connector)
        return True

    def emergency_stop(self, connector_id: int) -> bool:
        connector = self._connector(connector_id)
        connector.supervisor.trip(Reason.EMERGENCY_STOP, "emergency_stop", "emergency stop command")
        return True

    async def unlock(self, connector_id: int) -> bool:
        connector = self._connector(connector_id)
        lock = connector.spec.roles.lock
        if connector.running and connector.session is not None:
            connector.session.request_stop(Reason.USER_STOP, "unlock requested")
            await connector.session.done.wait()
        if lock is None:
            return True
        roles = connector.spec.roles
        if max(roles.power.measured_voltage_v(), roles.contactors.vehicle_side_voltage_v()) >= (
            self.safety_settings.unlock_max_voltage_v
        ):
            return False
        lock.unlock()
        deadline = self._now() + self.safety_settings.lock_timeout_s
        for _ in range(int(self.safety_settings.lock_timeout_s / self.safety_settings.poll_period_s) + 1):
            if not lock.locked() or self._now() >= deadline:
                break
            await asyncio.sleep(self.safety_settings.poll_period_s)
        return not lock.locked()

    def set_authorizer(self, authorizer: Authorizer) -> None:
        self.authorizer.remote = authorizer

    # ------------------------------------------------------------------ helpers
    def _connector(self, connector_id: int) -> Connector:
        connector = self.connectors.get(connector_id)
        if connector is None:
            known = ", ".join(str(c) for c in sorted(self.connectors))
            raise KeyError(f"no connector {connector_id} in this station (connectors: {known})")
        return connector

    def envelope(self, connector_id: int) -> Envelope:
        return self._connector(connector_id).envelope

    def supervisor(self, connector_id: int) -> Supervisor:
        return self._connector(connector_id).supervisor

    def session(self, connector_id: int) -> Session | None:
        return self._connector(connector_id).session

    def _now(self) -> float:
        return (self._loop or asyncio.get_running_loop()).time()
