"""`evse sim plug|unplug|fault|clear-fault|profiles|faults`: drive a running daemon's simulator through its local API.

    evse sim plug CONNECTOR PROFILE [--soc PCT]     plug a vehicle profile in (name or path of a profile file)
    evse sim unplug CONNECTOR                       unplug it
    evse sim fault CONNECTOR FAULT [--param K=V …]  inject a fault (see `evse sim faults`)
    evse sim clear-fault CONNECTOR FAULT            clear it
    evse sim profiles | faults                      what the daemon can plug in / inject

The daemon is found from the configuration's `[api]` section (`--config`, else $EVSE_CONFIG, else the `evse sim`
`--config` when that file exists) or `--url`. Write requests carry the API token: `--token-file`, else
$EVSE_API_TOKEN, else the configured `api.token_file`. The daemon must run a simulated station (`evse run` on a
configuration with sim drivers). Standard library only: the CLI must start fast.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from evse.api.client import api_url, call, token_from
from evse.config.errors import UserError

CONFIG_ENV = "EVSE_CONFIG"
#: the API token itself (instead of a file), for scripts and containers
TOKEN_ENV = "EVSE_API_TOKEN"


def register(sim_parser: argparse.ArgumentParser) -> None:
    """The remote commands as subcommands of `evse sim` (which without one still plays a scenario)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", "-c", dest="remote_config", metavar="FILE", help="the running daemon's TOML configuration"
    )
    common.add_argument("--url", help="API base URL (default: from the configuration, else http://127.0.0.1:8080)")
    common.add_argument("--token-file", metavar="FILE", help=f"file holding the API token (default: ${TOKEN_ENV})")
    common.add_argument("--json", action="store_true", help="print the API's answer as JSON")
    sub = sim_parser.add_subparsers(
        title="commands on a running daemon (through its local API)", metavar="COMMAND", dest="sim_command"
    )
    plug = sub.add_parser("plug", parents=[common], help="plug a simulated vehicle into a connector")
    plug.add_argument("connector", type=int, metavar="CONNECTOR", help="connector id")
    plug.add_argument("profile", metavar="PROFILE", help="vehicle profile name (see `evse sim profiles`) or file")
    plug.add_argument("--soc", type=float, metavar="PCT", help="initial state of charge (default: the profile's)")
    plug.set_defaults(func=plug_command)
    unplug = sub.add_parser("unplug", parents=[common], help="unplug the simulated vehicle from a connector")
    unplug.add_argument("connector", type=int, metavar="CONNECTOR", help="connector id")
    unplug.set_defaults(func=unplug_command)
    fault = sub.add_parser("fault", parents=[common], help="inject a simulated fault on a connector")
    fault.add_argument("connector", type=int, metavar="CONNECTOR", help="connector id")
    fault.add_argument("fault", metavar="FAULT", help="fault name (see `evse sim faults`)")
    fault.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="fault parameter (repeatable)"
    )
    fault.set_defaults(func=fault_command)
    clear = sub.add_parser("clear-fault", parents=[common], help="clear a simulated fault on a connector")
    clear.add_argument("connector", type=int, metavar="CONNECTOR", help="connector id")
    clear.add_argument("fault", metavar="FAULT", help="fault name")
    clear.set_defaults(func=clear_command)
    profiles = sub.add_parser("profiles", parents=[common], help="the vehicle profiles the running daemon can plug in")
    profiles.set_defaults(func=profiles_command)
    faults = sub.add_parser("faults", parents=[common], help="the faults the running daemon can inject")
    faults.set_defaults(func=faults_command)


def _config(args: argparse.Namespace) -> Any | None:
    """The daemon's configuration: named explicitly (must load), else `evse sim`'s own --config if it exists."""
    path = getattr(args, "remote_config", None) or os.environ.get(CONFIG_ENV)
    if not path:
        fallback = getattr(args, "config", None)
        if not fallback or not Path(fallback).is_file():
            return None
        path = fallback
    from evse.config.loader import load_config

    return load_config(path)


class Target:
    """Where the daemon's API is and the token write requests carry."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.config = None if args.url and args.token_file else _config(args)
        self.url: str = args.url or api_url(self.config)

    def token(self) -> str:
        if self.args.token_file:
            try:
                token = Path(self.args.token_file).read_text(encoding="utf-8").strip()
            except OSError as error:
                raise UserError(
                    f"--token-file {self.args.token_file} cannot be read ({error.strerror}): name the daemon's "
                    "api.token_file"
                ) from None
        else:
            token = os.environ.get(TOKEN_ENV, "").strip() or (token_from(self.config) or "")
        if not token:
            raise UserError(
                "no API token for this write request: pass --config with the daemon's configuration (its "
                f"api.token_file), --token-file FILE, or set ${TOKEN_ENV}"
            )
        return token

    def get(self, path: str) -> Any:
        return call(self.url, "GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        return call(self.url, "POST", path, body, token=self.token())

    def delete(self, path: str) -> Any:
        return call(self.url, "DELETE", path, token=self.token())


def parse_params(items: list[str]) -> dict[str, Any]:
    """`NAME=VALUE` pairs; a value that reads as JSON (a number, true/false, a list) is that, else a string."""
    params: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise UserError(f"--param {item!r} is not NAME=VALUE; write e.g. --param offset_v=1.2")
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        params[name.strip()] = value
    return params


def _done(args: argparse.Namespace, answer: Any, line: str) -> int:
    print(json.dumps(answer, indent=2) if args.json else line)
    return 0


def plug_command(args: argparse.Namespace) -> int:
    target = Target(args)
    body: dict[str, Any] = {"profile": args.profile}
    if args.soc is not None:
        body["soc_pct"] = args.soc
    answer = target.post(f"/api/sim/connectors/{args.connector}/plug", body)
    soc = f" at {args.soc:g} % SOC" if args.soc is not None else ""
    return _done(args, answer, f"connector {args.connector}: plugged {args.profile}{soc}")


def unplug_command(args: argparse.Namespace) -> int:
    answer = Target(args).post(f"/api/sim/connectors/{args.connector}/unplug")
    return _done(args, answer, f"connector {args.connector}: unplugged")


def fault_command(args: argparse.Namespace) -> int:
    params = parse_params(args.param)
    answer = Target(args).post(f"/api/sim/connectors/{args.connector}/faults", {"name": args.fault, "params": params})
    shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return _done(
        args, answer, f"connector {args.connector}: fault {args.fault} injected" + (f" ({shown})" if shown else "")
    )


def clear_command(args: argparse.Namespace) -> int:
    answer = Target(args).delete(f"/api/sim/connectors/{args.connector}/faults/{args.fault}")
    return _done(args, answer, f"connector {args.connector}: fault {args.fault} cleared")


def profiles_command(args: argparse.Namespace) -> int:
    answer = Target(args).get("/api/sim/profiles")
    return _done(args, answer, "\n".join(answer.get("profiles", [])))


def faults_command(args: argparse.Namespace) -> int:
    answer = Target(args).get("/api/sim/faults")
    lines = []
    for spec in answer.get("faults", []):
        params = ", ".join(f"{k}={v!r}" for k, v in spec.get("params", {}).items())
        lines.append(f"{spec['name']:26s} {spec.get('description', '')}" + (f" [{params}]" if params else ""))
    return _done(args, answer, "\n".join(lines))
