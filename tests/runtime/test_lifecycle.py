"""The daemon lifecycle with small test services: safe state first, sd_notify messages, the watchdog withholding
pings while a control loop hangs, and a bounded graceful shutdown. Runs on the virtual clock."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from evse.daemon.exitcodes import EXIT_FAILURE, EXIT_OK, EXIT_UNAVAILABLE
from evse.daemon.lifecycle import Lifecycle
from evse.daemon.sdnotify import Notifier
from evse.daemon.service import Heartbeat, Service
from evse.daemon.settings import DaemonSettings

pytestmark = pytest.mark.looptime


class RecordingService:
    """A test service that records its calls in a shared journal."""

    def __init__(self, name: str, journal: list[str], *, stop_s: float = 0.0, fail_start: bool = False) -> None:
        self.name = name
        self.journal = journal
        self.stop_s = stop_s
        self.fail_start = fail_start
        self.is_alive = True
        self.stop_budget_s: float | None = None

    async def start(self) -> None:
        self.journal.append(f"start:{self.name}")
        if self.fail_start:
            raise OSError("CAN interface can7 does not exist")

    async def stop(self, timeout_s: float) -> None:
        self.journal.append(f"stop:{self.name}")
        self.stop_budget_s = timeout_s
        await asyncio.sleep(self.stop_s)
        self.journal.append(f"stopped:{self.name}")

    def alive(self) -> bool:
        return self.is_alive


class FakeNotifySocket:
    """systemd's side of sd_notify: a datagram socket the daemon sends to."""

    def __init__(self, address: str, bind_to: str | bytes) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(bind_to)
        self.sock.setblocking(False)

    def messages(self) -> list[str]:
        out = []
        while True:
            try:
                out.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return out


@pytest.fixture
def notify_socket(tmp_path: Path):
    fake = FakeNotifySocket(str(tmp_path / "notify"), str(tmp_path / "notify"))
    yield fake
    fake.sock.close()


def make(journal: list[str], services: list[Service], notifier: Notifier, **settings: float) -> Lifecycle:
    def safe_state() -> None:
        journal.append("safe_state")

    return Lifecycle(
        safe_state=safe_state,
        services=services,
        settings=DaemonSettings(**settings),
        notifier=notifier,
        status=lambda: "T-1: 1 ccs Available",
        watchdog_period_s=10.0,
    )


async def test_safe_state_comes_before_anything_else_and_again_on_exit(notify_socket: FakeNotifySocket) -> None:
    journal: list[str] = []
    a, b = RecordingService("station", journal), RecordingService("ocpp", journal)
    life = make(journal, [a, b], Notifier(notify_socket.address))
    stop = asyncio.Event()
    task = asyncio.create_task(life.run(stop))
    await asyncio.sleep(1)
    assert journal == ["safe_state", "start:station", "start:ocpp"]
    stop.set()
    assert await task == EXIT_OK
    assert journal[3:] == ["stop:ocpp", "stopped:ocpp", "stop:station", "stopped:station", "safe_state"]


async def test_sd_notify_ready_status_watchdog_stopping(notify_socket: FakeNotifySocket) -> None:
    journal: list[str] = []
    life = make(journal, [RecordingService("station", journal)], Notifier(notify_socket.address))
    stop = asyncio.Event()
    task = asyncio.create_task(life.run(stop))
    await asyncio.sleep(0.1)
    assert notify_socket.messages() == ["READY=1\nSTATUS=T-1: 1 ccs Available"]
    await asyncio.sleep(21)  # WatchdogSec=10 → a ping every 5 s
    assert notify_socket.messages() == ["WATCHDOG=1"] * 4
    stop.set()
    await task
    assert notify_socket.messages() == ["STOPPING=1\nSTATUS=stopping"]


async def test_watchdog_stops_pinging_while_a_loop_hangs_and_resumes(notify_socket: FakeNotifySocket) -> None:
    journal: list[str] = []
    station = RecordingService("station", journal)
    life = make(journal, [station], Notifier(notify_socket.address), unhealthy_exit_s=60.0)
    stop = asyncio.Event()
    task = asyncio.create_task(life.run(stop))
    await asyncio.sleep(11)
    assert notify_socket.messages().count("WATCHDOG=1") == 2
    station.is_alive = False
    await asyncio.sleep(30)
    messages = notify_socket.messages()
    assert "WATCHDOG=1" not in messages
    assert "STATUS=unhealthy: station not alive" in messages
    station.is_alive = True
    await asyncio.sleep(10)
    assert notify_socket.messages().count("WATCHDOG=1") == 2
    stop.set()
    assert await task == EXIT_OK


async def test_a_loop_dead_too_long_stops_the_daemon_with_failure(notify_socket: FakeNotifySocket) -> None:
    journal: list[str] = []
    station = RecordingService("station", journal)
    life = make(journal, [station], Notifier(notify_socket.address), unhealthy_exit_s=30.0)
    station.is_alive = False
    loop = asyncio.get_running_loop()
    started_s = loop.time()
    code = await life.run(asyncio.Event())
    assert code == EXIT_FAILURE
    assert 30 <= loop.time() - started_s <= 45
    assert "WATCHDOG=1" not in notify_socket.messages()
    assert journal[-1] == "safe_state" and "stopped:station" in journal


async def test_shutdown_is_bounded_when_a_service_hangs(notify_socket: FakeNotifySocket) -> None:
    journal: list[str] = []
    station = RecordingService("station", journal, stop_s=2.0)
    stuck = RecordingService("ocpp", journal, stop_s=3600.0)
    life = make(journal, [station, stuck], Notifier(notify_socket.address), shutdown_timeout_s=10.0)
    life.stop_order = [station, stuck]
    stop = asyncio.Event()
    task = asyncio.create_task(life.run(stop))
    await asyncio.sleep(1)
    loop = asyncio.get_running_loop()
    stop.set()
    t0 = loop.time()
    code = await task
    assert loop.time() - t0 == pytest.approx(10.0, abs=0.01)
    assert code == EXIT_FAILURE
    assert station.stop_budget_s == pytest.approx(10.0) and stuck.stop_budget_s == pytest.approx(8.0)
    assert "stopped:station" in journal and "stopped:ocpp" not in journal
    assert journal[-1] == "safe_state"


async def test_a_service_failing_to_start_stops_the_others(notify_socket: FakeNotifySocket) -> None:
    journal: list[str] = []
    good, bad = RecordingService("station", journal), RecordingService("ocpp", journal, fail_start=True)
    life = make(journal, [good, bad], Notifier(notify_socket.address))
    assert await life.run(asyncio.Event()) == EXIT_UNAVAILABLE
    assert life.start_error == "ocpp could not start: CAN interface can7 does not exist"
    assert journal == ["safe_state", "start:station", "start:ocpp", "stop:station", "stopped:station", "safe_state"]
    assert not any(m.startswith("READY=1") for m in notify_socket.messages())


async def test_nothing_starts_when_the_safe_state_cannot_be_reached(notify_socket: FakeNotifySocket) -> None:
    journal: list[str] = []

    def broken() -> None:
        raise RuntimeError("contactor feedback missing")

    life = make(journal, [RecordingService("station", journal)], Notifier(notify_socket.address))
    life.safe_state = broken
    assert await life.run(asyncio.Event()) == EXIT_FAILURE
    assert journal == []


async def test_heartbeat_goes_stale_on_virtual_time() -> None:
    beat = Heartbeat("control", max_age_s=2.0)
    assert not beat.alive()
    beat.beat()
    await asyncio.sleep(1.5)
    assert beat.alive()
    await asyncio.sleep(1.0)
    assert not beat.alive()
