"""The daemon's lifecycle, generic over services.

Order, and why:
1. **Safe state first.** The previous run may have died mid-session with contactors closed and a power module
   on; before anything else (before any service, before OCPP, before the API) every output is driven to the safe
   state. If that fails, nothing starts.
2. Services start in order, each within `start_timeout_s`; one failing stops those already started.
3. `READY=1` with a one-line `STATUS=`, then the watchdog (pings only while every service is alive) and the
   periodic status line.
4. On the stop request (SIGTERM/SIGINT) or a service dead too long: `STOPPING=1`, then every service stops in
   `stop_order` (the station first, so its sessions end safely while OCPP can still report them) within one
   overall bound, `shutdown_timeout_s`; whatever did not stop in time is abandoned, and the safe state is
   applied again on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

import structlog

from evse.daemon.exitcodes import EXIT_FAILURE, EXIT_OK, EXIT_UNAVAILABLE
from evse.daemon.sdnotify import Notifier
from evse.daemon.service import Service
from evse.daemon.settings import DaemonSettings
from evse.daemon.watchdog import Watchdog
from evse.gcfreeze import freeze_loaded_objects

log = structlog.get_logger("evse.daemon")


class Lifecycle:
    def __init__(
        self,
        *,
        safe_state: Callable[[], None],
        services: Sequence[Service],
        settings: DaemonSettings,
        notifier: Notifier,
        status: Callable[[], str],
        watchdog_period_s: float | None = None,
        stop_order: Sequence[Service] | None = None,
    ) -> None:
        self.safe_state = safe_state
        self.services = list(services)
        self.stop_order = list(stop_order) if stop_order is not None else list(reversed(self.services))
        self.settings = settings
        self.notifier = notifier
        self.status = status
        # systemd wants a ping more often than WatchdogSec; half of it is sd_watchdog_enabled(3)'s advice
        self.watchdog_period_s = watchdog_period_s / 2 if watchdog_period_s else settings.health_interval_s
        self.exit_code = EXIT_OK
        self.started: list[Service] = []
        self.watchdog: Watchdog | None = None
        self.start_error: str | None = None

    async def run(self, stop: asyncio.Event) -> int:
        if not self._apply_safe_state("start"):
            return EXIT_FAILURE
        if not await self._start_all():
            await self._stop_all()
            self._apply_safe_state("exit")
            return EXIT_UNAVAILABLE

        def on_dead(_names: list[str]) -> None:
            self.exit_code = EXIT_FAILURE
            stop.set()

        self.watchdog = Watchdog(
            self.services,
            self.notifier,
            period_s=self.watchdog_period_s,
            unhealthy_exit_s=self.settings.unhealthy_exit_s,
            on_dead=on_dead,
        )
        # the start's objects (modules, models, settings) live until exit: keep them out of full GC passes, which
        # would otherwise pause the loop for every connector at random moments (evse/gcfreeze.py)
        freeze_loaded_objects(collect_first=True)
        summary = self.status()
        self.notifier.ready(summary)
        log.info("ready", status=summary, services=[s.name for s in self.services])
        tasks = [
            asyncio.create_task(self.watchdog.run(), name="evse-watchdog"),
            asyncio.create_task(self._report_status(summary), name="evse-status"),
        ]
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self.notifier.stopping()
        log.info("stopping", bound_s=self.settings.shutdown_timeout_s)
        if not await self._stop_all():
            self.exit_code = EXIT_FAILURE
        if not self._apply_safe_state("exit"):
            self.exit_code = EXIT_FAILURE
        log.info("stopped", exit_code=self.exit_code)
        return self.exit_code

    def _apply_safe_state(self, when: str) -> bool:
        try:
            self.safe_state()
        except Exception:
            log.critical("could not drive the outputs to the safe state", when=when, exc_info=True)
            return False
        log.info("outputs in safe state", when=when)
        return True

    async def _start_all(self) -> bool:
        for service in self.services:
            try:
                async with asyncio.timeout(self.settings.start_timeout_s):
                    await service.start()
            except TimeoutError:
                self.start_error = f"{service.name} did not start within {self.settings.start_timeout_s:g} s"
            except Exception as error:  # reported as one line; the traceback goes to the debug log
                self.start_error = f"{service.name} could not start: {error}"
                log.debug("start failure", service=service.name, exc_info=True)
            else:
                self.started.append(service)
                log.info("service started", service=service.name)
                continue
            log.error("start failed", error=self.start_error)
            return False
        return True

    async def _stop_all(self) -> bool:
        loop = asyncio.get_running_loop()
        deadline_s = loop.time() + self.settings.shutdown_timeout_s
        clean = True
        for service in [s for s in self.stop_order if s in self.started]:
            remaining_s = max(deadline_s - loop.time(), 0.0)
            try:
                async with asyncio.timeout(remaining_s):
                    await service.stop(remaining_s)
            except TimeoutError:
                clean = False
                log.error("service did not stop within the shutdown bound", service=service.name)
            except Exception:
                clean = False
                log.exception("service failed while stopping", service=service.name)
            else:
                log.info("service stopped", service=service.name)
            self.started.remove(service)
        return clean

    async def _report_status(self, last: str) -> None:
        while True:
            await asyncio.sleep(self.settings.status_interval_s)
            if self.watchdog is not None and self.watchdog.unhealthy:
                continue  # the watchdog's "unhealthy" line stays until the loops recover
            try:
                line = self.status()
            except Exception:
                log.exception("status summary failed")
                continue
            if line != last:
                self.notifier.status(line)
                last = line
