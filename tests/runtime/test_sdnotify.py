"""The sd_notify client against a fake notify socket: file-system and abstract addresses, no socket, watchdog env."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

from evse.daemon.sdnotify import Notifier, watchdog_period_s


def receive(sock: socket.socket) -> str:
    sock.settimeout(2.0)
    return sock.recv(4096).decode()


def test_sends_to_a_filesystem_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        notifier = Notifier(path)
        assert notifier.ready("3 connectors available")
        assert receive(server) == "READY=1\nSTATUS=3 connectors available"
        assert notifier.status("line one\nline two")
        assert receive(server) == "STATUS=line one line two"
        notifier.close()


def test_abstract_namespace_address() -> None:
    name = f"evse-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        notifier = Notifier("@" + name)
        assert notifier.watchdog()
        assert receive(server) == "WATCHDOG=1"
        assert notifier.stopping()
        assert receive(server) == "STOPPING=1\nSTATUS=stopping"


def test_no_socket_is_a_no_op(monkeypatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = Notifier()
    assert not notifier.enabled
    assert notifier.ready("x") is False


def test_unreachable_socket_is_not_fatal(tmp_path: Path) -> None:
    notifier = Notifier(str(tmp_path / "gone"))
    assert notifier.watchdog() is False
    assert notifier.watchdog() is False


def test_watchdog_period_from_environment() -> None:
    assert watchdog_period_s({"WATCHDOG_USEC": "20000000"}) == 20.0
    assert watchdog_period_s({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": str(os.getpid())}) == 20.0
    assert watchdog_period_s({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_period_s({}) is None


def test_watchdog_ping_refreshes_the_health_file_checked_by_evse_health(tmp_path: Path, capsys) -> None:
    import time

    from evse.cli import main

    health = tmp_path / "evse.health"
    assert main(["health", "--file", str(health)]) == 1
    assert "does not exist" in capsys.readouterr().out
    Notifier(address="", health_file=str(health)).watchdog()
    assert main(["health", "--file", str(health), "--max-age", "30"]) == 0
    old = time.time() - 120
    os.utime(health, (old, old))
    assert main(["health", "--file", str(health), "--max-age", "30"]) == 1
    assert "last watchdog ping 120 s ago" in capsys.readouterr().out
