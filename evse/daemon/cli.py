"""`evse run --config FILE`: the daemon. `evse health`: the container health check."""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from evse.config.errors import UserError
from evse.daemon.sdnotify import HEALTH_FILE_ENV

#: `evse health` exit code when the daemon is not healthy (Docker reads any non-zero as unhealthy)
EXIT_UNHEALTHY = 1


def register(subparsers: Any) -> None:
    run = subparsers.add_parser("run", help="run the charger daemon (station, OCPP client, local API)")
    run.add_argument("--config", "-c", required=True, metavar="FILE", help="TOML configuration file")
    run.set_defaults(func=run_command)
    health = subparsers.add_parser(
        "health", help="exit 0 if the running daemon's control loops pinged the watchdog recently (container check)"
    )
    health.add_argument("--file", default=os.environ.get(HEALTH_FILE_ENV, ""), help=f"default: ${HEALTH_FILE_ENV}")
    health.add_argument("--max-age", type=float, default=30.0, metavar="SECONDS", help="default: 30")
    health.set_defaults(func=health_command)


def run_command(args: argparse.Namespace) -> int:
    from evse.daemon.main import run_daemon

    return run_daemon(args.config)


def health_command(args: argparse.Namespace) -> int:
    if not args.file:
        raise UserError(f"no health file: set ${HEALTH_FILE_ENV} for the daemon and this check, or pass --file")
    try:
        age_s = time.time() - os.stat(args.file).st_mtime  # wall-clock ok: file age for the container runtime
    except FileNotFoundError:
        print(f"unhealthy: {args.file} does not exist (daemon not ready yet, or not running)")
        return EXIT_UNHEALTHY
    if age_s > args.max_age:
        print(f"unhealthy: last watchdog ping {age_s:.0f} s ago (control loop stuck or daemon stopped)")
        return EXIT_UNHEALTHY
    print(f"healthy: last watchdog ping {age_s:.1f} s ago")
    return 0
