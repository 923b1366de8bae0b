"""The local API and the session recorder as daemon services.

`ApiService(config, bus, station, store, sim=None)` serves the API; `create_service(config, station, bus)` is
what `evse.daemon.wiring` calls: it builds the session recorder (always — sessions are recorded even when the
API is disabled) and the API, as one service that starts the recorder first and stops it last, so the sessions
the station ends during shutdown are still committed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from evse.api.app import ApiContext
from evse.api.metrics import CanChannelsProvider, OcppStatusProvider, RfidStatusProvider
from evse.api.routes import create_app
from evse.api.settings import ApiSettings
from evse.api.sim import SimControl
from evse.config.errors import UserError
from evse.diagnostics.settings import DiagnosticsSettings
from evse.session.events import EventBus
from evse.station.control import StationControl
from evse.store.recorder import SessionRecorder
from evse.store.settings import StoreSettings

log = structlog.get_logger("evse.api")


def read_token(path: str) -> str | None:
    """The API token from `path` (None when no file is configured: write requests are then refused)."""
    if not path:
        return None
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise UserError(
            f"api.token_file {path} cannot be read ({error.strerror}): create it with a token or leave it empty"
        ) from None
    if not token:
        raise UserError(f"api.token_file {path} is empty: write a token into it (e.g. `openssl rand -hex 32`)")
    return token


def _config_view(config: Any) -> dict[str, Any]:
    redacted = getattr(config, "redacted", None)
    if callable(redacted):
        view = redacted()
        return view if isinstance(view, dict) else {}
    return {}


class ApiService:
    """The local HTTP API. `store` is the session recorder (or the database path) the API reads sessions from;
    `sim` the simulator's control seam in simulated mode."""

    name = "api"

    def __init__(
        self,
        config: Any,
        bus: EventBus,
        station: StationControl,
        store: SessionRecorder | Path | None = None,
        sim: SimControl | None = None,
        *,
        ocpp: OcppStatusProvider | None = None,
        can_channels: CanChannelsProvider | None = None,
    ) -> None:
        self.settings: ApiSettings = getattr(config, "api", None) or ApiSettings()
        recorder = store if isinstance(store, SessionRecorder) else None
        db_path = recorder.path if recorder is not None else store if isinstance(store, Path) else None
        station_settings = getattr(config, "station", None)
        self.ctx = ApiContext(
            settings=self.settings,
            station=station,
            station_id=str(getattr(station_settings, "id", "evse")),
            db_path=db_path,
            recorder=recorder,
            sim=sim,
            config_view=_config_view(config),
            diagnostics=getattr(config, "diagnostics", None) or DiagnosticsSettings(),
            ocpp=ocpp,
            can_channels=can_channels,
            bus_errors=lambda: bus.errors,
        )
        self.bus = bus
        # subscribe now, not at start: the counters and streams see every event from the daemon's first moment
        assert self.ctx.hub is not None
        self._unsubscribe: list[Callable[[], None]] = [
            bus.subscribe(self.ctx.metrics.on_event),
            bus.subscribe(self.ctx.hub.on_event),
        ]
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def set_ocpp_status(self, provider: OcppStatusProvider | None) -> None:
        self.ctx.ocpp = provider

    def set_can_channels(self, provider: CanChannelsProvider | None) -> None:
        self.ctx.can_channels = provider

    def set_rfid_status(self, provider: RfidStatusProvider | None) -> None:
        self.ctx.rfid = provider

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    async def start(self) -> None:
        self.ctx.token = read_token(self.settings.token_file)
        self.ctx.closing.clear()
        runner = web.AppRunner(create_app(self.ctx), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.host, self.settings.port)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            raise UserError(
                f"the local API cannot listen on {self.settings.host}:{self.settings.port} ({error.strerror}): "
                f"choose another api.port or stop the program using it"
            ) from None
        self._runner = runner
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.settings.port
        log.info("local API listening", url=self.url, writes="enabled" if self.ctx.token else "disabled")

    async def stop(self, timeout_s: float = 5.0) -> None:
        self.ctx.closing.set()
        assert self.ctx.hub is not None
        for client in tuple(self.ctx.hub.clients):
            client.wake.set()
        if self._runner is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await self._runner.cleanup()
            self._runner = None
        await asyncio.get_running_loop().run_in_executor(None, self.ctx.close)

    def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            with contextlib.suppress(ValueError):
                unsubscribe()
        self._unsubscribe = []

    def alive(self) -> bool:
        return True


class OperatorService:
    """Session recorder + local API as one daemon service (see the module docstring)."""

    name = "store+api"

    def __init__(
        self, recorder: SessionRecorder, api: ApiService | None, unsubscribe: Callable[[], None] | None = None
    ) -> None:
        self.recorder = recorder
        self.api = api
        self._unsubscribe = unsubscribe

    async def start(self) -> None:
        await self.recorder.start()
        if self.api is not None:
            await self.api.start()

    async def stop(self, timeout_s: float) -> None:
        if self.api is not None:
            await self.api.stop(timeout_s / 2)
            self.api.close()
        if self._unsubscribe is not None:
            with contextlib.suppress(ValueError):
                self._unsubscribe()
            self._unsubscribe = None
        await self.recorder.stop()

    def alive(self) -> bool:
        return True


def create_service(config: Any, station: StationControl, bus: EventBus) -> OperatorService:
    """The daemon's hook (`evse.daemon.wiring.UPPER_SERVICES`). The recorder subscribes at once, so events of
    sessions starting while the daemon starts are queued, not lost. In simulated mode the station may offer a
    `sim_control` attribute (an `evse.api.sim.SimControl`); the API then serves the simulator commands."""
    store_settings: StoreSettings = getattr(config, "store", None) or StoreSettings()
    state_dir = Path(getattr(getattr(config, "station", None), "state_dir", "."))
    recorder = SessionRecorder(state_dir / store_settings.filename, store_settings, station=station)
    unsubscribe = bus.subscribe(recorder.on_event)
    api_settings: ApiSettings = getattr(config, "api", None) or ApiSettings()
    api = None
    if api_settings.enabled:
        api = ApiService(config, bus, station, recorder, _sim_control(config, station))
    return OperatorService(recorder, api, unsubscribe)


def _sim_control(config: Any, station: StationControl) -> SimControl | None:
    """The station's simulator seam, if it offers one; else, when the configuration runs a simulated vehicle
    link, the simulated world the station's sim drivers created (evse.sim is imported only then)."""
    offered: SimControl | None = getattr(station, "sim_control", None)
    if offered is not None:
        return offered
    links = [getattr(getattr(c, "vehicle_link", None), "interface", "") for c in getattr(config, "connectors", [])]
    if "sim" not in links:
        return None
    from evse.sim.control import WorldSimControl
    from evse.sim.world import current_world

    world = current_world()
    return WorldSimControl(world) if world is not None else None
