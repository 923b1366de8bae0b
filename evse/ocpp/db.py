"""The OCPP client's own SQLite database (`<state_dir>/ocpp.sqlite`): configuration keys, the transaction-message
queue, open transactions, the local authorization list and cache, charging profiles and reservations.

Why one file and synchronous sqlite3: every write is a few rows on a local disk in WAL mode (tens of
microseconds), far cheaper than a thread hop; and a single file means the queue and the transaction table change
together in one SQL transaction, which is what makes "stop the open transaction exactly once after a crash" hold.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DB_FILE_NAME = "ocpp.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS config (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL,
    payload TEXT NOT NULL,
    tx_local INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS transactions (
    local_id INTEGER PRIMARY KEY AUTOINCREMENT,
    connector_id INTEGER NOT NULL,
    id_tag TEXT NOT NULL,
    session_id TEXT,
    meter_start_wh INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    csms_id INTEGER,
    last_meter_wh INTEGER NOT NULL,
    last_meter_at TEXT NOT NULL,
    stopped INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS local_list (id_tag TEXT PRIMARY KEY, info TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS auth_cache (id_tag TEXT PRIMARY KEY, info TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS charging_profiles (
    profile_id INTEGER PRIMARY KEY, connector_id INTEGER NOT NULL, profile TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reservations (
    reservation_id INTEGER PRIMARY KEY, connector_id INTEGER NOT NULL, id_tag TEXT NOT NULL,
    parent_id_tag TEXT, expiry TEXT NOT NULL
);
"""


class OcppDatabase:
    """A thin wrapper over one sqlite3 connection (autocommit; `transaction()` groups writes)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a committed transaction survives a process crash (SIGKILL); only an OS crash
        # may lose the last commits, never corrupt the file.
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(_SCHEMA)

    @classmethod
    def in_dir(cls, state_dir: Path | str) -> OcppDatabase:
        return cls(Path(state_dir) / DB_FILE_NAME)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()

    # small key/value state (local list version, pending reset …)
    def get_state(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_state(self, key: str, value: Any) -> None:
        self.conn.execute(
            "INSERT INTO state(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )
