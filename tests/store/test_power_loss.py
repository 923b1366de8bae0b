"""A committed session survives the writer being killed at any instant: SIGKILL a recording subprocess at
random moments, again and again on the same file, then check the file's integrity and every session the
subprocess reported committed."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from evse.store.database import connect
from evse.store.reader import SessionReader
from tests.store.kill_writer import ENERGY_S

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 6


def test_sigkill_mid_write_never_loses_or_corrupts_a_committed_session(tmp_path: Path) -> None:
    db = tmp_path / "sessions.sqlite"
    rng = random.Random(4)
    committed: list[str] = []
    for round_no in range(ROUNDS):
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.store.kill_writer", str(db), f"r{round_no}"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert proc.stdout is not None
        # let it commit a few sessions, then kill it somewhere inside a later write
        first = ""
        while not first.startswith("COMMITTED"):
            first = proc.stdout.readline()
            assert first, "the writer subprocess did not start"
        time.sleep(rng.uniform(0.05, 0.4))  # wall-clock ok: picking a random kill instant
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        lines = [first, *rest.splitlines()]
        committed += [line.split()[1] for line in lines if line.startswith("COMMITTED ")]
        conn = connect(db)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        conn.close()
    assert len(committed) > ROUNDS
    reader = SessionReader(db)
    for sid in committed:
        s = reader.get(sid, with_trace=False)
        assert s["outcome_kind"] == "completed", sid
        assert len(s["samples"]) == ENERGY_S, sid
        assert len(s["stages"]) == 10 and all(st["exited_s"] is not None for st in s["stages"]), sid
    # sessions a kill interrupted were closed as interrupted by the next start, never left half-open
    stored = reader.conn.execute("SELECT COUNT(*) FROM sessions WHERE ended_at IS NULL").fetchone()[0]
    assert stored <= 1  # only the last round's victim can still be open (nothing restarted after it)
