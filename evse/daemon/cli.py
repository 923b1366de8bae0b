"""`evse run --config FILE`: the daemon."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    run = subparsers.add_parser("run", help="run the charger daemon (station, OCPP client, local API)")
    run.add_argument("--config", "-c", required=True, metavar="FILE", help="TOML configuration file")
    run.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from evse.daemon.main import run_daemon

    return run_daemon(args.config)
