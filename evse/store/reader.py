"""The read side of the session database: what `evse sessions`, `evse diagnose` and the local API show.

A `SessionReader` holds its own connection (WAL: it never blocks the recorder). Its methods are synchronous —
the API calls them through `asyncio.to_thread`, the CLI directly. Sessions come back as plain dicts (JSON
columns decoded), so the CLI, the API and `export` show the same fields.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evse.store.database import connect

_JSON_COLUMNS = ("identity", "limits", "stage_durations")
#: columns of a session summary (list/export), in the order export writes them
SUMMARY_COLUMNS = (
    "id",
    "connector_id",
    "standard",
    "protocol_version",
    "vehicle_key",
    "identity",
    "id_tag",
    "authorization_status",
    "started_at",
    "ended_at",
    "last_stage",
    "outcome_kind",
    "outcome_stage",
    "outcome_reason",
    "outcome_detail",
    "vehicle_reason",
    "energy_wh",
    "soc_start_pct",
    "soc_end_pct",
    "peak_power_w",
    "limits",
    "stage_durations",
    "insulation_ohm",
    "trace_dropped",
)
_SUMMARY_SQL = "SELECT " + ", ".join(SUMMARY_COLUMNS) + " FROM sessions"


class SessionNotFound(KeyError):
    """No stored session has this id."""


def _summary(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    for col in _JSON_COLUMNS:
        if out.get(col):
            out[col] = json.loads(out[col])
    return out


class SessionReader:
    def __init__(self, path: Path, *, busy_timeout_s: float = 5.0) -> None:
        self.path = path
        self.conn = connect(path, busy_timeout_s=busy_timeout_s, readonly=True)

    def close(self) -> None:
        self.conn.close()

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])

    def sessions(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        connector_id: int | None = None,
        outcome_kind: str | None = None,
        failed_only: bool = False,
    ) -> list[dict[str, Any]]:
        """Sessions, newest first."""
        where, params = self._filters(connector_id, outcome_kind, failed_only)
        sql = f"{_SUMMARY_SQL}{where} ORDER BY started_at DESC, sid DESC LIMIT ? OFFSET ?"
        return [_summary(r) for r in self.conn.execute(sql, (*params, limit, offset))]

    @staticmethod
    def _filters(connector_id: int | None, outcome_kind: str | None, failed_only: bool) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if connector_id is not None:
            clauses.append("connector_id = ?")
            params.append(connector_id)
        if outcome_kind is not None:
            clauses.append("outcome_kind = ?")
            params.append(outcome_kind)
        if failed_only:
            clauses.append("outcome_kind = 'failed'")
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def iter_all(self) -> Iterator[dict[str, Any]]:
        """Every session summary, oldest first (for export)."""
        for row in self.conn.execute(f"{_SUMMARY_SQL} ORDER BY started_at, sid"):
            yield _summary(row)

    def _sid(self, session_id: str) -> tuple[int, dict[str, Any]]:
        row = self.conn.execute(f"SELECT sid, {', '.join(SUMMARY_COLUMNS)} FROM sessions WHERE id = ?", (session_id,))
        found = row.fetchone()
        if found is None:
            raise SessionNotFound(session_id)
        summary = _summary(found)
        return int(summary.pop("sid")), summary

    def get(self, session_id: str, *, with_samples: bool = True, with_trace: bool = True) -> dict[str, Any]:
        """One session with its stages, limits over time, faults, pilot and insulation readings, and (unless
        asked not to) its 1 Hz samples and handshake trace."""
        sid, out = self._sid(session_id)
        q = self.conn.execute
        out["stages"] = [
            dict(r) for r in q("SELECT stage, entered_s, exited_s FROM stages WHERE sid = ? ORDER BY seq", (sid,))
        ]
        out["limits_over_time"] = [
            dict(r)
            for r in q(
                "SELECT t_s, current_limit_a, power_limit_w, source FROM limits WHERE sid = ? ORDER BY t_s", (sid,)
            )
        ]
        out["faults"] = [
            {**dict(r), "tripped": bool(r["tripped"])}
            for r in q("SELECT t_s, code, detail, tripped FROM faults WHERE sid = ? ORDER BY t_s", (sid,))
        ]
        out["pilot"] = [
            dict(r) for r in q("SELECT t_s, line, voltage_v, nominal_v FROM pilot WHERE sid = ? ORDER BY t_s", (sid,))
        ]
        out["insulation"] = [
            {**dict(r), "passed": bool(r["passed"])}
            for r in q(
                "SELECT t_s, resistance_ohm, test_voltage_v, passed FROM insulation WHERE sid = ? ORDER BY t_s", (sid,)
            )
        ]
        if with_samples:
            out["samples"] = self.samples(session_id, sid=sid)
        if with_trace:
            out["trace"] = self.trace(session_id, sid=sid)
        return out

    def samples(self, session_id: str, *, sid: int | None = None) -> list[dict[str, Any]]:
        if sid is None:
            sid, _ = self._sid(session_id)
        rows = self.conn.execute(
            "SELECT t_s, voltage_v, current_a, power_w, energy_wh, soc_pct, requested_current_a, offered_current_a,"
            " limit_source, temperatures FROM samples WHERE sid = ? ORDER BY t_s",
            (sid,),
        )
        out = []
        for r in rows:
            d = dict(r)
            d["temperatures"] = json.loads(d["temperatures"]) if d["temperatures"] else {}
            out.append(d)
        return out

    def trace(self, session_id: str, *, sid: int | None = None) -> list[dict[str, Any]]:
        if sid is None:
            sid, _ = self._sid(session_id)
        rows = self.conn.execute(
            "SELECT t_s, direction, kind, text FROM trace WHERE sid = ? ORDER BY t_s, rowid", (sid,)
        )
        return [dict(r) for r in rows]
