"""`evse csms`: the development CSMS, and `evse csms send|start|stop|profile` to drive a running one."""

from __future__ import annotations

import argparse
import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

from evse.config.errors import UserError
from evse.ocpp.dev_ports import DEFAULT_CONTROL_PORT, DEFAULT_PORT


def register(subparsers: Any) -> None:
    csms = subparsers.add_parser(
        "csms", help="a development OCPP 1.6J CSMS on ws://127.0.0.1:9000 that accepts all and logs every message"
    )
    csms.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    csms.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"WebSocket port (default {DEFAULT_PORT})")
    csms.add_argument("--control-port", type=int, default=DEFAULT_CONTROL_PORT, help="local control port")
    csms.set_defaults(func=serve_command)
    actions = csms.add_subparsers(title="commands to a running dev CSMS", metavar="ACTION")

    def client(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=help_text)
        parser.add_argument("--control-port", type=int, default=DEFAULT_CONTROL_PORT)
        parser.add_argument("--cp", default="", help="charge point id (default: the only one connected)")
        return parser

    send = client("send", "send any CALL: ACTION and its JSON payload")
    send.add_argument("action")
    send.add_argument("payload", nargs="?", default="{}")
    send.set_defaults(func=send_command)
    start = client("start", "RemoteStartTransaction")
    start.add_argument("--id-tag", default="DEV-TAG")
    start.add_argument("--connector", type=int, default=1)
    start.set_defaults(func=start_command)
    stop = client("stop", "RemoteStopTransaction (default: the last transaction of the charge point)")
    stop.add_argument("--transaction", type=int)
    stop.set_defaults(func=stop_command)
    profile = client("profile", "SetChargingProfile: a TxDefaultProfile limit on a connector")
    profile.add_argument("--connector", type=int, default=1)
    limit = profile.add_mutually_exclusive_group(required=True)
    limit.add_argument("--limit-a", type=float, help="limit in amperes")
    limit.add_argument("--limit-w", type=float, help="limit in watts")
    profile.add_argument("--stack-level", type=int, default=0)
    profile.set_defaults(func=profile_command)


def serve_command(args: argparse.Namespace) -> int:
    try:
        from evse.ocpp.dev_csms import DevCsms

        asyncio.run(DevCsms().run(args.host, args.port, args.control_port))
    except OSError as exc:
        raise UserError(
            f"cannot listen on {args.host}:{args.port} or control port {args.control_port} ({exc.strerror}): "
            "stop the other program or pass --port / --control-port."
        ) from None
    return 0


def _send(args: argparse.Namespace, action: str, payload: dict[str, Any]) -> int:
    body = json.dumps({"cp": args.cp, "action": action, "payload": payload}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{args.control_port}/send", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=35) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise UserError(f"the dev CSMS refused: {json.loads(exc.read()).get('error', exc.reason)}.") from None
    except (urllib.error.URLError, OSError):
        raise UserError(
            f"no dev CSMS answers on control port {args.control_port}: start one with `evse csms`."
        ) from None
    print(json.dumps(answer["result"], indent=2))
    return 0


def send_command(args: argparse.Namespace) -> int:
    try:
        payload = json.loads(args.payload)
    except ValueError:
        raise UserError(f'the payload {args.payload!r} is not JSON: quote it, e.g. \'{{"idTag": "X"}}\'.') from None
    return _send(args, args.action, payload)


def start_command(args: argparse.Namespace) -> int:
    return _send(args, "RemoteStartTransaction", {"idTag": args.id_tag, "connectorId": args.connector})


def stop_command(args: argparse.Namespace) -> int:
    payload = {} if args.transaction is None else {"transactionId": args.transaction}
    return _send(args, "RemoteStopTransaction", payload)


def profile_command(args: argparse.Namespace) -> int:
    unit, limit = ("A", args.limit_a) if args.limit_a is not None else ("W", args.limit_w)
    profile = {
        "chargingProfileId": 100 + args.stack_level,
        "stackLevel": args.stack_level,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {"chargingRateUnit": unit, "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]},
    }
    return _send(args, "SetChargingProfile", {"connectorId": args.connector, "csChargingProfiles": profile})
