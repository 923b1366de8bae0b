"""The write side of the session database: applies batches of row operations in one transaction each.

It runs on the recorder's single writer thread (the event loop never waits for an fsync). A batch is a list of
`Op` tuples produced by `evse.store.recorder`; the whole batch commits or none of it does, so a session row and
its children are never half-written. Retention and crash recovery live here too, because they are writes.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from evse.store.database import database_size_bytes

#: (kind, session id, payload); kinds: start, set, stage, stage_exit, sample, limit, trace, fault, pilot, insulation
Op = tuple[str, str, Any]

_CHILD_INSERT: dict[str, str] = {
    "sample": "INSERT INTO samples (sid, t_s, voltage_v, current_a, power_w, energy_wh, soc_pct, requested_current_a,"
    " offered_current_a, limit_source, temperatures) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
    "limit": "INSERT INTO limits (sid, t_s, current_limit_a, power_limit_w, source) VALUES (?,?,?,?,?)",
    "trace": "INSERT INTO trace (sid, t_s, direction, kind, text) VALUES (?,?,?,?,?)",
    "fault": "INSERT INTO faults (sid, t_s, code, detail, tripped) VALUES (?,?,?,?,?)",
    "pilot": "INSERT INTO pilot (sid, t_s, line, voltage_v, nominal_v) VALUES (?,?,?,?,?)",
    "insulation": "INSERT INTO insulation (sid, t_s, resistance_ohm, test_voltage_v, passed) VALUES (?,?,?,?,?)",
    "stage": "INSERT OR REPLACE INTO stages (sid, seq, stage, entered_s) VALUES (?,?,?,?)",
}

#: columns a "set" op may write (names are interpolated into SQL, so they come from this list only)
SESSION_COLUMNS = frozenset(
    {
        "protocol_version",
        "vehicle_key",
        "identity",
        "id_tag",
        "authorization_status",
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
    }
)

INTERRUPTED_DETAIL = "interrupted: the daemon stopped before the session ended (crash or power loss)"

#: share of the stored sessions deleted per round while the database is over its size bound (at least one)
_SIZE_DELETE_FRACTION = 0.02


class StoreWriter:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._sids: dict[str, int] = {}

    def _sid(self, session_id: str, pending: dict[str, int]) -> int | None:
        sid = pending.get(session_id) or self._sids.get(session_id)
        if sid is None:
            row = self.conn.execute("SELECT sid FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is not None:
                sid = int(row[0])
                pending[session_id] = sid
        return sid

    def apply(self, ops: list[Op]) -> int:
        """Write `ops` in one transaction; returns the number of operations applied."""
        pending: dict[str, int] = {}
        applied = 0
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for kind, session_id, payload in ops:
                if kind == "start":
                    cur = conn.execute(
                        "INSERT OR IGNORE INTO sessions (id, connector_id, standard, started_at, start_t_s)"
                        " VALUES (?,?,?,?,?)",
                        (session_id, *payload),
                    )
                    if cur.rowcount:
                        pending[session_id] = int(cur.lastrowid or 0)
                    applied += 1
                    continue
                sid = self._sid(session_id, pending)
                if sid is None:
                    continue  # its session row never made it (dropped batch): nothing to attach to
                if kind == "set":
                    cols = [c for c in payload if c in SESSION_COLUMNS]
                    if cols:
                        sql = "UPDATE sessions SET " + ", ".join(f"{c} = ?" for c in cols) + " WHERE sid = ?"
                        conn.execute(sql, (*(payload[c] for c in cols), sid))
                elif kind == "stage_exit":
                    seq, exited_s = payload
                    conn.execute("UPDATE stages SET exited_s = ? WHERE sid = ? AND seq = ?", (exited_s, sid, seq))
                else:
                    conn.execute(_CHILD_INSERT[kind], (sid, *payload))
                applied += 1
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._sids.update(pending)
        return applied

    def forget(self, session_id: str) -> None:
        self._sids.pop(session_id, None)

    def recover_interrupted(self, active: set[str] | None = None) -> int:
        """Close sessions a previous run left open (crash, power loss): outcome stopped_by_station/shutdown in
        their last stage, ended at their last recorded sample. Returns how many were closed."""
        active = active or set()
        rows = self.conn.execute("SELECT sid, id, started_at, last_stage FROM sessions WHERE ended_at IS NULL")
        todo = [r for r in rows.fetchall() if r["id"] not in active]
        if not todo:
            return 0
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for r in todo:
                last = self.conn.execute("SELECT MAX(t_s) FROM samples WHERE sid = ?", (r["sid"],)).fetchone()[0]
                self.conn.execute(
                    "UPDATE sessions SET ended_at = ?, outcome_kind = 'stopped_by_station', outcome_stage = ?,"
                    " outcome_reason = 'shutdown', outcome_detail = ? WHERE sid = ?",
                    (r["started_at"] + (last or 0.0), r["last_stage"] or "idle", INTERRUPTED_DETAIL, r["sid"]),
                )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return len(todo)

    def retain(self, now_epoch_s: float, max_age_s: float, max_size_bytes: int) -> int:
        """Delete ended sessions older than `max_age_s` (0 = no age bound), then the oldest ended sessions while
        the database is larger than `max_size_bytes`. Returns the number deleted."""
        deleted = 0
        if max_age_s > 0:
            cur = self._delete("ended_at IS NOT NULL AND started_at < ?", (now_epoch_s - max_age_s,))
            deleted += cur
        while database_size_bytes(self.conn) > max_size_bytes:
            stored = self.conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
            n = self._delete(
                "sid IN (SELECT sid FROM sessions WHERE ended_at IS NOT NULL ORDER BY started_at LIMIT ?)",
                (max(1, int(stored * _SIZE_DELETE_FRACTION)),),
            )
            if n == 0:
                break  # only running sessions left: nothing more retention may delete
            deleted += n
        if deleted:
            # hand freed pages back to the file system (auto_vacuum=INCREMENTAL), then shrink the WAL
            # the pragma frees one page per step and returns no row, so Cursor.execute would step it only once;
            # executescript (sqlite3_exec) steps it to the end
            self.conn.executescript("PRAGMA incremental_vacuum;")
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._sids.clear()
        return deleted

    def _delete(self, where: str, params: tuple[Any, ...]) -> int:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            cur = self.conn.execute(f"DELETE FROM sessions WHERE {where}", params)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return int(cur.rowcount)


def dumps(value: Any) -> str:
    """Compact JSON for the store's JSON columns."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
