"""The systemd watchdog: ping only while every service's control loops are alive.

A stuck control loop stops the pings, so systemd (WatchdogSec=) kills and restarts the daemon; a blocked event
loop stops them too, since this task cannot run. Without a systemd watchdog the same check runs, and a service
dead for `unhealthy_exit_s` makes the daemon shut down with exit code 1 (Restart=on-failure restarts it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import structlog

from evse.daemon.sdnotify import Notifier
from evse.daemon.service import Service

log = structlog.get_logger("evse.daemon.watchdog")


def dead_services(services: Sequence[Service]) -> list[str]:
    dead = []
    for service in services:
        try:
            alive = service.alive()
        except Exception:  # a broken liveness report counts as dead, never as alive
            log.exception("liveness check failed", service=service.name)
            alive = False
        if not alive:
            dead.append(service.name)
    return dead


class Watchdog:
    def __init__(
        self,
        services: Sequence[Service],
        notifier: Notifier,
        *,
        period_s: float,
        unhealthy_exit_s: float,
        on_dead: Callable[[list[str]], None],
    ) -> None:
        self.services = services
        self.notifier = notifier
        self.period_s = period_s
        self.unhealthy_exit_s = unhealthy_exit_s
        self.on_dead = on_dead
        self.pings = 0
        self._unhealthy_since_s: float | None = None

    @property
    def unhealthy(self) -> bool:
        return self._unhealthy_since_s is not None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.period_s)
            dead = dead_services(self.services)
            if not dead:
                if self._unhealthy_since_s is not None:
                    log.warning("control loops alive again; watchdog pings resume")
                    self._unhealthy_since_s = None
                self.pings += 1
                self.notifier.watchdog()
                continue
            now_s = loop.time()
            if self._unhealthy_since_s is None:
                self._unhealthy_since_s = now_s
                log.error("control loop not alive: withholding the watchdog ping", services=dead)
                self.notifier.status(f"unhealthy: {', '.join(dead)} not alive")
            elif now_s - self._unhealthy_since_s >= self.unhealthy_exit_s:
                log.critical("control loop dead too long: stopping the daemon", services=dead)
                self.on_dead(dead)
                return
