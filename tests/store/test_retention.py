"""Retention keeps the database bounded by age and by size, deleting whole sessions, oldest first."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from evse.session.events import EventBus
from evse.store.database import connect, database_size_bytes
from evse.store.reader import SessionReader
from evse.store.recorder import SessionRecorder
from evse.store.settings import StoreSettings
from evse.store.writer import StoreWriter
from tests.store.fleet import SessionSpec, publish_session

pytestmark = pytest.mark.looptime

DAY_S = 86400.0


def spec(n: int, t0_s: float) -> SessionSpec:
    return SessionSpec(
        session_id=f"s{n:04d}",
        connector_id=1 + n % 2,
        standard="gbt",
        t0_s=t0_s,
        identity={"vin": f"VIN{n}"},
        protocol_version="gbt-2015",
        pilot_v=3.95,
        energy_s=60,
    )


async def test_age_retention_deletes_old_sessions_and_their_rows(db_path: Path) -> None:
    bus = EventBus()
    rec = SessionRecorder(db_path, StoreSettings(retention_days=30), bus)
    await rec.start()
    # sessions 0..9 started 100..91 days ago ... 10 days ago (loop time is relative to "now")
    for n in range(10):
        publish_session(bus, spec(n, -(100 - 10 * n) * DAY_S))
    await rec.flush()
    deleted = await rec.retain()
    await rec.stop()
    reader = SessionReader(db_path)
    kept = sorted(s["id"] for s in reader.sessions(limit=100))
    # started 100, 90, … 40 days ago are gone; 30 days (boundary + session length) and younger stay
    assert deleted == 7 and kept == ["s0007", "s0008", "s0009"]
    orphans = reader.conn.execute("SELECT COUNT(*) FROM samples WHERE sid NOT IN (SELECT sid FROM sessions)")
    assert orphans.fetchone()[0] == 0


async def test_size_retention_bounds_the_file_and_keeps_the_newest(db_path: Path) -> None:
    bus = EventBus()
    rec = SessionRecorder(db_path, StoreSettings(retention_days=0, max_size_mb=0.25), bus)
    await rec.start()
    for n in range(60):
        publish_session(bus, spec(n, n * 3600.0 - 400 * 3600.0))
    await rec.flush()
    conn = connect(db_path)
    before = database_size_bytes(conn)
    assert before > 0.25 * 1024 * 1024, "the test needs a database over the bound"
    deleted = await rec.retain()
    await rec.stop()
    after = database_size_bytes(conn)
    assert deleted > 0 and after <= 0.25 * 1024 * 1024
    # freed pages went back to the file system (incremental vacuum), so the file itself shrank
    assert db_path.stat().st_size <= 0.3 * 1024 * 1024  # noqa: ASYNC240
    kept = sorted(s["id"] for s in SessionReader(db_path).sessions(limit=100))
    assert kept[-1] == "s0059" and kept == [f"s{n:04d}" for n in range(60 - len(kept), 60)]
    conn.close()


def test_running_sessions_are_never_deleted(tmp_path: Path) -> None:
    conn = connect(tmp_path / "db.sqlite")
    writer = StoreWriter(conn)
    writer.apply([("start", "running", (1, "ccs", 0.0, 0.0))])
    assert writer.retain(time.time(), max_age_s=1.0, max_size_bytes=1) == 0  # wall-clock ok: test
    assert conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 1
