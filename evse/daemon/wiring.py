"""The composition of the daemon: which services run, in which order. The one place to change it.

* The station (`evse.station.build.build_station`) is always there; it provides `safe_state()`, `start()`,
  `shutdown(timeout_s)` and `alive()`.
* The upper layers (OCPP client, local API) are adapted to `Service` by the factories in `UPPER_SERVICES`; each
  returns None when disabled in the configuration or not part of this build. They start after the station (they
  need it) and stop after it (so the station's sessions end — and are reported — while the CSMS link and the
  API are still up).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from evse.config.errors import UserError
from evse.config.schema import Config
from evse.daemon.exitcodes import EXIT_RESTART, EXIT_UNAVAILABLE
from evse.daemon.service import Service
from evse.session.events import EventBus

log = structlog.get_logger("evse.daemon")

#: longest the daemon's stop waits for queued OCPP transaction messages to reach a connected CSMS
OCPP_DRAIN_MAX_S = 5.0


class StartError(UserError):
    """A service or driver could not be set up (missing driver, absent CAN interface, port in use)."""

    exit_code = EXIT_UNAVAILABLE


class StationService:
    """The station as a daemon service."""

    name = "station"

    def __init__(self, station: Any) -> None:
        self.station = station

    async def start(self) -> None:
        await self.station.start()

    async def stop(self, timeout_s: float) -> None:
        await self.station.shutdown(timeout_s)

    def alive(self) -> bool:
        return bool(self.station.alive())


class AdaptedService:
    """A service built from callables (for components whose interface differs slightly from `Service`)."""

    def __init__(
        self,
        name: str,
        start: Callable[[], Awaitable[None]],
        stop: Callable[[float], Awaitable[None]],
        alive: Callable[[], bool] = lambda: True,
    ) -> None:
        self.name = name
        self._start, self._stop, self._alive = start, stop, alive

    async def start(self) -> None:
        await self._start()

    async def stop(self, timeout_s: float) -> None:
        await self._stop(timeout_s)

    def alive(self) -> bool:
        return self._alive()


@dataclass
class Wiring:
    config: Config
    station: Any
    bus: EventBus
    services: list[Service] = field(default_factory=list)

    @property
    def stop_order(self) -> list[Service]:
        return self.services  # station first: see the module docstring

    def safe_state(self) -> None:
        self.station.safe_state()

    def release(self) -> None:
        """After the last safe state: each driver's `shutdown()` (background tasks end, ports and CAN channels
        are released). Synchronous and short; a station without drivers to release is left alone."""
        shutdown = getattr(self.station, "shutdown_drivers", None)
        if callable(shutdown):
            try:
                shutdown()
            except Exception:  # the outputs are already safe: a failing release is logged, never fatal
                log.exception("releasing the drivers failed")

    def status(self) -> str:
        return status_line(self.config, self.station, [s.name for s in self.services])


def ocpp_service(config: Config, station: Any, bus: EventBus, request_stop: Callable[[int], None]) -> Service | None:
    if not config.ocpp.enabled:
        return None
    try:
        from evse.ocpp.service import OcppService
    except ModuleNotFoundError as error:
        if error.name == "evse.ocpp.service":
            return None
        raise

    async def on_reboot(kind: str) -> None:
        log.warning("reset requested by the CSMS: restarting the daemon", kind=kind)
        request_stop(EXIT_RESTART)

    service = OcppService(config, bus, station, state_dir=config.station.state_dir, on_reboot=on_reboot)
    return OcppDaemonService(service)


class OcppDaemonService:
    """The OCPP client as a daemon service; its link and queue figures go to the local API's /metrics."""

    name = "ocpp"

    def __init__(self, service: Any) -> None:
        self.service = service

    async def start(self) -> None:
        await self.service.start()

    async def stop(self, timeout_s: float) -> None:
        """While the CSMS link is up, first let the persistent queue (the stop transactions of the sessions the
        station just ended) go out, for at most half the remaining bound and `OCPP_DRAIN_MAX_S`; what is left
        stays queued on disk for the next start."""
        drain = getattr(self.service, "drain", None)
        if callable(drain) and self.status().connected:
            await drain(min(timeout_s / 2, OCPP_DRAIN_MAX_S))
        await self.service.stop()

    def alive(self) -> bool:
        """The OCPP service's own liveness (its tasks still run) when it reports one."""
        alive = getattr(self.service, "alive", None)
        return bool(alive()) if callable(alive) else True

    def status(self) -> Any:
        """`evse.api.metrics.OcppStatusInfo`: connected = the CSMS link is up and the boot was accepted; queue
        depth = transaction messages (start, meter values, stop) waiting in the persistent queue for the CSMS."""
        from evse.api.metrics import OcppStatusInfo

        client = getattr(self.service, "client", None)
        if client is None:
            return OcppStatusInfo(connected=False, queue_depth=0)
        return OcppStatusInfo(connected=bool(client.online), queue_depth=len(client.queue))


def api_service(config: Config, station: Any, bus: EventBus, request_stop: Callable[[int], None]) -> Service | None:
    """The session recorder and the local API (one service: the recorder stops last, after the station's
    sessions have ended and been recorded)."""
    try:
        from evse.api.service import create_service
    except ModuleNotFoundError as error:
        if error.name == "evse.api.service":
            return None
        raise
    service: Service = create_service(config, station, bus)
    return service


def sim_vehicles_service(
    config: Config, station: Any, bus: EventBus, request_stop: Callable[[int], None]
) -> Service | None:
    """Simulation: plug the vehicle profile named by `connectors[].vehicle` into its connector once everything
    else is up (so OCPP and the store see the whole session), and pull the plug after the station has stopped."""
    wanted = {c.id: c.vehicle for c in config.connectors if c.vehicle}
    if not wanted:
        return None
    from evse.sim.dock import VehicleDock
    from evse.sim.profile import load_profile
    from evse.sim.world import current_world

    docks: list[VehicleDock] = []

    async def start() -> None:
        sim_control = getattr(station, "sim_control", None)  # share the API's dock when there is one
        dock = getattr(sim_control, "dock", None)
        if not isinstance(dock, VehicleDock):
            world = current_world()
            if world is None:
                raise StartError("connectors[].vehicle needs simulated hardware; remove it on real hardware")
            dock = VehicleDock(world)
        docks.append(dock)
        for connector_id, profile in wanted.items():
            dock.plug(connector_id, load_profile(str(profile)))
            log.info("simulated vehicle plugged in", connector_id=connector_id, profile=profile)

    async def stop(_timeout_s: float) -> None:
        for dock in docks:
            for connector_id in wanted:
                dock.unplug(connector_id)

    return AdaptedService("sim-vehicles", start, stop)


def rfid_service(config: Config, station: Any, bus: EventBus, request_stop: Callable[[int], None]) -> Service | None:
    """The RFID card reader (`[rfid]`): card UIDs go to the station's authorization."""
    if config.rfid.driver == "none":
        return None
    from evse.daemon.rfid import rfid_service as build_rfid

    return build_rfid(config, station, bus, request_stop)


#: factories of the upper layers, started in this order after the station (and stopped in this order after it)
UPPER_SERVICES: tuple[Callable[[Config, Any, EventBus, Callable[[int], None]], Service | None], ...] = (
    ocpp_service,
    api_service,
    rfid_service,
    sim_vehicles_service,
)


def build(config: Config, loop: asyncio.AbstractEventLoop, request_stop: Callable[[int], None]) -> Wiring:
    from evse.station.build import build_station

    bus = EventBus()
    try:
        station = build_station(config, bus=bus, loop=loop)
    except (UserError, OSError) as error:
        raise StartError(f"the station could not be set up: {error}") from None
    except Exception as error:
        if type(error).__name__ in (
            "DriverError",
            "CanError",
            "CanInitializationError",
            "CanInterfaceNotImplementedError",
        ):
            raise StartError(f"the station could not be set up: {error}") from None
        raise
    wiring = Wiring(config, station, bus, [StationService(station)])
    for factory in UPPER_SERVICES:
        service = factory(config, station, bus, request_stop)
        if service is not None:
            wiring.services.append(service)
    connect_api(wiring)
    return wiring


def connect_api(wiring: Wiring) -> None:
    """Hand the local API what only the daemon knows of: the OCPP link and queue, the station's CAN channels
    (error and bus-off counters) and the RFID reader, for /metrics and /api/status."""
    api = next((getattr(s, "api", None) for s in wiring.services if getattr(s, "api", None) is not None), None)
    if api is None:
        return
    for service in wiring.services:
        if isinstance(service, OcppDaemonService):
            api.set_ocpp_status(service.status)
        rfid_status = getattr(service, "status", None)
        if service.name == "rfid" and callable(rfid_status) and hasattr(api, "set_rfid_status"):
            api.set_rfid_status(rfid_status)
    channels = getattr(wiring.station, "can_channels", None)
    if callable(channels):
        api.set_can_channels(channels)


def status_line(config: Config, station: Any, service_names: list[str]) -> str:
    """One line for systemd's STATUS= and `systemctl status`: station, connectors and their state."""
    parts: list[str] = []
    try:
        for connector_id in station.connector_ids():
            snap = station.snapshot(connector_id)
            parts.append(f"{connector_id} {snap.standard} {snap.status}")
    except Exception:  # a station without snapshots (or failing one) still gets a summary
        counts = Counter(c.standard for c in config.connectors)
        parts = [f"{n} {s}" for s, n in sorted(counts.items())]
    return f"{config.station.id}: " + ", ".join(parts) + f" | services: {', '.join(service_names)}"
