"""`evse run`: entry point of the daemon (lifecycle in progress)."""

from __future__ import annotations

from evse.config.errors import UserError
from evse.config.loader import load_config


def run_daemon(config_path: str) -> int:
    load_config(config_path)
    raise UserError("evse run: the daemon lifecycle is not wired yet — use a later version")
