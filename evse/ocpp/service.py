"""The OCPP client as the daemon sees it: built from configuration, started and stopped with the daemon.

    service = OcppService(config, bus, station)   # config: the whole configuration or its OcppSettings
    await service.start()   # opens <state_dir>/ocpp.sqlite, registers as the station's Authorizer, connects
    ...
    await service.stop()

The state directory is, in order: `ocpp.state_dir`, the `state_dir=` argument, `config.state_dir` (or
`config.daemon.state_dir` / `config.store.state_dir`), else `./state`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec

from evse.config.errors import UserError
from evse.ocpp.client import OcppClient
from evse.ocpp.db import OcppDatabase
from evse.ocpp.settings import OcppSettings
from evse.session.events import EventBus
from evse.station.control import StationControl

log = logging.getLogger("evse.ocpp")

DEFAULT_STATE_DIR = "state"
#: how often `drain()` looks at the queue
DRAIN_POLL_S = 0.1


def _state_dir(config: Any, settings: OcppSettings, explicit: str | Path | None) -> Path:
    if settings.state_dir:
        return Path(settings.state_dir)
    if explicit is not None:
        return Path(explicit)
    for owner in (config, getattr(config, "daemon", None), getattr(config, "store", None)):
        value = getattr(owner, "state_dir", None) if owner is not None else None
        if isinstance(value, str | Path) and str(value):
            return Path(value)
    return Path(DEFAULT_STATE_DIR)


def settings_for(config: Any) -> OcppSettings:
    """The charge point is named in [station] (id, vendor, model, serial number); a value set explicitly in
    [ocpp] (different from its default) still wins, so an OCPP-specific identity remains possible."""
    settings: OcppSettings = config.ocpp
    station = getattr(config, "station", None)
    if station is None:
        return settings
    defaults = OcppSettings()
    pairs = {"charge_point_id": "id", "vendor": "vendor", "model": "model", "serial_number": "serial_number"}
    changes = {
        ours: getattr(station, theirs)
        for ours, theirs in pairs.items()
        if getattr(settings, ours) == getattr(defaults, ours) and hasattr(station, theirs)
    }
    return msgspec.structs.replace(settings, **changes)


class OcppService:
    def __init__(
        self,
        config: Any,
        bus: EventBus,
        station: StationControl,
        *,
        state_dir: str | Path | None = None,
        on_reboot: Callable[[str], Awaitable[None]] | None = None,
        rng: random.Random | None = None,
        open_link: Callable[[str], Awaitable[Any]] | None = None,
        in_memory: bool = False,
    ) -> None:
        self.settings: OcppSettings = config if isinstance(config, OcppSettings) else settings_for(config)
        self.bus = bus
        self.station = station
        self.state_dir = _state_dir(config, self.settings, state_dir)
        self._on_reboot = on_reboot
        self._rng = rng
        self._open_link = open_link
        #: a throw-away database (a simulation run): nothing persisted, no disk writes stalling a scaled clock
        self._in_memory = in_memory
        self.client: OcppClient | None = None
        self.db: OcppDatabase | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            self.db = OcppDatabase(":memory:") if self._in_memory else OcppDatabase.in_dir(self.state_dir)
        except (OSError, sqlite3.Error) as exc:
            raise UserError(
                f"cannot open the OCPP database in {self.state_dir} ({exc}): make the state directory writable "
                "or change station.state_dir."
            ) from None
        self.client = OcppClient(
            self.settings,
            self.bus,
            self.station,
            self.db,
            rng=self._rng,
            on_reboot=self._on_reboot,
            open_link=self._open_link,
        )
        self.station.set_authorizer(self.client)
        self.client.security_event("StartupOfTheDevice")
        self._task = asyncio.create_task(self.client.run(), name="ocpp")
        await asyncio.sleep(0)  # let the client start its loops: alive() is meaningful from here on
        log.info("OCPP client for %s started (state in %s)", self.settings.charge_point_id, self.state_dir)

    def alive(self) -> bool:
        """For the daemon's watchdog: True while the client's task and its loops (connection supervisor,
        event intake, meter loops, housekeeping, and while connected the session with the queue sender) run —
        not crashed, not wedged. Offline is alive: the supervisor keeps reconnecting."""
        if self._task is None or self._task.done() or self.client is None:
            return False
        return self.client.alive()

    async def drain(self, timeout_s: float) -> bool:
        """Wait until the persistent queue is delivered (at most `timeout_s`); True when it is empty."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.client is not None and len(self.client.queue) > 0 and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(DRAIN_POLL_S)
        return self.client is None or len(self.client.queue) == 0

    async def stop(self) -> None:
        if self._task is not None:
            if self.client is not None:
                self.client.unsubscribe()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self.db is not None:
            self.db.close()
            self.db = None
