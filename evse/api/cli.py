"""`evse status`: the running daemon's connectors, through the local API."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from evse.api.client import api_url, call

CONFIG_ENV = "EVSE_CONFIG"


def register(subparsers: Any) -> None:
    status = subparsers.add_parser("status", help="show the running daemon's connectors (stage, power, limit, SOC)")
    status.add_argument("--config", "-c", metavar="FILE", default=os.environ.get(CONFIG_ENV), help="TOML configuration")
    status.add_argument("--url", help="API base URL (default: from the configuration, else http://127.0.0.1:8080)")
    status.add_argument("--json", action="store_true", help="the raw status as JSON")
    status.set_defaults(func=status_command)


def status_command(args: argparse.Namespace) -> int:
    config = None
    if args.config and not args.url:
        from evse.config.loader import load_config

        config = load_config(args.config)
    url = args.url or api_url(config)
    status = call(url, "GET", "/api/status")
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    print(f"station {status['station_id']}" + (" (simulated)" if status["simulated"] else ""))
    for c in status["connectors"]:
        soc = f"{c['soc_pct']:.0f} %" if c["soc_pct"] is not None else "—"
        line = (
            f"  {c['connector_id']:>2} {c['standard']:<8} {c['status']:<13} {c['stage']:<22} "
            f"{(c['power_w'] or 0) / 1000:6.1f} kW {c['voltage_v'] or 0:6.1f} V {c['current_a'] or 0:6.1f} A  "
            f"SOC {soc:>5}  limit {c['current_limit_a'] or 0:.0f} A ({c['limit_source']})"
        )
        if c["error_code"] != "NoError":
            line += f"  error {c['error_code']}"
        print(line)
    rfid = status.get("rfid")
    if rfid is not None:
        state = f"FAULT {rfid['fault']}" if rfid["fault"] else "ok"
        print(f"  rfid {rfid['driver']}: {state}, {rfid['cards_read']} card(s) read")
    return 0
