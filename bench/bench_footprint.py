"""Footprint of the daemon: cold start (process start → READY=1 on the notify socket) and idle RSS of
`evse run --config config/sim.toml`, against a bare interpreter measured in the same run.

    .venv/bin/evse-bench --only footprint

`DaemonProcess` is also what tests/runtime/test_run_process.py uses to run the daemon as a real process.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import Result, Stats

REPO = Path(__file__).resolve().parents[1]


def sim_config(tmp: Path, *, ocpp: bool = True) -> Path:
    """config/sim.toml with its state directory moved under `tmp` and the API on any free port."""
    text = (REPO / "config" / "sim.toml").read_text(encoding="utf-8")
    text = text.replace('state_dir = "./var/state"', f'state_dir = "{tmp / "state"}"')
    text = text.replace("port = 8080", "port = 0")  # any free port: 8080 may be taken by a running daemon
    if not ocpp:
        text = text.replace("enabled = true", "enabled = false")
    path = tmp / "evse.toml"
    path.write_text(text, encoding="utf-8")
    return path


class DaemonProcess:
    def __init__(self, config: Path, tmp: Path, env: dict[str, str] | None = None) -> None:
        self.notify_path = str(tmp / f"notify-{time.monotonic_ns()}")
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.server.bind(self.notify_path)
        environ = {**os.environ, "NOTIFY_SOCKET": self.notify_path, **(env or {})}
        environ.pop("WATCHDOG_USEC", None)
        # logs go to files: a pipe nobody reads would fill up and block the daemon's event loop
        self.out_path, self.err_path = tmp / "stdout.log", tmp / "stderr.log"
        self.started_s = time.perf_counter()
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "evse", "run", "--config", str(config)],
                stdout=out,
                stderr=err,
                env=environ,
                cwd=tmp,
            )
        self.messages: list[str] = []

    def wait_for(self, prefix: str, timeout_s: float) -> str:
        deadline = time.perf_counter() + timeout_s
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}: {self.err_path.read_text()[-2000:]}")
            self.server.settimeout(0.1)
            try:
                message = self.server.recv(4096).decode()
            except TimeoutError:
                continue
            self.messages.append(message)
            if message.startswith(prefix):
                return message
        raise AssertionError(f"no {prefix!r} within {timeout_s} s; got {self.messages}")

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def terminate(self, timeout_s: float) -> tuple[int, str, str]:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout_s)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.server.setblocking(False)
            while True:
                try:
                    self.messages.append(self.server.recv(4096).decode())
                except BlockingIOError:
                    break
            self.server.close()
        return self.proc.returncode, self.out_path.read_text(), self.err_path.read_text()


def _bare_interpreter(idle_s: float) -> tuple[float, int]:
    """Start → first output of `python -c ...`, and its RSS while idle (the baseline)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; print('up', flush=True); time.sleep(30)"], stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    start_s = time.perf_counter() - t0
    time.sleep(idle_s)
    rss = next(
        int(line.split()[1])
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    proc.kill()
    proc.wait()
    return start_s, rss


def _cli_version_s() -> float:
    """`python -m evse --version`: the interpreter plus every subcommand module's imports."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "evse", "--version"], check=True, capture_output=True)
    return time.perf_counter() - t0


def run(quick: bool) -> list[Result]:
    samples = 1 if quick else 10
    idle_s = 0.5 if quick else 5.0
    starts_s: list[float] = []
    rss_kib: list[float] = []
    stops_s: list[float] = []
    base_starts_s: list[float] = []
    base_rss_kib: list[float] = []
    versions_s: list[float] = []
    for _ in range(samples):
        versions_s.append(_cli_version_s())
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            daemon = DaemonProcess(sim_config(tmp, ocpp=False), tmp)
            daemon.wait_for("READY=1", 60.0)
            starts_s.append(time.perf_counter() - daemon.started_s)
            time.sleep(idle_s)
            rss_kib.append(daemon.rss_kib())
            t0 = time.perf_counter()
            code, _out, err = daemon.terminate(30.0)
            stops_s.append(time.perf_counter() - t0)
            if code != 0:
                raise RuntimeError(f"evse run exited {code}: {err[-500:]}")
        base_start_s, base_rss = _bare_interpreter(min(idle_s, 0.5))
        base_starts_s.append(base_start_s)
        base_rss_kib.append(base_rss)
    start, base_start = Stats.of([s * 1000 for s in starts_s]), Stats.of([s * 1000 for s in base_starts_s])
    rss, base = Stats.of([r / 1024 for r in rss_kib]), Stats.of([r / 1024 for r in base_rss_kib])
    stop = Stats.of([s * 1000 for s in stops_s])
    version = Stats.of([s * 1000 for s in versions_s])
    note = "config/sim.toml, 3 simulated connectors, OCPP off"
    return [
        Result(
            "cold start: exec → READY=1",
            "ms",
            start.median,
            start.p99,
            base_start.median,
            "bare python start",
            n=start.n,
            note=note,
        ),
        Result(
            "evse --version (CLI imports)",
            "ms",
            version.median,
            version.p99,
            base_start.median,
            "bare python start",
            n=version.n,
            note="every subcommand module is imported",
        ),
        Result(
            f"idle RSS after {idle_s:g} s",
            "MiB",
            rss.median,
            rss.p99,
            base.median,
            "bare python idle",
            n=rss.n,
            note=note,
        ),
        Result("idle stop: SIGTERM → exit 0", "ms", stop.median, stop.p99, n=stop.n, note=note),
    ]
