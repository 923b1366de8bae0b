"""`evse diagnose`: success rates, failures by stage and reason, and the findings of every rule.

The report is plain data (`Report.to_dict()`, served by the API as JSON) with a text rendering for the
terminal. Success means the session did not fail (completed, or stopped by user, CSMS, vehicle or station);
sessions still running are not counted.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from evse.diagnostics.findings import Finding
from evse.diagnostics.rules import RULES, STAGE_WORDS, STANDARD_NAMES, SUBSUMES
from evse.diagnostics.settings import DiagnosticsSettings

#: vehicles listed in the report at most (those with the most failures first)
MAX_VEHICLES = 20


@dataclass(frozen=True, slots=True)
class Rate:
    key: str
    sessions: int
    failed: int

    @property
    def success_pct(self) -> float:
        return 100.0 * (self.sessions - self.failed) / self.sessions if self.sessions else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "sessions": self.sessions,
            "failed": self.failed,
            "success_pct": round(self.success_pct, 1),
        }


@dataclass(frozen=True, slots=True)
class FailureGroup:
    stage: str
    reason: str
    count: int
    example_detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "reason": self.reason, "count": self.count, "example_detail": self.example_detail}


@dataclass(slots=True)
class Report:
    sessions: int = 0
    failed: int = 0
    by_connector: list[Rate] = field(default_factory=list)
    by_protocol: list[Rate] = field(default_factory=list)
    by_vehicle: list[Rate] = field(default_factory=list)
    failures: list[FailureGroup] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "failed": self.failed,
            "success_pct": round(100.0 * (self.sessions - self.failed) / self.sessions, 1) if self.sessions else None,
            "by_connector": [r.to_dict() for r in self.by_connector],
            "by_protocol": [r.to_dict() for r in self.by_protocol],
            "by_vehicle": [r.to_dict() for r in self.by_vehicle],
            "failures": [f.to_dict() for f in self.failures],
            "findings": [f.to_dict() for f in self.findings],
        }


def _rates(
    conn: sqlite3.Connection, group_by: str, label: Callable[[sqlite3.Row], str], order: str, limit: int = -1
) -> list[Rate]:
    """Sessions and failures per group; grouping by plain columns lets SQLite walk a covering index."""
    rows = conn.execute(
        f"SELECT {group_by}, COUNT(*) AS n, SUM(outcome_kind = 'failed') AS failed FROM sessions"
        f" WHERE outcome_kind IS NOT NULL GROUP BY {group_by} ORDER BY {order} LIMIT ?",
        (limit,),
    )
    return [Rate(label(r), int(r["n"]), int(r["failed"] or 0)) for r in rows]


def build_report(conn: sqlite3.Connection, settings: DiagnosticsSettings | None = None) -> Report:
    settings = settings or DiagnosticsSettings()
    report = Report()
    total = conn.execute(
        "SELECT COUNT(*), SUM(outcome_kind = 'failed') FROM sessions WHERE outcome_kind IS NOT NULL"
    ).fetchone()
    report.sessions, report.failed = int(total[0]), int(total[1] or 0)
    report.by_connector = _rates(conn, "connector_id", lambda r: f"connector {r[0]}", "connector_id")
    report.by_protocol = _rates(
        conn, "standard, protocol_version", lambda r: f"{r[0]} {r[1] or '?'}", "standard, protocol_version"
    )
    report.by_vehicle = _rates(
        conn, "vehicle_key", lambda r: r[0] or "(unidentified)", "failed DESC, n DESC, vehicle_key", limit=MAX_VEHICLES
    )
    for r in conn.execute(
        "SELECT outcome_stage, outcome_reason, COUNT(*) AS n, MAX(outcome_detail) AS detail FROM sessions"
        " WHERE outcome_kind = 'failed' GROUP BY outcome_stage, outcome_reason ORDER BY n DESC"
    ):
        report.failures.append(FailureGroup(r["outcome_stage"], r["outcome_reason"], r["n"], r["detail"] or ""))
    for rule in RULES.values():
        report.findings.extend(rule(conn, settings))
    covered = {(SUBSUMES[f.rule], f.subject) for f in report.findings if f.rule in SUBSUMES}
    report.findings = [f for f in report.findings if (f.rule, f.subject) not in covered]
    return report


def _rate_table(title: str, rates: list[Rate]) -> list[str]:
    if not rates:
        return []
    width = max(len(r.key) for r in rates)
    lines = [title]
    for r in rates:
        label = r.key
        for code, name in STANDARD_NAMES.items():
            if label.startswith(code + " "):
                label = name + label[len(code) :]
        lines.append(f"  {label:<{width}}  {r.sessions:>6} sessions  {r.failed:>5} failed  {r.success_pct:5.1f} % ok")
    return [*lines, ""]


def render_text(report: Report) -> str:
    if report.sessions == 0:
        return "No finished sessions are stored yet: nothing to diagnose."
    ok_pct = 100.0 * (report.sessions - report.failed) / report.sessions
    lines = [f"{report.sessions} sessions, {report.failed} failed ({ok_pct:.1f} % ok)", ""]
    lines += _rate_table("By connector:", report.by_connector)
    lines += _rate_table("By standard and protocol version:", report.by_protocol)
    lines += _rate_table("By vehicle (most failures first):", report.by_vehicle)
    if report.failures:
        lines.append("Failures by stage and reason:")
        for f in report.failures:
            detail = f" — e.g. {f.example_detail}" if f.example_detail else ""
            lines.append(f"  {f.count:>5}  {STAGE_WORDS.get(f.stage, f.stage)}: {f.reason}{detail}")
        lines.append("")
    if report.findings:
        lines.append("Findings:")
        for n, finding in enumerate(report.findings, 1):
            lines.append(f"  {n}. {finding.text()}")
    else:
        lines.append("Findings: none — no rule found a pattern in the stored sessions.")
    return "\n".join(lines)
