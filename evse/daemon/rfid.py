"""`[rfid]` in the daemon: the card reader as a service, cards routed to the station's authorization.

A presented card's UID (upper-case hex) is an id tag. It goes to one of the connectors the reader serves:
* the connector whose running session that card started → the session is stopped (present the card again to end
  charging, as on most public chargers);
* else a connector with a plugged-in vehicle waiting for authorization (a session, no id tag yet);
* else the first available connector: the authorization is kept until a vehicle is plugged in there (the
  connector shows Preparing meanwhile, so the next card goes to another connector).
`StationControl.authorize` decides (free vend, allow-list, then the CSMS's authorizer: local list, cache,
Authorize.req). The reader's health is checked every `fault_check_interval_s`: a fault is logged once when it
appears and when it clears, shows on `/metrics` and `/api/status`, and is published for the charge point as a whole
(`ConnectorStatusChanged` of connector 0, error code ReaderFailure) — OCPP reports it as StatusNotification
connectorId 0 and clears it (NoError) when the reader recovers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

import structlog

from evse.api.metrics import RfidStatusInfo
from evse.config.errors import UserError
from evse.config.schema import NO_RFID, Config, RfidSettings
from evse.hardware import registry
from evse.hardware.registry import DriverContext, DriverError
from evse.hardware.roles import CardReader
from evse.session.events import ConnectorStatusChanged, EventBus
from evse.station.control import AuthorizationStatus, ConnectorStatus, StationControl

log = structlog.get_logger("evse.rfid")

#: statuses of a running session a card may stop (a session still in its handshake is left alone)
#: OCPP 1.6 ChargePointErrorCode of a reader that cannot read cards (§7.6)
READER_FAILURE = "ReaderFailure"
IDLE = "idle"  # evse.session.stages.Stage.IDLE: no session on the connector
_STOPPABLE = frozenset({ConnectorStatus.CHARGING, ConnectorStatus.SUSPENDED_EV, ConnectorStatus.SUSPENDED_EVSE})


def create_reader(settings: RfidSettings, on_card: Callable[[str], None]) -> CardReader:
    """The `[rfid]` driver from the hardware registry (built-in `pn532` or a third-party `rfid:NAME` entry point),
    created in the running loop; a driver that cannot be found or opened is one sentence."""
    try:
        reader = registry.create("rfid", settings.driver, dict(settings.params), context=DriverContext(connector_id=0))
    except DriverError as error:
        raise UserError(str(error)) from None
    reader.on_card = on_card  # before the loop runs again: no card can have been read yet
    return cast(CardReader, reader)


class CardRouter:
    """Turns a card UID into an authorization (or a stop) on the right connector; see the module docstring."""

    def __init__(self, station: StationControl, connectors: list[int] | None = None) -> None:
        self.station = station
        self.connectors = list(connectors or [])
        self.outcomes: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[str]] = set()

    def on_card(self, uid: str) -> None:
        """The reader's callback (in the loop): the authorization runs as its own task."""
        task = asyncio.get_running_loop().create_task(self.present(uid), name=f"rfid-card-{uid}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def present(self, uid: str) -> str:
        """Route one card; returns what happened: "accepted", "rejected", "stopped" or "ignored"."""
        try:
            outcome = await self._route(uid)
        except Exception:  # a station error must not end the reader's callbacks
            log.exception("RFID card could not be handled", id_tag=uid)
            outcome = "ignored"
        self.outcomes[outcome] += 1
        return outcome

    async def _route(self, uid: str) -> str:
        served = self.connectors or self.station.connector_ids()
        snapshots = [self.station.snapshot(c) for c in served]
        for snap in snapshots:
            if snap.id_tag == uid and snap.status in _STOPPABLE:
                stopped = await self.station.stop(snap.connector_id, "user_stop")
                log.info("RFID card stops the session", connector_id=snap.connector_id, id_tag=uid, stopped=stopped)
                return "stopped" if stopped else "ignored"
        # Preparing without a session (stage idle) is a connector already holding an identification for its plug
        waiting = [
            s for s in snapshots if s.status is ConnectorStatus.PREPARING and s.id_tag is None and s.stage != IDLE
        ]
        free = [s for s in snapshots if s.status is ConnectorStatus.AVAILABLE]
        candidates = waiting or free
        if not candidates:
            log.warning(
                "RFID card ignored: no connector can take it (busy, faulted, unavailable or holding a card)",
                id_tag=uid,
                connectors=served,
            )
            return "ignored"
        target = candidates[0]
        result = await self.station.authorize(target.connector_id, uid)
        accepted = result.status is AuthorizationStatus.ACCEPTED
        log.info(
            "RFID card accepted" if accepted else "RFID card rejected",
            connector_id=target.connector_id,
            id_tag=uid,
            status=result.status.value,
            source=result.source,
            waiting_for_plug=target.status is ConnectorStatus.AVAILABLE,
        )
        return "accepted" if accepted else "rejected"

    async def drain(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class RfidService:
    """The reader as a daemon service (`evse.daemon.wiring`)."""

    name = "rfid"

    def __init__(self, settings: RfidSettings, station: StationControl, bus: EventBus | None = None) -> None:
        self.settings = settings
        self.bus = bus
        self.router = CardRouter(station, settings.connectors)
        self.reader: CardReader | None = None
        self._monitor: asyncio.Task[None] | None = None
        self._fault: str | None = None

    async def start(self) -> None:
        self.reader = create_reader(self.settings, self.router.on_card)
        self._monitor = asyncio.get_running_loop().create_task(self._watch(), name="rfid-monitor")
        log.info("RFID reader started", driver=self.settings.driver, connectors=self.settings.connectors or "all")

    async def stop(self, timeout_s: float) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None
        if self.reader is not None:
            with contextlib.suppress(Exception):
                self.reader.shutdown()
        await self.router.drain()

    def alive(self) -> bool:
        """A reader fault is reported, not a dead control loop: the watchdog keeps the daemon running."""
        return True

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.settings.fault_check_interval_s)
            self.check()

    def check(self) -> str | None:
        """Log a reader fault when it appears and when it clears; returns the fault in force."""
        fault = self.reader.fault() if self.reader is not None else None
        if fault != self._fault:
            if fault is not None:
                log.error("RFID reader fault: cards cannot be read", driver=self.settings.driver, fault=fault)
            else:
                log.info("RFID reader recovered", driver=self.settings.driver, previous=self._fault)
            self._fault = fault
            self._publish(fault)
        return fault

    def _publish(self, fault: str | None) -> None:
        if self.bus is None:
            return
        self.bus.publish(
            ConnectorStatusChanged(
                connector_id=0,  # the charge point as a whole: a reader serves every connector
                session_id=None,
                t_s=asyncio.get_running_loop().time(),
                status=ConnectorStatus.AVAILABLE.value,  # consumers derive connector 0's status; this carries the error
                error_code="NoError" if fault is None else READER_FAILURE,
                info=fault or "",
            )
        )

    def status(self) -> RfidStatusInfo:
        reader = self.reader
        return RfidStatusInfo(
            driver=self.settings.driver,
            fault=reader.fault() if reader is not None else None,
            cards_read=int(getattr(reader, "cards_read", 0)),
            bad_frames=int(getattr(reader, "bad_frames", 0)),
            outcomes=dict(self.router.outcomes),
        )


def rfid_service(config: Config, station: Any, bus: Any, request_stop: Callable[[int], None]) -> RfidService | None:
    """`evse.daemon.wiring.UPPER_SERVICES` factory: None without a reader (`[rfid] driver = "none"`)."""
    if config.rfid.driver == NO_RFID:
        return None
    return RfidService(config.rfid, station, bus)
