"""The daemon's side of the API: create_service from a real configuration (recorder + API as one service), the
token file, a port in use, and `evse status` talking to a running API."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest

from evse.api.service import ApiService, OperatorService, create_service
from evse.api.settings import ApiSettings
from evse.cli import main
from evse.config.errors import UserError
from evse.config.loader import parse_config
from evse.session.events import EventBus
from evse.store.reader import SessionReader
from tests.api.conftest import FakeConfig, FakeStation
from tests.store.fleet import SessionSpec, publish_session


def config_text(state_dir: Path, port: int, token_file: str = "") -> str:
    return (
        f'[station]\nid = "T-1"\nstate_dir = "{state_dir}"\n'
        f'[api]\nport = {port}\ntoken_file = "{token_file}"\n'
        '[[connectors]]\nid = 1\nstandard = "ccs"\n[[connectors]]\nid = 2\nstandard = "chademo"\n'
    )


async def test_create_service_records_sessions_and_serves_them(tmp_path: Path) -> None:
    config = parse_config(config_text(tmp_path / "state", 0))
    bus = EventBus()
    service = create_service(config, FakeStation(), bus)
    assert isinstance(service, OperatorService) and service.api is not None
    # events published before start (a session beginning while the daemon starts) are not lost
    publish_session(
        bus,
        SessionSpec(
            session_id="early",
            connector_id=1,
            standard="ccs",
            t0_s=0.0,
            identity={"evccid": "E"},
            protocol_version="din70121",
            energy_s=3,
        ),
    )
    await service.start()
    try:
        await service.recorder.flush()
        reader = await asyncio.to_thread(SessionReader, tmp_path / "state" / "sessions.sqlite")
        assert reader.get("early")["outcome_kind"] == "completed"
        from evse.api.client import call

        status = await asyncio.to_thread(call, service.api.url, "GET", "/api/status")
        assert status["station_id"] == "T-1" and status["store"]["sessions"] == 1
        redacted = await asyncio.to_thread(call, service.api.url, "GET", "/api/config")
        assert redacted["station"]["id"] == "T-1"
    finally:
        await service.stop(2.0)


async def test_token_file_problems_are_one_sentence(tmp_path: Path) -> None:
    missing = ApiService(FakeConfig(ApiSettings(port=0, token_file=str(tmp_path / "nope"))), EventBus(), FakeStation())
    with pytest.raises(UserError, match=r"api.token_file .*nope cannot be read .*: create it with a token"):
        await missing.start()
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    empty = ApiService(FakeConfig(ApiSettings(port=0, token_file=str(tmp_path / "empty"))), EventBus(), FakeStation())
    with pytest.raises(UserError, match="is empty: write a token into it"):
        await empty.start()


async def test_port_in_use_is_one_sentence() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        service = ApiService(FakeConfig(ApiSettings(port=port)), EventBus(), FakeStation())
        with pytest.raises(UserError, match=rf"cannot listen on 127.0.0.1:{port} .*choose another api.port"):
            await service.start()


async def test_evse_status_uses_the_api(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    service = ApiService(FakeConfig(ApiSettings(port=0)), EventBus(), FakeStation())
    await service.start()
    try:
        code = await asyncio.to_thread(main, ["status", "--url", service.url])
        out = capsys.readouterr().out
        assert code == 0
        assert " 2 chademo  Charging      energy_transfer" in out and "47.8 kW" in out and "SOC  55 %" in out
        code = await asyncio.to_thread(main, ["status", "--url", service.url, "--json"])
        assert json.loads(capsys.readouterr().out)["connectors"][0]["status"] == "Available"
    finally:
        await service.stop(1.0)
    code = await asyncio.to_thread(main, ["status", "--url", service.url])
    err = capsys.readouterr().err
    assert code != 0 and err.startswith(f"evse: cannot reach the local API at {service.url}")


async def test_simulated_configuration_gets_the_world_as_simulator_seam(tmp_path: Path) -> None:
    from evse.sim.control import WorldSimControl
    from evse.sim.world import SimWorld, activate

    sim_config = parse_config(config_text(tmp_path, 0) + 'vehicle_link = { interface = "sim" }\n')
    world = SimWorld()
    world.plant(2)
    activate(world)
    try:
        service = create_service(sim_config, FakeStation(), EventBus())
        assert service.api is not None and isinstance(service.api.ctx.sim, WorldSimControl)
        assert service.api.ctx.sim.world is world
        hardware = parse_config(
            f'[station]\nstate_dir = "{tmp_path}"\n[api]\nport = 0\n[[connectors]]\nid = 1\nstandard = "gbt"\n'
            'vehicle_link = { interface = "socketcan", channel = "can0" }\n'
        )
        hw_station = FakeStation()
        assert create_service(hardware, hw_station, EventBus()).api.ctx.sim is None  # type: ignore[union-attr]
        offered = object()
        hw_station.sim_control = offered  # type: ignore[attr-defined]
        assert create_service(hardware, hw_station, EventBus()).api.ctx.sim is offered  # type: ignore[union-attr]
    finally:
        activate(None)
        world.close()
