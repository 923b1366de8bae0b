"""Daemon lifecycle: configuration values (declared per `evse.config.meta`)."""

from __future__ import annotations

from typing import Annotated

from evse.config.meta import Settings, setting


class DaemonSettings(Settings, frozen=True):
    """Daemon lifecycle: start, health, shutdown."""

    start_timeout_s: Annotated[float, setting("Longest time one service may take to start", "s", gt=0)] = 30.0
    shutdown_timeout_s: Annotated[
        float,
        setting(
            "Bound on stopping every service on SIGTERM/SIGINT (sessions ramped down, contactors open); keep it "
            "below systemd's TimeoutStopSec",
            "s",
            gt=0,
        ),
    ] = 15.0
    health_interval_s: Annotated[
        float,
        setting(
            "Period of the control-loop health check when systemd sets no watchdog (else half WatchdogSec)", "s", gt=0
        ),
    ] = 1.0
    unhealthy_exit_s: Annotated[
        float,
        setting("A service reporting dead this long makes the daemon stop (exit 1, so systemd restarts it)", "s", gt=0),
    ] = 30.0
    status_interval_s: Annotated[
        float, setting("Period of the one-line STATUS= summary sent to systemd", "s", gt=0)
    ] = 5.0
