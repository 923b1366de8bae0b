"""The session database: one SQLite file in WAL mode under the state directory.

Why these pragmas:
* `journal_mode=WAL`: readers (API, CLI, diagnose) never block the recorder and vice versa, and a crash leaves
  the main file untouched — the WAL is replayed or discarded on the next open.
* `synchronous=FULL` (default, see `StoreSettings.synchronous`): in WAL mode every commit fsyncs the WAL, so a
  transaction that returned from COMMIT survives a power cut. NORMAL only fsyncs at checkpoints: still never
  corrupt, but the last commits may vanish after a power loss — not acceptable for a charging record. The cost
  is one fsync per batch, and the recorder batches (at most one commit per `flush_interval_s` in steady state).
* `auto_vacuum=INCREMENTAL` (set when the file is created): retention frees pages and hands them back to the
  file system, so the file really shrinks on small flash.
* `journal_size_limit`: the WAL is truncated after a checkpoint instead of staying at its high-water mark.

The indexes on `sessions` serve `evse diagnose`: per-connector windows (connector, start), per-vehicle counts,
outcome counts by connector and protocol (covering), and failures by stage and reason (partial).

Child rows reference the session by integer `sid` (not the text id) to keep them small; times in child tables
are seconds relative to the session's start (`start_t_s`, event-loop time).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA_VERSION = 1

#: WAL size kept after a checkpoint (bytes); beyond this the file is truncated
WAL_SIZE_LIMIT_BYTES = 4 * 1024 * 1024

DDL = """
CREATE TABLE IF NOT EXISTS sessions (
    sid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    connector_id INTEGER NOT NULL,
    standard TEXT NOT NULL,
    protocol_version TEXT,
    vehicle_key TEXT,
    identity TEXT,
    id_tag TEXT,
    authorization_status TEXT,
    started_at REAL NOT NULL,
    start_t_s REAL NOT NULL,
    ended_at REAL,
    last_stage TEXT,
    outcome_kind TEXT,
    outcome_stage TEXT,
    outcome_reason TEXT,
    outcome_detail TEXT,
    vehicle_reason TEXT,
    energy_wh REAL,
    soc_start_pct REAL,
    soc_end_pct REAL,
    peak_power_w REAL,
    limits TEXT,
    stage_durations TEXT,
    insulation_ohm REAL,
    trace_dropped INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sessions_started ON sessions(started_at);
CREATE INDEX IF NOT EXISTS sessions_connector ON sessions(connector_id, started_at);
CREATE INDEX IF NOT EXISTS sessions_vehicle ON sessions(vehicle_key, outcome_kind, connector_id);
CREATE INDEX IF NOT EXISTS sessions_outcome ON sessions(outcome_kind, connector_id, standard, protocol_version);
CREATE INDEX IF NOT EXISTS sessions_failure ON sessions(outcome_stage, outcome_reason) WHERE outcome_kind = 'failed';
CREATE TABLE IF NOT EXISTS stages (
    sid INTEGER NOT NULL REFERENCES sessions(sid) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    stage TEXT NOT NULL,
    entered_s REAL NOT NULL,
    exited_s REAL,
    PRIMARY KEY (sid, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS samples (
    sid INTEGER NOT NULL REFERENCES sessions(sid) ON DELETE CASCADE,
    t_s REAL NOT NULL,
    voltage_v REAL,
    current_a REAL,
    power_w REAL,
    energy_wh REAL,
    soc_pct REAL,
    requested_current_a REAL,
    offered_current_a REAL,
    limit_source TEXT,
    temperatures TEXT
);
CREATE INDEX IF NOT EXISTS samples_sid ON samples(sid, t_s);
CREATE TABLE IF NOT EXISTS limits (
    sid INTEGER NOT NULL REFERENCES sessions(sid) ON DELETE CASCADE,
    t_s REAL NOT NULL,
    current_limit_a REAL,
    power_limit_w REAL,
    source TEXT
);
CREATE INDEX IF NOT EXISTS limits_sid ON limits(sid, t_s);
CREATE TABLE IF NOT EXISTS trace (
    sid INTEGER NOT NULL REFERENCES sessions(sid) ON DELETE CASCADE,
    t_s REAL NOT NULL,
    direction TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS trace_sid ON trace(sid, t_s);
CREATE TABLE IF NOT EXISTS faults (
    sid INTEGER NOT NULL REFERENCES sessions(sid) ON DELETE CASCADE,
    t_s REAL NOT NULL,
    code TEXT NOT NULL,
    detail TEXT,
    tripped INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS faults_sid ON faults(sid);
CREATE TABLE IF NOT EXISTS pilot (
    sid INTEGER NOT NULL REFERENCES sessions(sid) ON DELETE CASCADE,
    t_s REAL NOT NULL,
    line TEXT NOT NULL,
    voltage_v REAL NOT NULL,
    nominal_v REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS pilot_sid ON pilot(sid);
CREATE TABLE IF NOT EXISTS insulation (
    sid INTEGER NOT NULL REFERENCES sessions(sid) ON DELETE CASCADE,
    t_s REAL NOT NULL,
    resistance_ohm REAL NOT NULL,
    test_voltage_v REAL,
    passed INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS insulation_sid ON insulation(sid);
"""

#: child tables, in the order retention deletes from them
CHILD_TABLES = ("stages", "samples", "limits", "trace", "faults", "pilot", "insulation")


class StoreError(Exception):
    """The session database cannot be opened or used; the message names the file and the fix."""


def connect(
    path: Path, *, synchronous: str = "FULL", busy_timeout_s: float = 5.0, readonly: bool = False
) -> sqlite3.Connection:
    """Open (and create or migrate) the session database at `path`."""
    try:
        if readonly:
            if not path.exists():
                raise StoreError(f"no session database at {path}: start the daemon once or check --state-dir")
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=busy_timeout_s, check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=busy_timeout_s, check_same_thread=False, isolation_level=None)
        conn.row_factory = sqlite3.Row
        if not readonly:
            fresh = conn.execute("PRAGMA user_version").fetchone()[0] == 0
            if fresh:
                # must precede the first table: auto_vacuum cannot be switched on later without a VACUUM
                conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
            conn.executescript(DDL)
            if fresh:
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'FULL' else 'NORMAL'}")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open the session database {path}: {exc}; check the file and its permissions") from exc
    except OSError as exc:
        raise StoreError(f"cannot create the session database {path}: {exc}; check the state directory") from exc


def database_size_bytes(conn: sqlite3.Connection) -> int:
    """Bytes in use by the database (pages in use, excluding the free list), the figure retention bounds."""
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return int((pages - free) * page_size)
