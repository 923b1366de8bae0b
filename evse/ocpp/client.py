"""The OCPP 1.6J client: one object holding the state that outlives connections (configuration keys, queue,
authorization, profiles, per-connector state) and the loops of a connection (BootNotification gate, heartbeat,
queue replay, non-transactional outbox).

Theory of operation. The supervisor (evse.ocpp.connection) opens a WebSocket and calls `serve()`. `serve()` runs the
receive loop and, in parallel, the *session*: BootNotification until Accepted (Pending/Rejected wait the CSMS's
interval; nothing else is sent before Accepted, OCPP 1.6 §4.2), then StatusNotification for every connector, then
the heartbeat, the queue sender and the outbox sender. When the connection drops, everything of the session is
cancelled; the persistent queue keeps what must not be lost, the outbox (status, data transfers) is rebuilt.
Session events from the bus arrive on an asyncio queue and are handled by `evse.ocpp.reporting`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from evse.ocpp.authorization import AuthorizationStore
from evse.ocpp.authorizer import Authorizing
from evse.ocpp.config_keys import ConfigurationKeys
from evse.ocpp.connection import ConnectionSupervisor
from evse.ocpp.db import OcppDatabase
from evse.ocpp.faults import ErrorReport
from evse.ocpp.features import Features
from evse.ocpp.handlers import OcppChargePoint
from evse.ocpp.maintenance import Maintenance
from evse.ocpp.operations import Operations
from evse.ocpp.queue import START, TransactionQueue
from evse.ocpp.reporting import Reporting
from evse.ocpp.settings import OcppSettings
from evse.ocpp.state import ConnectorState
from evse.session.events import Event, EventBus
from evse.station.control import StationControl

log = logging.getLogger("evse.ocpp.client")

#: OCPP 1.6 §4.2 RegistrationStatus
ACCEPTED = "Accepted"
#: `alive()`: the housekeeping loop wakes at least every HOUSEKEEPING_MAX_S (60 s); three missed wakes = wedged
LIVENESS_HOUSEKEEPING_S = 180.0
#: `alive()`: slack on the queue sender's longest legitimate pause between two attempts
LIVENESS_MARGIN_S = 60.0


class OcppClient(Reporting, Authorizing, Features, Operations, Maintenance):
    def __init__(
        self,
        settings: OcppSettings,
        bus: EventBus,
        station: StationControl,
        db: OcppDatabase,
        *,
        rng: random.Random | None = None,
        on_reboot: Callable[[str], Awaitable[None]] | None = None,
        open_link: Callable[[str], Awaitable[Any]] | None = None,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.station = station
        self.db = db
        try:
            ids = station.connector_ids()
        except Exception:  # a station without connectors yet: the configured count
            ids = list(range(1, settings.number_of_connectors + 1))
        self.connectors: dict[int, ConnectorState] = {c: ConnectorState(c) for c in ids}
        self.station_error: ErrorReport | None = None  # of connectorId 0 (the charge point), e.g. ReaderFailure
        self.keys = ConfigurationKeys(db, settings, len(ids))
        self.queue = TransactionQueue(db)
        self.auth = AuthorizationStore(db, self.keys)
        self.cp: OcppChargePoint | None = None
        self.accepted = asyncio.Event()
        self.boot_now = asyncio.Event()
        self.registration = ""  # last BootNotification status
        self.last_traffic_s = 0.0
        self.delivered: list[tuple[str, dict[str, Any]]] = []  # recent transaction messages delivered (tests, CLI)
        self.on_reboot = on_reboot
        self._outbox: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self.unsubscribe = bus.subscribe(self._events.put_nowait)
        self.supervisor = ConnectionSupervisor(
            settings,
            profile=lambda: self.keys.get_int("SecurityProfile"),
            authorization_key=lambda: self.keys.get("AuthorizationKey"),
            ping_interval_s=lambda: float(self.keys.get_int("WebSocketPingInterval")),
            serve=self.serve,
            rng=rng,
            on_security_event=self.security_event,
            open_link=open_link,
        )
        self.keys.on_change(self._key_changed)
        self._background: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[Any]] = []
        self._session_task: asyncio.Task[None] | None = None
        #: loop time the housekeeping loop last woke / the queue sender last attempted or waited (liveness)
        self.housekeeping_s = 0.0
        self.queue_progress_s = 0.0
        self.pending_profiles: dict[int, dict[str, Any]] = {}
        self._features_init()
        self.recover_open_transactions()
        self._apply_connection_timeout()

    # -- lifecycle
    async def run(self) -> None:
        """Run until cancelled."""
        now = asyncio.get_running_loop().time()
        self.housekeeping_s = self.queue_progress_s = now
        async with asyncio.TaskGroup() as group:
            self._loops = [
                group.create_task(self.supervisor.run(), name="ocpp-connection"),
                group.create_task(self._consume_events(), name="ocpp-events"),
                group.create_task(self._sample_loop(), name="ocpp-sampled-meter"),
                group.create_task(self._aligned_loop(), name="ocpp-aligned-meter"),
                group.create_task(self._housekeeping_loop(), name="ocpp-housekeeping"),
            ]

    def alive(self) -> bool:
        """The client's machinery runs: every loop of `run()` is running, the housekeeping loop wakes as it
        should, session events do not pile up unhandled, and while connected the session (boot gate, heartbeat,
        queue sender) runs. Being offline is not a failure: the supervisor keeps reconnecting."""
        if not self._loops or any(task.done() for task in self._loops):
            return False
        now = asyncio.get_running_loop().time()
        if now - self.housekeeping_s > LIVENESS_HOUSEKEEPING_S:
            return False
        if self.cp is not None and self._session_task is not None and self._session_task.done():
            return False  # connected, but the boot gate / heartbeat / queue sender died
        if self.online and len(self.queue) > 0:
            # the sender must attempt the head message at least once per response timeout + longest retry wait
            keys = self.keys
            bound_s = (
                self.settings.response_timeout_s
                + keys.get_int("TransactionMessageRetryInterval") * keys.get_int("TransactionMessageAttempts")
                + LIVENESS_MARGIN_S
            )
            if now - self.queue_progress_s > bound_s:
                return False
        return True

    def spawn(self, coro: Awaitable[Any], name: str = "") -> asyncio.Task[Any]:
        """A background task we keep a reference to (follow-up work of handlers)."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)
        return task

    @property
    def online(self) -> bool:
        return self.cp is not None and self.accepted.is_set()

    def _traffic(self) -> None:
        self.last_traffic_s = asyncio.get_running_loop().time()

    # -- one connection
    async def serve(self, socket: ClientConnection) -> None:
        cp = OcppChargePoint(
            self.settings.charge_point_id, socket, self.settings.response_timeout_s, self._traffic, self
        )
        self.cp = cp
        self.accepted.clear()
        for state in self.connectors.values():
            state.reported = None
        session = asyncio.create_task(self._session(cp), name="ocpp-session")
        self._session_task = session
        try:
            await cp.start()  # returns by ConnectionClosed
        finally:
            session.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await session
            self.cp = None
            self._session_task = None
            self.accepted.clear()
            while not self._outbox.empty():
                self._outbox.get_nowait()

    async def _session(self, cp: OcppChargePoint) -> None:
        await self._boot(cp)
        self.queue_progress_s = asyncio.get_running_loop().time()
        self.accepted.set()
        log.info("BootNotification accepted")
        for connector_id in [0, *self.connectors]:
            self.report_status(connector_id, force=True)
        async with asyncio.TaskGroup() as group:
            group.create_task(self._heartbeat_loop(cp))
            group.create_task(self._queue_loop(cp))
            group.create_task(self._outbox_loop(cp))

    def boot_payload(self) -> dict[str, Any]:
        s = self.settings
        payload = {"chargePointVendor": s.vendor, "chargePointModel": s.model}
        if s.serial_number:
            payload["chargePointSerialNumber"] = s.serial_number
        if s.firmware_version:
            payload["firmwareVersion"] = s.firmware_version
        return payload

    async def _boot(self, cp: OcppChargePoint) -> None:
        while True:
            try:
                response = await cp.call_raw("BootNotification", self.boot_payload())
            except (TimeoutError, Exception) as exc:
                log.warning("BootNotification failed (%s); retrying", exc)
                await asyncio.sleep(self.settings.boot_retry_s)
                continue
            self.registration = str(response["status"])
            interval = int(response.get("interval", 0))
            if self.registration == ACCEPTED:
                if interval > 0:
                    self.keys.set("HeartbeatInterval", str(interval))
                return
            log.info("BootNotification %s; retrying in %s s", self.registration, interval or self.settings.boot_retry_s)
            # a TriggerMessage(BootNotification) from the CSMS ends the wait early (OCPP 1.6 §4.2.1)
            self.boot_now.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval if interval > 0 else self.settings.boot_retry_s):
                    await self.boot_now.wait()

    async def _heartbeat_loop(self, cp: OcppChargePoint) -> None:
        loop = asyncio.get_running_loop()
        while True:
            interval = self.keys.get_int("HeartbeatInterval")
            if interval <= 0:
                await asyncio.sleep(1.0)
                continue
            idle = loop.time() - self.last_traffic_s
            if idle < interval:  # other traffic shows we are alive (OCPP 1.6 §4.6)
                await asyncio.sleep(interval - idle)
                continue
            with contextlib.suppress(Exception):
                await cp.call_raw("Heartbeat", {})

    async def _outbox_loop(self, cp: OcppChargePoint) -> None:
        while True:
            action, payload = await self._outbox.get()
            try:
                await cp.call_raw(action, payload)
            except Exception as exc:
                log.warning("%s not delivered: %s", action, exc)

    def send(self, action: str, payload: dict[str, Any]) -> None:
        """A non-transactional message: sent when online, else dropped (state is re-sent after the next boot)."""
        if self.online:
            self._outbox.put_nowait((action, payload))

    async def _queue_loop(self, cp: OcppChargePoint) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.queue_progress_s = loop.time()
            await self.queue.wait_nonempty()
            self.queue_progress_s = loop.time()
            message = self.queue.peek()
            if message is None:
                continue
            payload = dict(message.payload)
            if message.tx_local is not None and message.action != START:
                csms_id = self.queue.csms_id(message.tx_local)
                if csms_id is None:  # its StartTransaction was given up on: nothing to attach it to
                    log.warning("dropping %s of a transaction the CSMS never accepted", message.action)
                    self.queue.remove(message.seq)
                    continue
                payload["transactionId"] = csms_id
            try:
                response = await cp.call_raw(message.action, payload, unique_id=f"q{message.seq}-{message.attempts}")
            except (TimeoutError, Exception) as exc:
                if isinstance(exc, websockets.ConnectionClosed) or cp is not self.cp:
                    raise  # offline is not a failed attempt: the message waits for the next connection
                attempts = self.queue.count_attempt(message.seq)
                if attempts >= self.keys.get_int("TransactionMessageAttempts"):
                    log.warning("giving up %s after %d attempts: %s", message.action, attempts, exc)
                    self.queue.remove(message.seq)
                else:
                    # OCPP 1.6 §4.10: wait RetryInterval × attempts before the next try
                    await asyncio.sleep(self.keys.get_int("TransactionMessageRetryInterval") * attempts)
                continue
            self.queue_progress_s = loop.time()
            self.queue.remove(message.seq)
            self.delivered.append((message.action, payload))
            del self.delivered[:-1000]
            self.transaction_message_delivered(message.action, message.tx_local, response)

    def _apply_connection_timeout(self) -> None:
        """ConnectionTimeOut is the station's to act on (identification ↔ plug); 0 leaves the station's own."""
        setter = getattr(self.station, "set_connection_timeout", None)
        if setter is not None:
            seconds = self.keys.get_int("ConnectionTimeOut")
            try:
                setter(float(seconds) if seconds > 0 else None)
            except Exception as exc:
                log.warning("station did not take ConnectionTimeOut %s: %s", seconds, exc)

    def _key_changed(self, key: str, value: str) -> None:
        if key == "ConnectionTimeOut":
            self._apply_connection_timeout()
        if key in ("AuthorizationKey", "SecurityProfile"):
            self.security_event("ReconfigurationOfSecurityParameters", key)
            # whitepaper §2.4 / §2.5: reconnect with the new credentials / profile
            self.spawn(self._reconnect_soon())

    async def _reconnect_soon(self) -> None:
        await asyncio.sleep(0.1)  # let the ChangeConfiguration answer leave first
        await self.supervisor.reconnect()


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("OCPP background task failed: %r", task.exception())
