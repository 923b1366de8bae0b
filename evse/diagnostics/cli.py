"""`evse sessions list|show|export|plot` and `evse diagnose`: the operator's view of the session store.

They read `<state_dir>/<store.filename>`; the state directory comes from `--state-dir`, else from the
configuration file (`--config`, default `$EVSE_CONFIG`), else `/var/lib/evse`.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evse.config.errors import UserError
from evse.diagnostics.settings import DiagnosticsSettings
from evse.store.database import StoreError
from evse.store.reader import SUMMARY_COLUMNS, SessionNotFound, SessionReader
from evse.store.settings import StoreSettings

DEFAULT_STATE_DIR = "/var/lib/evse"
CONFIG_ENV = "EVSE_CONFIG"


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", metavar="FILE", default=os.environ.get(CONFIG_ENV), help="TOML configuration")
    parser.add_argument("--state-dir", metavar="DIR", help="state directory (overrides the configuration)")


def _pipe_safe(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """`evse sessions show ID | head` is normal use: a closed pipe ends the output quietly, not in a traceback."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except BrokenPipeError:
            # stdout is gone: point it at /dev/null so the interpreter's final flush does not fail again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0

    return run


def register(subparsers: Any) -> None:
    sessions = subparsers.add_parser("sessions", help="list, show, export or plot stored charging sessions")
    sub = sessions.add_subparsers(title="sessions commands", metavar="COMMAND", required=True)
    ls = sub.add_parser("list", help="the most recent sessions, one line each")
    _common(ls)
    ls.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    ls.add_argument("--connector", type=int, help="only this connector")
    ls.add_argument("--failed", action="store_true", help="only failed sessions")
    ls.set_defaults(func=_pipe_safe(list_command))
    show = sub.add_parser("show", help="one session: stages, limits, faults, pilot, insulation and handshake trace")
    _common(show)
    show.add_argument("id", metavar="ID")
    show.add_argument("--json", action="store_true", help="everything as JSON, samples included")
    show.set_defaults(func=_pipe_safe(show_command))
    export = sub.add_parser("export", help="every session as JSON Lines or CSV (for fleet analytics)")
    _common(export)
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--output", "-o", metavar="FILE", help="default: standard output")
    export.set_defaults(func=_pipe_safe(export_command))
    plot = sub.add_parser("plot", help="write the session's charging curve as a PNG")
    _common(plot)
    plot.add_argument("id", metavar="ID")
    plot.add_argument("--output", "-o", metavar="FILE", help="default: session-ID.png")
    plot.set_defaults(func=plot_command)
    diagnose = subparsers.add_parser(
        "diagnose", help="success rates, failures by stage and reason, and findings with their evidence"
    )
    _common(diagnose)
    diagnose.add_argument("--json", action="store_true", help="the report as JSON")
    diagnose.set_defaults(func=_pipe_safe(diagnose_command))


def _settings(args: argparse.Namespace) -> tuple[Path, StoreSettings, DiagnosticsSettings]:
    store = StoreSettings()
    diagnostics = DiagnosticsSettings()
    state_dir = args.state_dir
    if args.config:
        from evse.config.loader import load_config

        config = load_config(args.config)
        store = config.store
        diagnostics = getattr(config, "diagnostics", diagnostics)
        state_dir = state_dir or config.station.state_dir
    return Path(state_dir or DEFAULT_STATE_DIR), store, diagnostics


def open_reader(args: argparse.Namespace) -> SessionReader:
    state_dir, store, _ = _settings(args)
    try:
        return SessionReader(state_dir / store.filename, busy_timeout_s=store.busy_timeout_s)
    except StoreError as error:
        raise UserError(str(error)) from None


def _when(epoch_s: float | None) -> str:
    if epoch_s is None:
        return "—"
    return dt.datetime.fromtimestamp(epoch_s, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def outcome_text(s: dict[str, Any]) -> str:
    if s["outcome_kind"] is None:
        return f"running ({s['last_stage'] or 'starting'})"
    if s["outcome_kind"] == "failed":
        from evse.diagnostics.rules import STAGE_WORDS  # on use: every `evse` command imports this module

        text = f"FAILED in {STAGE_WORDS.get(s['outcome_stage'], s['outcome_stage'])}: {s['outcome_reason']}"
        return text + (f" ({s['vehicle_reason']})" if s["vehicle_reason"] else "")
    return str(s["outcome_kind"])


def list_command(args: argparse.Namespace) -> int:
    reader = open_reader(args)
    rows = reader.sessions(limit=args.limit, connector_id=args.connector, failed_only=args.failed)
    if not rows:
        print("no sessions stored" + (" matching the filter" if args.connector or args.failed else ""))
        return 0
    print(f"{'ID':<24} {'STARTED (UTC)':<19} {'C':>2} {'STANDARD':<20} {'VEHICLE':<28} {'kWh':>7}  OUTCOME")
    for s in rows:
        standard = f"{s['standard']} {s['protocol_version'] or ''}".strip()
        kwh = f"{(s['energy_wh'] or 0) / 1000:.2f}"
        print(
            f"{s['id'][:24]:<24} {_when(s['started_at']):<19} {s['connector_id']:>2} {standard[:20]:<20} "
            f"{(s['vehicle_key'] or '—')[:28]:<28} {kwh:>7}  {outcome_text(s)}"
        )
    return 0


def _session(reader: SessionReader, session_id: str, **kw: bool) -> dict[str, Any]:
    try:
        return reader.get(session_id, **kw)
    except SessionNotFound:
        raise UserError(f"no stored session with id {session_id!r}: see `evse sessions list`") from None


def show_command(args: argparse.Namespace) -> int:
    s = _session(open_reader(args), args.id)
    if args.json:
        print(json.dumps(s, indent=2, default=str))
        return 0
    print(f"session {s['id']} on connector {s['connector_id']} ({s['standard']} {s['protocol_version'] or ''})")
    print(f"  started {_when(s['started_at'])} UTC, ended {_when(s['ended_at'])} UTC")
    print(f"  vehicle {s['vehicle_key'] or 'unidentified'}  identity {json.dumps(s['identity'] or {})}")
    print(f"  authorization {s['authorization_status'] or '—'}  id tag {s['id_tag'] or '—'}")
    print(f"  outcome {outcome_text(s)}" + (f" — {s['outcome_detail']}" if s["outcome_detail"] else ""))
    soc = f"SOC {s['soc_start_pct'] or 0:.0f} → {s['soc_end_pct'] or 0:.0f} %" if s["soc_start_pct"] else "SOC —"
    print(f"  energy {(s['energy_wh'] or 0) / 1000:.2f} kWh, peak {(s['peak_power_w'] or 0) / 1000:.1f} kW, {soc}")
    if s["limits"]:
        print(f"  negotiated {json.dumps(s['limits'])}")
    print("stages:")
    for st in s["stages"]:
        end = st["exited_s"]
        took = f"{end - st['entered_s']:8.2f} s" if end is not None else "   (open)"
        print(f"  {st['entered_s']:9.2f} s  {took}  {st['stage']}")
    for title, rows, fmt in (
        (
            "limit in force:",
            s["limits_over_time"],
            "  {t_s:9.2f} s  {current_limit_a} A  {power_limit_w} W  by {source}",
        ),
        ("faults:", s["faults"], "  {t_s:9.2f} s  {code}  tripped={tripped}  {detail}"),
        ("pilot:", s["pilot"], "  {t_s:9.2f} s  {line} {voltage_v:.2f} V (nominal {nominal_v} V)"),
        (
            "insulation:",
            s["insulation"],
            "  {t_s:9.2f} s  {resistance_ohm:.0f} Ω at {test_voltage_v} V passed={passed}",
        ),
    ):
        if rows:
            print(title)
            for row in rows:
                print(fmt.format(**row))
    if s["trace"]:
        print(
            f"trace ({len(s['trace'])} records"
            + (f", {s['trace_dropped']} dropped" if s["trace_dropped"] else "")
            + "):"
        )
        for r in s["trace"]:
            print(f"  {r['t_s']:9.3f} {r['direction']} {r['kind']:<3} {r['text']}")
    print(f"samples: {len(s['samples'])} (see --json or `evse sessions plot {s['id']}`)")
    return 0


def export_command(args: argparse.Namespace) -> int:
    reader = open_reader(args)
    out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout
    try:
        if args.format == "jsonl":
            for s in reader.iter_all():
                out.write(json.dumps(s, separators=(",", ":"), default=str) + "\n")
        else:
            writer = csv.DictWriter(out, fieldnames=list(SUMMARY_COLUMNS))
            writer.writeheader()
            for s in reader.iter_all():
                writer.writerow({k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in s.items()})
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def plot_command(args: argparse.Namespace) -> int:
    from evse.diagnostics.plot import render_png

    s = _session(open_reader(args), args.id)
    output = Path(args.output or f"session-{args.id}.png")
    render_png(s, output)
    print(f"wrote {output}")
    return 0


def diagnose_command(args: argparse.Namespace) -> int:
    # imported here, not at the top: every `evse` command imports this module, the daemon too (evse.cli)
    from evse.diagnostics.report import build_report, render_text

    _, _, diagnostics = _settings(args)
    reader = open_reader(args)
    report = build_report(reader.conn, diagnostics)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(render_text(report))
    return 0
