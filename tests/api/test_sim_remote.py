"""`evse sim plug|unplug|fault|clear-fault|profiles|faults` against a real local API (loopback) serving a real
simulated station (built from a configuration, `station.sim_control` set by the builder): the command reaches the
simulated world, and every mistake a user can make is one sentence."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from evse.api.service import ApiService
from evse.cli import main
from evse.config.loader import parse_config
from evse.session.events import EventBus
from evse.sim import faults
from evse.station.build import BuiltStation, build_station

TOKEN = "remote-test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Daemon:
    station: BuiltStation
    api: ApiService
    config_file: Path
    token_file: Path

    @property
    def world(self) -> Any:
        return self.station.sim_control.world


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    token_file = tmp_path / "api-token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    config_file = tmp_path / "evse.toml"
    config_file.write_text(
        f'[station]\nstate_dir = "{tmp_path}"\n'
        f'[api]\nport = {free_port()}\ntoken_file = "{token_file}"\n'
        '[[connectors]]\nid = 1\nstandard = "chademo"\nvehicle_link = { interface = "sim" }\n'
        '[[connectors]]\nid = 2\nstandard = "gbt"\nvehicle_link = { interface = "sim" }\n',
        encoding="utf-8",
    )
    config = parse_config(config_file.read_text(encoding="utf-8"))
    bus = EventBus()
    station = build_station(config, bus=bus)
    assert station.sim_control is not None  # the builder offers the simulator seam in simulated mode
    api = ApiService(config, bus, station, sim=station.sim_control)
    await api.start()
    try:
        yield Daemon(station, api, config_file, token_file)
    finally:
        await api.stop(1.0)
        api.close()
        station.sim_control.dock.close()
        station.sim_control.world.close()


async def evse(*argv: str) -> int:
    return await asyncio.to_thread(main, ["sim", *argv])


async def test_plug_fault_clear_unplug_reach_the_simulated_world(
    daemon: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = ("--config", str(daemon.config_file))  # URL and token from the daemon's configuration
    assert await evse("plug", "1", "chademo-1.0-40kwh", "--soc", "30", *cfg) == 0
    assert "connector 1: plugged chademo-1.0-40kwh at 30 % SOC" in capsys.readouterr().out
    plugged = daemon.station.sim_control.dock.plugged(1)
    assert plugged is not None and plugged.profile.name.startswith("CHAdeMO")
    assert await evse("fault", "1", "insulation_degradation", "--param", "resistance_ohm=40000", *cfg) == 0
    assert "fault insulation_degradation injected (resistance_ohm=40000)" in capsys.readouterr().out
    active = faults.active(daemon.world, 1)
    assert [(f.name, f.params["resistance_ohm"]) for f in active] == [("insulation_degradation", 40000)]
    assert await evse("clear-fault", "1", "insulation_degradation", *cfg) == 0
    assert faults.active(daemon.world, 1) == []
    assert await evse("unplug", "1", *cfg) == 0
    assert daemon.station.sim_control.dock.plugged(1) is None
    assert "connector 1: unplugged" in capsys.readouterr().out


async def test_listings_and_url_with_token_from_the_environment(
    daemon: Daemon, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = ("--url", daemon.api.url)
    assert await evse("profiles", *url) == 0
    assert "chademo-1.0-40kwh" in capsys.readouterr().out.split()
    assert await evse("faults", *url) == 0
    assert "insulation_degradation" in capsys.readouterr().out
    monkeypatch.setenv("EVSE_API_TOKEN", TOKEN)
    assert await evse("plug", "2", "gbt-2015-60kwh", *url) == 0
    assert daemon.station.sim_control.dock.plugged(2) is not None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("plug", "1", "no-such-car"), "no-such-car"),
        (("plug", "7", "chademo-1.0-40kwh"), "there is no connector 7 (connectors: 1, 2)"),
        (("unplug", "2"), "connector 2 has no vehicle plugged in; plug one in first"),
        (("fault", "1", "gremlins"), "gremlins"),
        (("fault", "1", "insulation_degradation", "--param", "oops"), "--param 'oops' is not NAME=VALUE"),
    ],
)
async def test_user_mistakes_are_one_sentence(
    daemon: Daemon, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    assert await evse(*argv, "--config", str(daemon.config_file)) == 64
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


async def test_token_and_daemon_problems_are_one_sentence(
    daemon: Daemon, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EVSE_API_TOKEN", raising=False)
    monkeypatch.delenv("EVSE_CONFIG", raising=False)
    url = ("--url", daemon.api.url)
    monkeypatch.chdir(tmp_path)  # no config/sim.toml here to fall back on
    assert await evse("plug", "1", "chademo-1.0-40kwh", *url) == 64
    assert "no API token for this write request" in capsys.readouterr().err
    wrong = tmp_path / "wrong-token"
    wrong.write_text("nope", encoding="utf-8")
    assert await evse("plug", "1", "chademo-1.0-40kwh", *url, "--token-file", str(wrong)) == 64
    assert "the API token is wrong" in capsys.readouterr().err
    assert await evse("unplug", "1", *url, "--token-file", str(tmp_path / "missing")) == 64
    assert "--token-file" in capsys.readouterr().err
    dead = f"http://127.0.0.1:{free_port()}"
    assert await evse("profiles", "--url", dead) == 64
    assert f"cannot reach the local API at {dead}" in capsys.readouterr().err
    assert daemon.station.sim_control.dock.plugged(1) is None
