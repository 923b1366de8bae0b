"""Footprint of the daemon: `evse run --config config/sim.toml` (three simulated connectors: CCS, CHAdeMO, GB/T)
as a real process, against a bare interpreter measured in the same run.

With OCPP connected to a local CSMS (the dev CSMS, `evse csms`, in its own process on loopback):
* cold start: exec → BootNotification received, observed at the CSMS (its log line), and exec → READY=1;
* idle resident memory (VmRSS) of the daemon's Python process, and of the JVM of the CCS EXI codec (its child
  process) reported separately;
* idle CPU of each, in % of one core (utime + stime from /proc over the idle window, after BootNotification).
The same without the packages only the development environment has (`DEV_ONLY_PACKAGES`), as a production install
runs. With OCPP off (for comparison with earlier runs): exec → READY=1, idle RSS, SIGTERM → exit. And
`evse --version` (the CLI's own imports).

Bytecode: a deployed install has its .pyc files; a developer shell often sets PYTHONDONTWRITEBYTECODE (then every
start compiles ~150 evse modules, ~0.15 s). The daemons here run with bytecode written to a cache under the temp
directory (PYTHONPYCACHEPREFIX) after one untimed warm-up start, so the figure is that of an installed daemon.

    .venv/bin/evse-bench --only footprint

`DaemonProcess` is also what tests/runtime/test_run_process.py uses to run the daemon as a real process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.harness import Result, Stats

REPO = Path(__file__).resolve().parents[1]
#: issue 10: resident memory of the daemon without the JVM ≤ 80 MB (= 76.3 MiB)
RSS_TARGET_MIB = 80e6 / 2**20


def sim_config(tmp: Path, *, ocpp: bool = True, csms_url: str | None = None, stack_loading: str = "") -> Path:
    """config/sim.toml with its state directory moved under `tmp`, the API on any free port and, when given, the
    CSMS at `csms_url` and the CCS `stack_loading`."""
    text = (REPO / "config" / "sim.toml").read_text(encoding="utf-8")
    text = text.replace('state_dir = "./var/state"', f'state_dir = "{tmp / "state"}"')
    text = text.replace("port = 8080", "port = 0")  # any free port: 8080 may be taken by a running daemon
    if not ocpp:
        text = text.replace("enabled = true", "enabled = false")
    if csms_url is not None:
        text = text.replace('csms_url = "ws://127.0.0.1:9000/"', f'csms_url = "{csms_url}"')
    if stack_loading:
        text += f'\n[ccs]\nstack_loading = "{stack_loading}"\n'
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


def bytecode_env() -> dict[str, str]:
    """Environment of a daemon that reads (and writes) compiled bytecode, like an installed one."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "evse-bench-pycache")
    return env


#: packages in the development environment (pulled in by dev tools) that a library imports when present:
#: structlog renders tracebacks with `rich` if it can import it; a production install has no `rich`
DEV_ONLY_PACKAGES = ("rich",)


def production_env(env: dict[str, str], tmp: Path) -> dict[str, str]:
    """`env` with the dev-only packages unimportable (a sitecustomize on PYTHONPATH), as in a production install."""
    (tmp / "sitecustomize.py").write_text(
        "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in DEV_ONLY_PACKAGES), encoding="utf-8"
    )
    path = os.pathsep.join(p for p in (str(tmp), env.get("PYTHONPATH", "")) if p)
    return {**env, "PYTHONPATH": path}


def _proc_status_kib(pid: int, key: str = "VmRSS:") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    raise AssertionError(f"no {key} for {pid}")


def _cpu_s(pid: int) -> float:
    """utime + stime of `pid` (/proc/PID/stat fields 14 and 15), seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            out.append(int(entry.name))
    return out


def _bare_interpreter(idle_s: float, env: dict[str, str]) -> tuple[float, int]:
    """Start → first output of `python -c ...`, and its RSS while idle (the baseline)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; print('up', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    start_s = time.perf_counter() - t0
    time.sleep(idle_s)
    rss = _proc_status_kib(proc.pid)
    proc.kill()
    proc.wait()
    return start_s, rss


def _cli_version_s(env: dict[str, str]) -> float:
    """`python -m evse --version`: the interpreter plus every subcommand module's imports."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "evse", "--version"], check=True, capture_output=True, env=env)
    return time.perf_counter() - t0


class Csms:
    """`evse csms` in its own process on loopback; notes when each line of its log arrived."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.port, control = _free_port(), _free_port()
        self.url = f"ws://127.0.0.1:{self.port}/"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "evse", "csms", "--port", str(self.port), "--control-port", str(control)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**env, "PYTHONUNBUFFERED": "1"},
            cwd=tmp,
        )
        self.lines: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="bench-csms-log", daemon=True)
        self._reader.start()
        deadline = time.perf_counter() + 30.0
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                break
            if self.proc.poll() is not None or time.perf_counter() > deadline:
                raise RuntimeError("the dev CSMS (`evse csms`) did not start listening")
            time.sleep(0.02)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            now = time.perf_counter()
            with self._lock:
                self.lines.append((now, raw.decode("utf-8", "replace")))

    def wait_boot(self, since: float, timeout_s: float) -> float:
        """perf_counter time of the first BootNotification received after `since`."""
        deadline = time.perf_counter() + timeout_s
        while time.perf_counter() < deadline:
            with self._lock:
                for at, line in self.lines:
                    if at >= since and "→ BootNotification" in line:
                        return at
            time.sleep(0.005)
        raise RuntimeError(f"no BootNotification at the CSMS within {timeout_s:g} s")

    def close(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class _Sample:
    ready_s: float
    boot_s: float | None
    rss_kib: int
    cpu_pct: float
    jvm_rss_kib: int
    jvm_cpu_pct: float
    stop_s: float


def _one_daemon(env: dict[str, str], idle_s: float, csms: Csms | None, stack_loading: str = "") -> _Sample:
    """Start, (BootNotification), idle for `idle_s`, measure, SIGTERM."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        config = sim_config(
            tmp, ocpp=csms is not None, csms_url=csms.url if csms else None, stack_loading=stack_loading
        )
        daemon = DaemonProcess(config, tmp, env=env)
        daemon.wait_for("READY=1", 60.0)
        ready_s = time.perf_counter() - daemon.started_s
        boot_s = None
        if csms is not None:
            boot_s = csms.wait_boot(daemon.started_s, 60.0) - daemon.started_s
        time.sleep(min(1.0, idle_s))  # let the start's last work (status reports, GC) finish
        jvms = _children(daemon.proc.pid)
        t0 = time.perf_counter()
        cpu0 = _cpu_s(daemon.proc.pid)
        jvm_cpu0 = sum(_cpu_s(p) for p in jvms)
        time.sleep(idle_s)
        wall = time.perf_counter() - t0
        cpu_pct = (_cpu_s(daemon.proc.pid) - cpu0) / wall * 100
        jvm_cpu_pct = (sum(_cpu_s(p) for p in jvms) - jvm_cpu0) / wall * 100
        rss = daemon.rss_kib()
        jvm_rss = sum(_proc_status_kib(p) for p in jvms)
        t0 = time.perf_counter()
        code, _out, err = daemon.terminate(30.0)
        stop_s = time.perf_counter() - t0
        if code != 0:
            raise RuntimeError(f"evse run exited {code}: {err[-500:]}")
    return _Sample(ready_s, boot_s, rss, cpu_pct, jvm_rss, jvm_cpu_pct, stop_s)


def run(quick: bool) -> list[Result]:
    samples = 1 if quick else 10
    off_samples = 1 if quick else 5
    idle_s = 0.5 if quick else 5.0
    env = bytecode_env()
    on: list[_Sample] = []
    off: list[_Sample] = []
    prod: list[_Sample] = []
    deferred: list[_Sample] = []  # ccs.stack_loading = "first_vehicle": no CCS car came yet
    prod_samples = 1 if quick else 3
    base_starts_s: list[float] = []
    base_rss_kib: list[float] = []
    versions_s: list[float] = []
    with tempfile.TemporaryDirectory() as csms_tmp:
        csms = Csms(Path(csms_tmp), env)
        prod_env = production_env(env, Path(csms_tmp))
        try:
            if not quick:
                _one_daemon(env, 0.1, csms)  # warm-up, untimed: bytecode cache, page cache
            for i in range(samples):
                versions_s.append(_cli_version_s(env))
                on.append(_one_daemon(env, idle_s, csms))
                if i < off_samples:
                    off.append(_one_daemon(env, idle_s, None))
                if i < prod_samples:
                    prod.append(_one_daemon(prod_env, idle_s, csms))
                    deferred.append(_one_daemon(prod_env, idle_s, csms, stack_loading="first_vehicle"))
                base_start_s, base_rss_one = _bare_interpreter(min(idle_s, 0.5), env)
                base_starts_s.append(base_start_s)
                base_rss_kib.append(base_rss_one)
        finally:
            csms.close()

    def ms(values: list[float]) -> Stats:
        return Stats.of([v * 1000 for v in values])

    def mib(values: list[int] | list[float]) -> Stats:
        return Stats.of([v / 1024 for v in values])

    base_start, base_rss = ms(base_starts_s), mib(base_rss_kib)
    boot, ready = ms([s.boot_s or 0.0 for s in on]), ms([s.ready_s for s in on])
    rss, jvm_rss = mib([s.rss_kib for s in on]), mib([s.jvm_rss_kib for s in on])
    #: runs whose daemon had no JVM child: its CCS connector did not start (e.g. the simulated veth pair's name
    #: was taken by another daemon), so its figures lack the CCS stack
    no_jvm = sum(1 for s in on if s.jvm_rss_kib == 0)
    cpu, jvm_cpu = Stats.of([s.cpu_pct for s in on]), Stats.of([s.jvm_cpu_pct for s in on])
    prod_boot, prod_rss = ms([s.boot_s or 0.0 for s in prod]), mib([s.rss_kib for s in prod])
    deferred_rss = mib([s.rss_kib for s in deferred])
    deferred_jvms = sum(1 for s in deferred if s.jvm_rss_kib)
    off_ready, off_rss, off_stop = (
        ms([s.ready_s for s in off]),
        mib([s.rss_kib for s in off]),
        ms([s.stop_s for s in off]),
    )
    version = ms(versions_s)
    note_on = "config/sim.toml: 3 simulated connectors, OCPP connected to `evse csms` on loopback"
    note_off = "config/sim.toml, 3 simulated connectors, OCPP off"
    bare = "bare python start"
    return [
        Result(
            "cold start: exec → BootNotification at the CSMS",
            "ms",
            boot.median,
            boot.p99,
            base_start.median,
            bare,
            target=1500.0,
            n=boot.n,
            note=note_on,
        ),
        Result(
            "cold start: exec → READY=1, OCPP on",
            "ms",
            ready.median,
            ready.p99,
            base_start.median,
            bare,
            n=ready.n,
            note=note_on,
        ),
        Result(
            f"idle RSS after {idle_s:g} s, OCPP connected (Python process)",
            "MiB",
            rss.median,
            rss.p99,
            base_rss.median,
            "bare python idle",
            target=RSS_TARGET_MIB,
            n=rss.n,
            note=note_on + "; JVM not counted; target 80 MB = 76.3 MiB",
        ),
        Result(
            "idle RSS of the CCS codec's JVM (child process)",
            "MiB",
            jvm_rss.median,
            jvm_rss.p99,
            n=jvm_rss.n,
            note="py4j → EXIficient, lean JVM options (evse/protocols/ccs/jvm.py)"
            + (f"; NO JVM in {no_jvm} of {len(on)} runs: the CCS connector did not start" if no_jvm else ""),
        ),
        Result(
            f"idle CPU over {idle_s:g} s, OCPP connected (Python process)",
            "% of one core",
            cpu.median,
            cpu.p99,
            target=2.0,
            n=cpu.n,
            note=f"mean {cpu.mean:.2f} %; /proc utime+stime in {1000 / os.sysconf('SC_CLK_TCK'):g} ms ticks; "
            + note_on,
        ),
        Result(
            "idle CPU of the CCS codec's JVM",
            "% of one core",
            jvm_cpu.median,
            jvm_cpu.p99,
            n=jvm_cpu.n,
            note=f"mean {jvm_cpu.mean:.2f} %",
        ),
        Result(
            f"idle RSS after {idle_s:g} s, OCPP connected, without dev-only packages",
            "MiB",
            prod_rss.median,
            prod_rss.p99,
            rss.median,
            "same in the dev venv",
            target=RSS_TARGET_MIB,
            n=prod_rss.n,
            note=f"as a production install: {', '.join(DEV_ONLY_PACKAGES)} not importable; JVM not counted",
        ),
        Result(
            f"idle RSS after {idle_s:g} s, OCPP connected, without dev-only packages, CCS stack not loaded yet",
            "MiB",
            deferred_rss.median,
            deferred_rss.p99,
            prod_rss.median,
            "same with the stack loaded at start",
            target=RSS_TARGET_MIB,
            n=deferred_rss.n,
            note='ccs.stack_loading = "first_vehicle": the iso15118 SECC and its JVM load when the first CCS car '
            f"arrives (JVM children: {deferred_jvms} of {len(deferred)} runs); afterwards the row above applies",
        ),
        Result(
            "cold start: exec → BootNotification, without dev-only packages",
            "ms",
            prod_boot.median,
            prod_boot.p99,
            boot.median,
            "same in the dev venv",
            target=1500.0,
            n=prod_boot.n,
            note=f"as a production install: {', '.join(DEV_ONLY_PACKAGES)} not importable",
        ),
        Result(
            "cold start: exec → READY=1",
            "ms",
            off_ready.median,
            off_ready.p99,
            base_start.median,
            bare,
            n=off_ready.n,
            note=note_off,
        ),
        Result(
            "evse --version (CLI imports)",
            "ms",
            version.median,
            version.p99,
            base_start.median,
            bare,
            n=version.n,
            note="every subcommand module is imported",
        ),
        Result(
            f"idle RSS after {idle_s:g} s",
            "MiB",
            off_rss.median,
            off_rss.p99,
            base_rss.median,
            "bare python idle",
            n=off_rss.n,
            note=note_off,
        ),
        Result("idle stop: SIGTERM → exit 0", "ms", off_stop.median, off_stop.p99, n=off_stop.n, note=note_off),
    ]
