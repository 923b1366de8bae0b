"""Nothing lost: the persistent queue across connection loss, offline starts, retries, restarts and a SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from evse.ocpp.db import DB_FILE_NAME
from evse.session.stages import Reason
from tests.ocpp.conftest import until
from tests.ocpp.csms import TestCsms
from tests.ocpp.station_double import StationDouble

REPO = Path(__file__).resolve().parents[2]
TX_ACTIONS = ("StartTransaction", "MeterValues", "StopTransaction")


def tx_queued(client) -> list[str]:
    """The queued transaction messages (security events share the queue)."""
    return [m.action for m in client.queue.all() if m.action in TX_ACTIONS]


async def test_connection_loss_during_transaction(csms: TestCsms, make_service, station: StationDouble) -> None:
    service = await make_service(csms.port, meter_sample_interval_s=1)
    await csms.wait_for("StatusNotification")
    station.begin(1)
    await csms.wait_for("StartTransaction")
    port = csms.port
    await csms.stop()
    await until(lambda: not service.client.online)
    for _ in range(3):
        station.sample(1, 100.0)
        await asyncio.sleep(0.5)
    station.end(1, Reason.VEHICLE_STOP)
    await until(lambda: tx_queued(service.client)[-1:] == ["StopTransaction"])
    queued = tx_queued(service.client)
    assert queued[-1] == "StopTransaction" and "MeterValues" in queued, queued
    back = TestCsms(port=port)
    await back.start()
    try:
        stop = await back.wait_for("StopTransaction", timeout_s=5)
        assert stop["transactionId"] == 1001 and stop["meterStop"] == 300 and stop["reason"] == "Other"
        delivered = [a for a, _ in back.actions(*TX_ACTIONS)]
        assert delivered == queued
        assert all(p["transactionId"] == 1001 for _, p in back.actions("MeterValues"))
    finally:
        await back.stop()


async def test_offline_start_and_stop_reconciled(make_service, station: StationDouble, unused_tcp_port: int) -> None:
    service = await make_service(unused_tcp_port)
    client = service.client
    assert (await station.authorize(1, "UNKNOWN")).status == "Invalid"  # offline, unknown id: refused by default
    client.keys.set("AllowOfflineTxForUnknownId", "true")
    assert (await station.authorize(1, "UNKNOWN")).status == "Accepted"
    station.begin(1)
    station.sample(1, 2000.0)
    station.end(1)
    await until(lambda: len(tx_queued(client)) == 2)
    assert tx_queued(client) == ["StartTransaction", "StopTransaction"]
    csms = TestCsms(port=unused_tcp_port)
    await csms.start()
    try:
        stop = await csms.wait_for("StopTransaction")
        start = csms.actions("StartTransaction")[0][1]
        assert start["idTag"] == "UNKNOWN" and stop["transactionId"] == 1001 and stop["meterStop"] == 2000
        await until(lambda: len(client.queue) == 0)
    finally:
        await csms.stop()


async def test_transaction_message_attempts(csms: TestCsms, make_service, station: StationDouble) -> None:
    service = await make_service(csms.port, transaction_message_attempts=2, transaction_message_retry_s=1)
    await csms.wait_for("StatusNotification")
    csms.script.start_error = True
    station.begin(1)
    station.end(1)
    await csms.wait_for("StartTransaction", count=2, timeout_s=5)
    await until(lambda: len(service.client.queue) == 0)
    await asyncio.sleep(0.2)
    assert len(csms.actions("StartTransaction")) == 2  # TransactionMessageAttempts, then given up
    assert not csms.actions("StopTransaction")  # nothing to attach it to


async def test_restart_replays_queue_in_order(
    tmp_path: Path, make_service, station: StationDouble, unused_tcp_port: int
) -> None:
    first = await make_service(unused_tcp_port)
    first.client.keys.set("AllowOfflineTxForUnknownId", "true")
    station.begin(1)
    station.end(1)
    await until(lambda: len(tx_queued(first.client)) == 2)
    await first.stop()
    second = await make_service(unused_tcp_port)
    assert tx_queued(second.client) == ["StartTransaction", "StopTransaction"]
    csms = TestCsms(port=unused_tcp_port)
    await csms.start()
    try:
        await csms.wait_for("StopTransaction")
        assert [a for a, _ in csms.actions(*TX_ACTIONS)] == ["StartTransaction", "StopTransaction"]
    finally:
        await csms.stop()


def _queued(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT action FROM queue ORDER BY seq")
        return [row[0] for row in rows if row[0] in TX_ACTIONS]
    except sqlite3.OperationalError:  # the client has not created its schema yet
        return []
    finally:
        conn.close()


def _spawn(port: int, state_dir: Path, mode: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.ocpp.crash_client", str(port), str(state_dir), mode],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_sigkill_mid_transaction_while_offline(tmp_path: Path, unused_tcp_port: int) -> None:
    db = tmp_path / DB_FILE_NAME
    process = _spawn(unused_tcp_port, tmp_path, "charge")  # no CSMS listening: everything is queued
    try:
        await until(lambda: db.exists() and _queued(db).count("MeterValues") >= 2, timeout_s=20)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    before = _queued(db)
    conn = sqlite3.connect(db)
    last_meter = conn.execute("SELECT last_meter_wh FROM transactions WHERE stopped = 0").fetchone()[0]
    conn.close()
    assert before[0] == "StartTransaction" and "StopTransaction" not in before

    csms = TestCsms(port=unused_tcp_port)
    await csms.start()
    restarted = _spawn(unused_tcp_port, tmp_path, "idle")
    try:
        stop = await csms.wait_for("StopTransaction", timeout_s=20)
        await asyncio.sleep(0.3)
        delivered = [a for a, _ in csms.actions(*TX_ACTIONS)]
        assert delivered == [*before, "StopTransaction"]  # every message exactly once, in order
        assert stop["reason"] == "PowerLoss" and stop["meterStop"] == last_meter and stop["transactionId"] == 1001
        ids = [uid for _, a, _, uid in csms.received if a in TX_ACTIONS]
        assert len(ids) == len(set(ids))
    finally:
        restarted.send_signal(signal.SIGKILL)
        restarted.wait()
    # and a third start sends no transaction message again
    again = _spawn(unused_tcp_port, tmp_path, "idle")
    try:
        await csms.wait_for("BootNotification", count=2, timeout_s=20)
        await asyncio.sleep(0.5)
        assert [a for a, _ in csms.actions(*TX_ACTIONS)] == [*before, "StopTransaction"]
    finally:
        again.send_signal(signal.SIGKILL)
        again.wait()
        await csms.stop()
