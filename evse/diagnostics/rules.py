"""Finding rules: each looks for one failure pattern in the stored sessions and reports it with its evidence.

Every rule must stay silent on healthy data: a rule that cries wolf gets ignored. So each one asks for enough
sessions, compares robust statistics (medians of the first and last sessions of a window, not single readings),
and — where a vehicle is blamed — checks that other vehicles do fine on the same connectors.

The rules follow the seed article's "won't start" causes: worn connector pins degrading the pilot signal
(`pilot_drift`), firmware/protocol mismatches with one vehicle model (`vehicle_incompatible`), and insulation
problems (`insulation_decline`); `recurring_fault` catches a fault that keeps coming back on one connector.
"""

from __future__ import annotations

import itertools
import sqlite3
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable

from evse.diagnostics.findings import Finding, fmt_ohm, plural
from evse.diagnostics.settings import DiagnosticsSettings

Rule = Callable[[sqlite3.Connection, DiagnosticsSettings], list[Finding]]

#: stages whose failure a worn pilot contact shows up in
PILOT_STAGES = ("connection_detection", "bms_wake_up")
#: stages where a vehicle that does not speak our dialect fails (authorization is the operator's business)
COMPATIBILITY_STAGES = frozenset({"bms_wake_up", "parameter_negotiation", "pre_charge", "contactor_closure"})
#: the human name of a line in the sentence
LINE_NAMES = {"cp": "CP high level", "pp": "PP level", "cc1": "CC1 level"}
STAGE_WORDS = {
    "connection_detection": "connection detection",
    "bms_wake_up": "wake-up",
    "authorization": "authorization",
    "parameter_negotiation": "parameter negotiation",
    "insulation_test": "insulation test",
    "pre_charge": "pre-charge",
    "contactor_closure": "contactor closure",
    "energy_transfer": "energy transfer",
    "stopping": "stopping",
}
STANDARD_NAMES = {"ccs": "CCS", "chademo": "CHAdeMO", "gbt": "GB/T"}


def _edges(values: list[float], settings: DiagnosticsSettings) -> tuple[float, float]:
    """Medians of the first and last sessions of the window (each at most a quarter of it)."""
    k = max(2, min(settings.trend_edge_sessions, len(values) // 4))
    return statistics.median(values[:k]), statistics.median(values[-k:])


def _quarters_monotone(values: list[float], falling: bool) -> bool:
    """True when the medians of the window's four quarters move one way (a trend, not one bad stretch); a step
    against the trend of up to a quarter of the whole change is noise."""
    q = len(values) // 4
    meds = [statistics.median(values[i * q : (i + 1) * q]) for i in range(4)]
    slack = abs(meds[-1] - meds[0]) / 4
    steps = [b - a for a, b in itertools.pairwise(meds)]
    return all(d <= slack for d in steps) if falling else all(d >= -slack for d in steps)


def _connectors(conn: sqlite3.Connection) -> list[int]:
    # a skip-scan of the connector index: a handful of values, however many sessions
    out: list[int] = []
    row = conn.execute("SELECT MIN(connector_id) FROM sessions").fetchone()
    while row is not None and row[0] is not None:
        out.append(int(row[0]))
        row = conn.execute("SELECT MIN(connector_id) FROM sessions WHERE connector_id > ?", (row[0],)).fetchone()
    return out


def pilot_drift(conn: sqlite3.Connection, settings: DiagnosticsSettings) -> list[Finding]:
    """A pilot line level (CP high level, PP, CC1) drifting over the recent sessions of one connector."""
    series: dict[tuple[int, str], list[sqlite3.Row]] = defaultdict(list)
    for connector_id in _connectors(conn):
        rows = conn.execute(
            """
            SELECT r.sid, r.id, r.outcome_kind, r.outcome_stage, p.line, p.voltage_v, p.nominal_v
            FROM (SELECT sid, id, started_at, outcome_kind, outcome_stage FROM sessions
                  WHERE connector_id = ? AND ended_at IS NOT NULL ORDER BY started_at DESC LIMIT ?) r
            JOIN pilot p ON p.sid = r.sid
            ORDER BY r.started_at, p.t_s
            """,
            (connector_id, settings.trend_window_sessions),
        )
        seen: set[tuple[int, str]] = set()
        for row in rows:
            if (row["sid"], row["line"]) not in seen:  # the first reading of each line per session
                seen.add((row["sid"], row["line"]))
                series[(connector_id, row["line"])].append(row)
    findings = []
    for (connector_id, line), seq in series.items():
        if len(seq) < settings.trend_min_sessions:
            continue
        volts = [r["voltage_v"] for r in seq]
        first, last = _edges(volts, settings)
        drift = last - first
        if abs(drift) < settings.pilot_drift_v or not _quarters_monotone(volts, falling=drift < 0):
            continue
        failures = [r for r in seq if r["outcome_kind"] == "failed" and r["outcome_stage"] in PILOT_STAGES]
        stage_counts = Counter(r["outcome_stage"] for r in failures)
        fail_text = ", ".join(f"{n} {STAGE_WORDS[s]} failure{'s' if n != 1 else ''}" for s, n in stage_counts.items())
        name = LINE_NAMES.get(line, f"{line} level")
        summary = (
            f"connector {connector_id}: {name} drifted from {first:.1f} V to {last:.1f} V over {len(seq)} sessions"
        )
        summary += f"; {fail_text}" if failures else "; no connection/wake-up failures yet"
        findings.append(
            Finding(
                rule="pilot_drift",
                subject=f"connector {connector_id}",
                summary=summary,
                advice="inspect the connector pins and the cable (worn or dirty contacts degrade the pilot signal)",
                evidence={
                    "connector_id": connector_id,
                    "line": line,
                    "first_v": round(first, 3),
                    "last_v": round(last, 3),
                    "nominal_v": seq[-1]["nominal_v"],
                    "sessions": len(seq),
                    "failures": {s: n for s, n in stage_counts.items()},
                    "failed_sessions": [r["id"] for r in failures][-10:],
                },
            )
        )
    return findings


def vehicle_incompatible(conn: sqlite3.Connection, settings: DiagnosticsSettings) -> list[Finding]:
    """One vehicle (VIN, EVCCID, CHAdeMO signature) failing the same handshake stage on (nearly) every attempt
    while other vehicles succeed on the same connectors."""
    # candidates first, in SQL over the vehicle index: only vehicles that fail often enough are looked at
    candidates = conn.execute(
        """
        SELECT vehicle_key FROM sessions
        WHERE vehicle_key IS NOT NULL AND outcome_kind IS NOT NULL
        GROUP BY vehicle_key
        HAVING COUNT(*) >= ? AND SUM(outcome_kind = 'failed') >= COUNT(*) * ?
        """,
        (settings.incompatible_min_attempts, settings.incompatible_failure_share),
    ).fetchall()
    if not candidates:
        return []
    totals: dict[int, tuple[int, int]] = {
        r[0]: (int(r[1]), int(r[2] or 0))
        for r in conn.execute(
            "SELECT connector_id, COUNT(*), SUM(outcome_kind = 'failed') FROM sessions"
            " WHERE outcome_kind IS NOT NULL GROUP BY connector_id"
        )
    }
    findings = []
    for (key,) in candidates:
        attempts = conn.execute(
            "SELECT standard, protocol_version, connector_id, outcome_kind, outcome_stage, outcome_reason,"
            " outcome_detail, id FROM sessions WHERE vehicle_key = ? AND outcome_kind IS NOT NULL"
            " ORDER BY started_at",
            (key,),
        ).fetchall()
        failed_at = Counter(r["outcome_stage"] for r in attempts if r["outcome_kind"] == "failed")
        if not failed_at:
            continue
        stage, n_failed = failed_at.most_common(1)[0]
        if stage not in COMPATIBILITY_STAGES or n_failed / len(attempts) < settings.incompatible_failure_share:
            continue
        connectors = {r["connector_id"] for r in attempts}
        own = Counter((r["connector_id"], r["outcome_kind"] == "failed") for r in attempts)
        ok = fail = 0
        for c in connectors:
            total, failed = totals.get(c, (0, 0))
            fail += failed - own[(c, True)]
            ok += total - failed - own[(c, False)]
        if ok + fail == 0 or ok / (ok + fail) < settings.others_success_share:
            continue  # the connector fails everyone: not this vehicle's fault
        versions = Counter(
            f"{STANDARD_NAMES.get(r['standard'], r['standard'])} {r['protocol_version']}" for r in attempts
        )
        version = versions.most_common(1)[0][0]
        reasons = Counter(r["outcome_reason"] for r in attempts if r["outcome_stage"] == stage)
        details = Counter(r["outcome_detail"] for r in attempts if r["outcome_stage"] == stage and r["outcome_detail"])
        how_many = f"all {len(attempts)}" if n_failed == len(attempts) else f"{n_failed} of {len(attempts)}"
        kind, _, ident = key.partition(":")
        who = f"vehicle {kind} {ident}" if ident else f"vehicle {key}"
        summary = f"{who} fails {STAGE_WORDS.get(stage, stage)} on {how_many} attempts ({version})"
        summary += f"; other vehicles succeed on connector{'s' if len(connectors) > 1 else ''} "
        summary += f"{', '.join(str(c) for c in sorted(connectors))} ({ok} of {ok + fail} sessions)"
        findings.append(
            Finding(
                rule="vehicle_incompatible",
                subject=f"vehicle {key}",
                summary=summary,
                advice="likely a protocol/firmware incompatibility with this vehicle model — compare its handshake "
                "trace (`evse sessions show ID`) with a working vehicle and check the charger's protocol versions",
                evidence={
                    "vehicle_key": key,
                    "protocol": version,
                    "stage": stage,
                    "attempts": len(attempts),
                    "failed": n_failed,
                    "reasons": dict(reasons),
                    "details": dict(details.most_common(3)),
                    "sessions": [r["id"] for r in attempts][-10:],
                    "others_ok": ok,
                    "others_total": ok + fail,
                },
            )
        )
    return findings


def insulation_decline(conn: sqlite3.Connection, settings: DiagnosticsSettings) -> list[Finding]:
    """Insulation resistance on one connector falling session over session (whatever vehicle is plugged in:
    the common part is the charger's output, cable and connector)."""
    series: dict[int, list[sqlite3.Row]] = {}
    for connector_id in _connectors(conn):
        rows = conn.execute(
            """
            SELECT id, insulation_ohm, outcome_reason FROM (
                SELECT id, started_at, insulation_ohm, outcome_reason FROM sessions
                WHERE connector_id = ? AND ended_at IS NOT NULL AND insulation_ohm > 0
                ORDER BY started_at DESC LIMIT ?
            ) ORDER BY started_at
            """,
            (connector_id, settings.trend_window_sessions),
        ).fetchall()
        series[connector_id] = rows
    findings = []
    for connector_id, seq in series.items():
        if len(seq) < settings.trend_min_sessions:
            continue
        ohms = [r["insulation_ohm"] for r in seq]
        first, last = _edges(ohms, settings)
        if last > first * settings.insulation_decline_ratio or not _quarters_monotone(ohms, falling=True):
            continue
        faults = [r for r in seq if r["outcome_reason"] == "insulation_fault"]
        summary = (
            f"connector {connector_id}: insulation resistance falling session over session, "
            f"{fmt_ohm(first)} → {fmt_ohm(last)} over {len(seq)} sessions; "
            f"{plural(len(faults), 'insulation fault')} so far"
        )
        findings.append(
            Finding(
                rule="insulation_decline",
                subject=f"connector {connector_id}",
                summary=summary,
                advice="inspect the cable, connector and DC output for moisture or damaged insulation before it "
                "trips; check the insulation monitor's self-test",
                evidence={
                    "connector_id": connector_id,
                    "first_ohm": first,
                    "last_ohm": last,
                    "sessions": len(seq),
                    "insulation_faults": len(faults),
                    "lowest_ohm": min(ohms),
                    "lowest_session": seq[ohms.index(min(ohms))]["id"],
                },
            )
        )
    return findings


def recurring_fault(conn: sqlite3.Connection, settings: DiagnosticsSettings) -> list[Finding]:
    """The same fault code raised again and again on one connector."""
    rows = conn.execute(
        """
        SELECT s.connector_id, f.code, COUNT(*) AS n, COUNT(DISTINCT f.sid) AS sessions,
               SUM(f.tripped) AS tripped
        FROM faults f JOIN sessions s ON s.sid = f.sid
        GROUP BY s.connector_id, f.code HAVING COUNT(DISTINCT f.sid) >= ?
        ORDER BY n DESC
        """,
        (settings.recurring_fault_count,),
    ).fetchall()
    return [
        Finding(
            rule="recurring_fault",
            subject=f"connector {r['connector_id']}",
            summary=f"connector {r['connector_id']}: fault {r['code']} raised in {r['sessions']} sessions "
            f"({r['tripped']} tripped the output)",
            advice="a fault that keeps coming back is a hardware cause, not a vehicle: check the sensor and the "
            "part it watches",
            evidence={"connector_id": r["connector_id"], "code": r["code"], "count": r["n"], "sessions": r["sessions"]},
        )
        for r in rows
    ]


#: stages whose failures point at the connector's hardware when many different vehicles hit them there
CONNECTOR_STAGES = ("connection_detection", "bms_wake_up", "insulation_test", "pre_charge", "contactor_closure")


def connector_failures(conn: sqlite3.Connection, settings: DiagnosticsSettings) -> list[Finding]:
    """One connector failing a hardware-ish handshake stage far more often than the others, with different
    vehicles (so it is not one vehicle's problem) — the evidence of worn pins or a failing part even when no
    pilot readings are recorded."""
    totals = {
        r[0]: int(r[1])
        for r in conn.execute(
            "SELECT connector_id, COUNT(*) FROM sessions WHERE outcome_kind IS NOT NULL GROUP BY connector_id"
        )
    }
    rows = conn.execute(
        f"""
        SELECT connector_id, outcome_stage, outcome_reason, COUNT(*) AS n,
               COUNT(DISTINCT COALESCE(vehicle_key, id)) AS vehicles, MAX(outcome_detail) AS detail
        FROM sessions WHERE outcome_kind = 'failed'
          AND outcome_stage IN ({", ".join("?" * len(CONNECTOR_STAGES))})
        GROUP BY connector_id, outcome_stage
        """,
        CONNECTOR_STAGES,
    ).fetchall()
    failures = {(r["connector_id"], r["outcome_stage"]): r for r in rows}
    findings = []
    for (connector_id, stage), r in failures.items():
        total = totals.get(connector_id, 0)
        other_total = sum(n for c, n in totals.items() if c != connector_id)
        if r["n"] < settings.connector_min_failures or r["vehicles"] < 2 or not total or not other_total:
            continue  # too few, one vehicle's problem, or no other connector to compare with
        share = r["n"] / total
        other_failed = sum(x["n"] for (c, st), x in failures.items() if c != connector_id and st == stage)
        other_share = other_failed / other_total if other_total else 0.0
        if share < settings.connector_failure_share or share < settings.connector_failure_ratio * other_share:
            continue
        word = STAGE_WORDS.get(stage, stage)
        summary = (
            f"connector {connector_id}: {r['n']} of {total} sessions failed in {word} ({r['outcome_reason']}) with "
            f"{r['vehicles']} different vehicles; the other connectors: {other_failed} of {other_total}"
        )
        findings.append(
            Finding(
                rule="connector_failures",
                subject=f"connector {connector_id}",
                summary=summary,
                advice="the connector, not the vehicles: inspect its pins and cable, and the parts this stage uses "
                "(pilot/CC1 circuit, CAN or PLC link, insulation monitor, power module, contactors)",
                evidence={
                    "connector_id": connector_id,
                    "stage": stage,
                    "failed": r["n"],
                    "sessions": total,
                    "vehicles": r["vehicles"],
                    "others_failed": other_failed,
                    "others_sessions": other_total,
                    "example_detail": r["detail"] or "",
                },
            )
        )
    return findings


RULES: dict[str, Rule] = {
    "pilot_drift": pilot_drift,
    "vehicle_incompatible": vehicle_incompatible,
    "insulation_decline": insulation_decline,
    "recurring_fault": recurring_fault,
    "connector_failures": connector_failures,
}

#: a finding of the key rule on a subject makes the value rule's finding on the same subject redundant (the
#: pilot drift already names the connector and counts its handshake failures)
SUBSUMES = {"pilot_drift": "connector_failures", "insulation_decline": "connector_failures"}
