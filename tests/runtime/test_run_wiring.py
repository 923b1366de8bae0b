"""`serve()` end to end with a stand-in station (the real one is exercised by test_run_process.py): signal handling,
READY/STOPPING on a fake notify socket, safe state before start, the status line, a station that cannot be built."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import types
from pathlib import Path

import pytest

from evse.config.errors import UserError
from evse.config.loader import parse_config
from evse.daemon.exitcodes import EXIT_OK, EXIT_UNAVAILABLE
from evse.daemon.main import serve

CONFIG = """
[station]
id = "T-9"
state_dir = "{state}"
[[connectors]]
id = 1
standard = "ccs"
[[connectors]]
id = 2
standard = "gbt"
[api]
port = 0
"""


class StandInStation:
    def __init__(self, config: object, bus: object, loop: object) -> None:
        self.journal: list[str] = []
        STATIONS.append(self)

    def safe_state(self) -> None:
        self.journal.append("safe_state")

    async def start(self) -> None:
        self.journal.append("start")

    async def shutdown(self, timeout_s: float) -> None:
        self.journal.append(f"stop({timeout_s:g})")

    def alive(self) -> bool:
        return True


STATIONS: list[StandInStation] = []


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch):
    module = types.ModuleType("evse.station.build")

    def build_station(config, *, bus, loop):
        return StandInStation(config, bus, loop)

    module.build_station = build_station  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "evse.station.build", module)
    STATIONS.clear()
    return module


async def test_sigterm_stops_cleanly_after_ready(stand_in, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(tmp_path / "notify"))
    server.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    config = parse_config(CONFIG.format(state=tmp_path / "state"))
    task = asyncio.create_task(serve(config))
    ready = ""
    for _ in range(500):
        await asyncio.sleep(0.01)
        try:
            ready = server.recv(4096).decode()
            break
        except BlockingIOError:
            continue
    assert ready.startswith("READY=1\nSTATUS=T-9: 1 ccs, 1 gbt | services: station, store+api")
    os.kill(os.getpid(), signal.SIGTERM)
    code = await asyncio.wait_for(task, 5)
    assert code == EXIT_OK
    assert STATIONS[0].journal == ["safe_state", "start", "stop(15)", "safe_state"]
    assert server.recv(4096).decode().startswith("STOPPING=1")
    server.close()


async def test_a_station_that_cannot_be_built_is_one_sentence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    module = types.ModuleType("evse.station.build")

    def build_station(config, *, bus, loop):
        raise OSError(19, "No such device", "can7")

    module.build_station = build_station  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "evse.station.build", module)
    with pytest.raises(UserError) as error:
        await serve(parse_config(CONFIG.format(state=tmp_path)))
    assert error.value.exit_code == EXIT_UNAVAILABLE
    assert "the station could not be set up" in str(error.value) and "can7" in str(error.value)
