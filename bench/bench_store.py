"""Session store figures: `evse diagnose` over 1,000 and 100,000 stored sessions (baseline: a plain
`SELECT COUNT(*)` over the same table in the same run), and the recorder's throughput (events/s from the bus
to committed rows; baseline: bare SQLite inserts of the same rows in one transaction).

The large stores are written straight through the store's writer (the recorder's own row operations, not the
event path) so building 100,000 sessions takes seconds, not hours."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.harness import Result, Stats
from evse.diagnostics.report import build_report
from evse.session.adapter import PLANS
from evse.session.events import EventBus, MeterSample, SessionEnded, SessionStarted, StageChanged
from evse.session.stages import Outcome, Reason, Stage
from evse.store.database import connect
from evse.store.recorder import SessionRecorder
from evse.store.settings import StoreSettings
from evse.store.writer import Op, StoreWriter

CONNECTORS = {1: ("ccs", "cp", 9.0), 2: ("ccs", "cp", 9.0), 3: ("chademo", "pp", 6.0), 4: ("gbt", "cc1", 4.0)}


def build_store(path: Path, n_sessions: int, seed: int = 1) -> None:
    """A store of `n_sessions` realistic finished sessions (5 % handshake failures, 200 vehicles)."""
    rng = random.Random(seed)
    writer = StoreWriter(connect(path, synchronous="NORMAL"))
    ops: list[Op] = []
    for n in range(n_sessions):
        sid = f"s{n:07d}"
        connector = 1 + n % 4
        standard, line, nominal = CONNECTORS[connector]
        started = 1.7e9 + n * 900.0
        plan = PLANS[standard].stages
        fail_at = rng.choice(plan[:6]) if rng.random() < 0.05 else None
        ops.append(("start", sid, (connector, standard, started, 0.0)))
        for seq, stage in enumerate(plan, 1):
            ops.append(("stage", sid, (seq, stage.value, seq * 1.5)))
            ops.append(("stage_exit", sid, (seq, seq * 1.5 + 1.5)))
            if stage is fail_at:
                break
        ops.append(("pilot", sid, (0.0, line, nominal - 0.1 + rng.gauss(0, 0.03), nominal)))
        ops.append(("insulation", sid, (5.0, rng.uniform(5e6, 60e6), 500.0, 1)))
        outcome = (
            Outcome.of(fail_at, Reason.TIMEOUT) if fail_at else Outcome.of(Stage.ENERGY_TRANSFER, Reason.COMPLETED)
        )
        ops.append(
            (
                "set",
                sid,
                {
                    "ended_at": started + 1800.0,
                    "protocol_version": "1.0",
                    "vehicle_key": f"vin:V{rng.randrange(200):05d}",
                    "outcome_kind": outcome.kind.value,
                    "outcome_stage": outcome.stage.value,
                    "outcome_reason": outcome.reason.value,
                    "energy_wh": 0.0 if fail_at else rng.uniform(5e3, 60e3),
                    "insulation_ohm": rng.uniform(5e6, 60e6),
                },
            )
        )
        if len(ops) > 20_000:
            writer.apply(ops)
            ops = []
    writer.apply(ops)
    writer.conn.close()


def time_diagnose(path: Path, repeats: int) -> tuple[Stats, Stats, int]:
    conn = connect(path, readonly=True)
    diagnose_ms: list[float] = []
    count_ms: list[float] = []
    findings = 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        conn.execute("SELECT COUNT(*) FROM sessions").fetchone()
        count_ms.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        report = build_report(conn)
        diagnose_ms.append((time.perf_counter() - t0) * 1e3)
        findings = len(report.findings)
    conn.close()
    return Stats.of(diagnose_ms), Stats.of(count_ms), findings


async def _record(path: Path, sessions: int, samples_per_session: int) -> tuple[int, float]:
    bus = EventBus()
    recorder = SessionRecorder(path, StoreSettings(), bus)
    await recorder.start()
    events = 0
    t0 = time.perf_counter()
    for n in range(sessions):
        sid = f"r{n}"
        t = n * 10_000.0
        bus.publish(SessionStarted(connector_id=1, session_id=sid, t_s=t, standard="ccs"))
        bus.publish(
            StageChanged(connector_id=1, session_id=sid, t_s=t, stage=Stage.ENERGY_TRANSFER, previous=Stage.IDLE)
        )
        for k in range(samples_per_session):
            bus.publish(
                MeterSample(
                    connector_id=1,
                    session_id=sid,
                    t_s=t + k,
                    voltage_v=400.0,
                    current_a=100.0,
                    power_w=4e4,
                    energy_wh=11.1 * k,
                    soc_pct=20 + k * 0.01,
                )
            )
        bus.publish(
            SessionEnded(
                connector_id=1,
                session_id=sid,
                t_s=t + samples_per_session,
                outcome=Outcome.of(Stage.ENERGY_TRANSFER, Reason.COMPLETED),
                stage_durations_s={},
                energy_wh=1.0,
            )
        )
        events += samples_per_session + 3
        await asyncio.sleep(0)  # let the writer task run, as it would between real events
    await recorder.flush()
    elapsed = time.perf_counter() - t0
    await recorder.stop()
    return events, elapsed


def bare_inserts(path: Path, rows: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE s (sid INTEGER, t REAL, v REAL, i REAL, p REAL, e REAL, soc REAL)")
    t0 = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO s VALUES (1, ?, 400, 100, 4e4, ?, 20)", ((float(k), 11.1 * k) for k in range(rows)))
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed


def run(quick: bool) -> list[Result]:
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, repeats in ((1_000, 5 if quick else 50),) + (() if quick else ((100_000, 15),)):
            path = Path(tmp) / f"store-{n}.sqlite"
            build_store(path, n)
            diag, count, findings = time_diagnose(path, repeats)
            results.append(
                Result(
                    f"diagnose over {n:,} sessions",
                    "ms",
                    diag.median,
                    diag.p99,
                    baseline=count.median,
                    baseline_name="COUNT(*)",
                    n=diag.n,
                    note=f"{findings} findings on healthy data",
                )
            )
        sessions, samples = (20, 50) if quick else (200, 600)
        rates = []
        for rep in range(3 if quick else 5):
            events, elapsed = asyncio.run(_record(Path(tmp) / f"rec-{rep}.sqlite", sessions, samples))
            rates.append(events / elapsed)
        bare = [
            sessions * samples / bare_inserts(Path(tmp) / f"bare-{rep}.sqlite", sessions * samples) for rep in range(3)
        ]
        rec = Stats.of(rates)
        results.append(
            Result(
                "recorder throughput (bus → committed rows)",
                "events/s",
                rec.median,
                None,
                baseline=Stats.of(bare).median,
                baseline_name="bare INSERT, 1 txn",
                higher_is_better=True,
                n=rec.n,
                note=f"{sessions} sessions × {samples} samples, synchronous=FULL",
            )
        )
    return results
