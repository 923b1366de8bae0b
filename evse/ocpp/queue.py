"""The persistent queue of transaction-related messages (OCPP 1.6 §4.10 "Transaction-related messages"):
StartTransaction, StopTransaction and transaction MeterValues, delivered in order, after reconnects and restarts.

A message that belongs to a transaction refers to it by our *local* transaction id (`tx_local`); the CSMS's
transactionId is filled in at send time, because a transaction started offline gets its id only when its
StartTransaction is finally delivered. Open transactions live in the same database, so a start, a stop and the
"transaction is stopped" mark change in one SQL transaction: after a crash, recovery sees either both or neither.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from evse.ocpp.db import OcppDatabase

START = "StartTransaction"
STOP = "StopTransaction"
METER = "MeterValues"


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    seq: int
    action: str
    payload: dict[str, Any]
    tx_local: int | None
    attempts: int


@dataclass(frozen=True, slots=True)
class OpenTransaction:
    local_id: int
    connector_id: int
    id_tag: str
    session_id: str | None
    meter_start_wh: int
    csms_id: int | None
    last_meter_wh: int
    last_meter_at: str


class TransactionQueue:
    """Queue + transaction table over the OCPP database."""

    def __init__(self, db: OcppDatabase) -> None:
        self._db = db
        self._wake: asyncio.Event | None = None

    # -- waking the sender
    def _notify(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def wait_nonempty(self) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
        while self.empty():
            self._wake.clear()
            await self._wake.wait()

    # -- queue
    def empty(self) -> bool:
        """O(1), unlike COUNT(*) which walks the whole table: the sender asks before every message."""
        return self._db.conn.execute("SELECT 1 FROM queue LIMIT 1").fetchone() is None

    def __len__(self) -> int:
        return int(self._db.conn.execute("SELECT COUNT(*) FROM queue").fetchone()[0])

    def _push(self, action: str, payload: dict[str, Any], tx_local: int | None) -> int:
        cur = self._db.conn.execute(
            "INSERT INTO queue(action, payload, tx_local) VALUES (?, ?, ?)", (action, json.dumps(payload), tx_local)
        )
        return int(cur.lastrowid or 0)

    def push(self, action: str, payload: dict[str, Any], tx_local: int | None = None) -> int:
        seq = self._push(action, payload, tx_local)
        self._notify()
        return seq

    def peek(self) -> QueuedMessage | None:
        row = self._db.conn.execute(
            "SELECT seq, action, payload, tx_local, attempts FROM queue ORDER BY seq LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return QueuedMessage(row[0], row[1], json.loads(row[2]), row[3], row[4])

    def all(self) -> list[QueuedMessage]:
        rows = self._db.conn.execute("SELECT seq, action, payload, tx_local, attempts FROM queue ORDER BY seq")
        return [QueuedMessage(r[0], r[1], json.loads(r[2]), r[3], r[4]) for r in rows]

    def remove(self, seq: int) -> None:
        self._db.conn.execute("DELETE FROM queue WHERE seq = ?", (seq,))

    def count_attempt(self, seq: int) -> int:
        self._db.conn.execute("UPDATE queue SET attempts = attempts + 1 WHERE seq = ?", (seq,))
        row = self._db.conn.execute("SELECT attempts FROM queue WHERE seq = ?", (seq,)).fetchone()
        return 0 if row is None else int(row[0])

    # -- transactions
    def begin(
        self,
        connector_id: int,
        id_tag: str,
        session_id: str | None,
        meter_start_wh: int,
        timestamp: str,
        reservation_id: int | None = None,
    ) -> int:
        """Record a new transaction and queue its StartTransaction, atomically. Returns the local id."""
        payload: dict[str, Any] = {
            "connectorId": connector_id,
            "idTag": id_tag,
            "meterStart": meter_start_wh,
            "timestamp": timestamp,
        }
        if reservation_id is not None:
            payload["reservationId"] = reservation_id
        with self._db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO transactions(connector_id, id_tag, session_id, meter_start_wh, started_at, last_meter_wh,"
                " last_meter_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (connector_id, id_tag, session_id, meter_start_wh, timestamp, meter_start_wh, timestamp),
            )
            local_id = int(cur.lastrowid or 0)
            self._push(START, payload, local_id)
        self._notify()
        return local_id

    def meter(self, local_id: int, payload: dict[str, Any], energy_wh: int | None, timestamp: str) -> None:
        """Queue a transaction MeterValues and remember the last meter reading for crash recovery."""
        with self._db.transaction() as conn:
            self._push(METER, payload, local_id)
            if energy_wh is not None:
                conn.execute(
                    "UPDATE transactions SET last_meter_wh = ?, last_meter_at = ? WHERE local_id = ?",
                    (energy_wh, timestamp, local_id),
                )
        self._notify()

    def note_meter(self, local_id: int, energy_wh: int, timestamp: str) -> None:
        self._db.conn.execute(
            "UPDATE transactions SET last_meter_wh = ?, last_meter_at = ? WHERE local_id = ?",
            (energy_wh, timestamp, local_id),
        )

    def end(
        self,
        local_id: int,
        meter_stop_wh: int,
        timestamp: str,
        reason: str,
        id_tag: str | None = None,
        transaction_data: list[dict[str, Any]] | None = None,
    ) -> bool:
        """Queue the StopTransaction and mark the transaction stopped, atomically; False if already stopped."""
        payload: dict[str, Any] = {"meterStop": meter_stop_wh, "timestamp": timestamp, "reason": reason}
        if id_tag:
            payload["idTag"] = id_tag
        if transaction_data:
            payload["transactionData"] = transaction_data
        with self._db.transaction() as conn:
            cur = conn.execute("UPDATE transactions SET stopped = 1 WHERE local_id = ? AND stopped = 0", (local_id,))
            if cur.rowcount != 1:
                return False
            self._push(STOP, payload, local_id)
        self._notify()
        return True

    def open_transactions(self) -> list[OpenTransaction]:
        rows = self._db.conn.execute(
            "SELECT local_id, connector_id, id_tag, session_id, meter_start_wh, csms_id, last_meter_wh, last_meter_at"
            " FROM transactions WHERE stopped = 0 ORDER BY local_id"
        )
        return [OpenTransaction(*r) for r in rows]

    def assign(self, local_id: int, csms_id: int) -> None:
        self._db.conn.execute("UPDATE transactions SET csms_id = ? WHERE local_id = ?", (csms_id, local_id))

    def csms_id(self, local_id: int) -> int | None:
        row = self._db.conn.execute("SELECT csms_id FROM transactions WHERE local_id = ?", (local_id,)).fetchone()
        return None if row is None else row[0]

    def local_for_csms(self, csms_id: int) -> int | None:
        row = self._db.conn.execute(
            "SELECT local_id FROM transactions WHERE csms_id = ? AND stopped = 0", (csms_id,)
        ).fetchone()
        return None if row is None else int(row[0])

    def forget_finished(self) -> None:
        """Drop stopped transactions whose messages were all delivered (keeps the table small)."""
        self._db.conn.execute(
            "DELETE FROM transactions WHERE stopped = 1 AND local_id NOT IN"
            " (SELECT tx_local FROM queue WHERE tx_local IS NOT NULL)"
        )
