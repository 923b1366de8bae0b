"""`evse run --config config/sim.toml` as a real process: READY on the notify socket, JSON logs on a pipe, a clean
exit 0 on SIGTERM within the shutdown bound. Runs on real time with short bounds."""

from __future__ import annotations

import json
import time
from pathlib import Path

from bench.bench_footprint import DaemonProcess, sim_config
from evse.daemon.settings import DaemonSettings

START_BOUND_S = 30.0  # a cold interpreter importing the whole stack on a slow CI machine


def test_sim_daemon_reports_ready_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    daemon = DaemonProcess(sim_config(tmp_path), tmp_path)
    ready = daemon.wait_for("READY=1", START_BOUND_S)
    assert "STATUS=EVSE-SIM-1: " in ready and "station" in ready
    time.sleep(0.5)
    stop_started = time.perf_counter()
    code, out, err = daemon.terminate(DaemonSettings().shutdown_timeout_s + 5)
    stop_s = time.perf_counter() - stop_started
    assert code == 0, err[-2000:]
    assert stop_s < DaemonSettings().shutdown_timeout_s
    assert any(m.startswith("STOPPING=1") for m in daemon.messages)
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    names = [e["event"] for e in events]
    assert names.index("outputs in safe state") < names.index("service started")
    assert "ready" in names and "stopped" in names
    assert all({"timestamp", "level", "event", "connector_id", "session_id", "stage"} <= e.keys() for e in events)
    assert (tmp_path / "state").is_dir()
