"""`[rfid]` in `evse run`: a PN532 (the chip emulator on a pty link) read by the daemon's RFID service; card UIDs
go to the station's authorization (allow-list here), the authorized card starts the session of the vehicle plugged
in next, and reader faults are logged and shown on /metrics and /api/status. Plus the card routing rules on a
station double. Real time with short polls; loopback API."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evse.api.client import call
from evse.cli import main
from evse.config.loader import parse_config
from evse.daemon import wiring
from evse.daemon.exitcodes import EXIT_OK, EXIT_UNAVAILABLE
from evse.daemon.main import serve
from evse.daemon.rfid import CardRouter
from evse.daemon.wiring import StartError
from evse.hardware.drivers.emulators.pn532 import Pn532Emulator
from evse.hardware.drivers.emulators.ptylink import PtyLink
from evse.hardware.drivers.rfid.reader import READER_SILENT
from evse.session.events import ConnectorStatusChanged
from evse.sim.profile import load_profile
from evse.station.control import Authorization, AuthorizationStatus, ConnectorSnapshot, ConnectorStatus

CONFIG = """
[station]
state_dir = "{state}"
free_vend = false
allow_list = ["DEADBEEF"]
[[connectors]]
id = 1
standard = "chademo"
vehicle_link = {{ interface = "sim" }}
[[connectors]]
id = 2
standard = "chademo"
vehicle_link = {{ interface = "sim" }}
[ocpp]
enabled = false
[api]
port = {api_port}
[rfid]
driver = "pn532"
fault_check_interval_s = 0.05
params = {{ port = "{port}", poll_interval_s = 0.02, response_timeout_s = 0.1, card_repeat_s = 0.5 }}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


async def until(condition: Callable[[], Any], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not await condition():  # noqa: ASYNC110 - polling a pty peer and an HTTP endpoint
            await asyncio.sleep(0.02)


async def test_cards_authorize_through_the_daemon_and_reader_faults_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    link = PtyLink()
    chip = Pn532Emulator(link.device_port)
    api_port = free_port()
    url = f"http://127.0.0.1:{api_port}"
    config = parse_config(CONFIG.format(state=tmp_path, api_port=api_port, port=link.driver_port))
    built: list[wiring.Wiring] = []
    real_build = wiring.build

    def spy(*args: Any) -> wiring.Wiring:
        built.append(real_build(*args))
        return built[-1]

    monkeypatch.setattr(wiring, "build", spy)
    daemon = asyncio.create_task(serve(config))
    metrics = logs = ""

    async def scraped(*wanted: str) -> bool:
        nonlocal metrics
        with contextlib.suppress(OSError):
            metrics = await asyncio.to_thread(get_text, url + "/metrics")
        return all(line in metrics.splitlines() for line in wanted)

    try:
        await until(lambda: scraped('evse_rfid_reader_fault{driver="pn532"} 0'))
        (composed,) = built
        assert "rfid" in [s.name for s in composed.services]
        station_errors: list[str] = []  # connector 0 (the charge point): what OCPP reports as ReaderFailure

        def note_station_error(event: Any) -> None:
            if isinstance(event, ConnectorStatusChanged) and event.connector_id == 0:
                station_errors.append(event.error_code)

        composed.bus.subscribe(note_station_error)
        # a card on the allow-list: accepted and kept for the connector (nothing plugged in yet)
        chip.card_uid = bytes.fromhex("DEADBEEF")
        await until(lambda: scraped('evse_rfid_cards_total{result="accepted"} 1'))
        chip.card_uid = None
        await asyncio.sleep(0.1)
        # an unknown card: connector 1 holds the first card, so it goes to connector 2, and is rejected
        chip.card_uid = bytes.fromhex("0BADCAFE")
        await until(lambda: scraped('evse_rfid_cards_total{result="rejected"} 1'))
        chip.card_uid = None
        assert 'evse_rfid_cards_read_total{driver="pn532"} 2' in metrics.splitlines()
        # the vehicle plugged in now charges under the card's authorization
        station = composed.station
        station.sim_control.dock.plug(1, load_profile("chademo-1.0-40kwh"))

        async def card_session() -> bool:
            return station.snapshot(1).id_tag == "DEADBEEF"

        await until(card_session, 10.0)
        # the reader goes silent: a fault on /metrics and /api/status, logged once; then it recovers
        link.mute = True
        await until(lambda: scraped('evse_rfid_reader_fault{driver="pn532"} 1'))
        status = await asyncio.to_thread(call, url, "GET", "/api/status")
        assert status["rfid"]["fault"] == READER_SILENT and status["rfid"]["outcomes"]["accepted"] == 1
        earlier = capsys.readouterr()
        logs = earlier.out + earlier.err
        assert await asyncio.to_thread(main, ["status", "--url", url]) == 0
        shown = capsys.readouterr()
        logs += shown.out + shown.err
        assert f"  rfid pn532: FAULT {READER_SILENT}, 2 card(s) read" in shown.out
        await asyncio.sleep(0.25)  # several health checks (every 0.05 s) see the fault: it is logged once
        link.mute = False
        await until(lambda: scraped('evse_rfid_reader_fault{driver="pn532"} 0'))

        async def cleared() -> bool:
            return station_errors[-1:] == ["NoError"]

        await until(cleared)  # the health check publishes the recovery on its next pass
        assert station_errors == ["ReaderFailure", "NoError"]  # once when it appears, once when it clears
    finally:
        os.kill(os.getpid(), signal.SIGTERM)
        code = await asyncio.wait_for(daemon, 20)
        chip.close()
        link.close()
    assert code == EXIT_OK
    assert composed.station.sim_control.dock.docked == {}  # the vehicle plugged in above was unplugged on release
    captured = capsys.readouterr()
    out = logs + captured.out + captured.err
    assert out.count("RFID reader fault: cards cannot be read") == 1 and "RFID reader recovered" in out
    assert "RFID card accepted" in out and "RFID card rejected" in out


async def test_a_reader_port_that_cannot_be_opened_is_one_sentence(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-tty"
    config = parse_config(CONFIG.format(state=tmp_path, api_port=free_port(), port=missing))
    with pytest.raises(StartError) as error:
        await serve(config)
    assert error.value.exit_code == EXIT_UNAVAILABLE
    message = str(error.value)
    assert f"the RFID reader's port {missing} cannot be opened" in message and "check rfid.params.port" in message
    assert "\n" not in message


class Station:
    """A StationControl double for the routing rules."""

    def __init__(self, statuses: dict[int, tuple[ConnectorStatus, str | None, str]]) -> None:
        self.statuses = statuses
        self.calls: list[tuple[str, int, str]] = []

    def connector_ids(self) -> list[int]:
        return sorted(self.statuses)

    def snapshot(self, connector_id: int) -> ConnectorSnapshot:
        status, id_tag, stage = self.statuses[connector_id]
        return ConnectorSnapshot(
            connector_id=connector_id,
            standard="ccs",
            status=status,
            stage=stage,
            session_id=None,
            id_tag=id_tag,
            voltage_v=0.0,
            current_a=0.0,
            power_w=0.0,
            energy_wh=0.0,
            soc_pct=None,
            current_limit_a=0.0,
            limit_source="charger",
        )

    async def authorize(self, connector_id: int, id_tag: str) -> Authorization:
        self.calls.append(("authorize", connector_id, id_tag))
        ok = id_tag.startswith("OK")
        return Authorization(AuthorizationStatus.ACCEPTED if ok else AuthorizationStatus.INVALID, id_tag)

    async def stop(self, connector_id: int, reason: str) -> bool:
        self.calls.append(("stop", connector_id, reason))
        return True


async def test_card_routing_rules() -> None:
    charging, preparing, available = ConnectorStatus.CHARGING, ConnectorStatus.PREPARING, ConnectorStatus.AVAILABLE
    station = Station(
        {
            1: (available, None, "idle"),
            2: (preparing, None, "idle"),  # holds an identification until its plug arrives: not waiting for one
            3: (preparing, None, "authorization"),  # a plugged-in vehicle waiting for authorization
            4: (charging, "OK-1", "energy_transfer"),
        }
    )
    router = CardRouter(station)  # type: ignore[arg-type]
    # the card that started a running session stops it
    assert await router.present("OK-1") == "stopped"
    # else the plugged-in vehicle waiting for authorization gets the card
    assert await router.present("OK-2") == "accepted"
    # a rejected card is reported as such
    assert await router.present("NOPE") == "rejected"
    assert station.calls == [("stop", 4, "user_stop"), ("authorize", 3, "OK-2"), ("authorize", 3, "NOPE")]
    # nothing waiting: the first available connector (kept until the plug arrives)
    station.statuses[3] = (charging, "OK-2", "energy_transfer")
    station.calls.clear()
    assert await router.present("OK-3") == "accepted" and station.calls == [("authorize", 1, "OK-3")]
    # the reader serves only connector 4 (charging for someone else): the card is ignored
    only4 = CardRouter(station, [4])  # type: ignore[arg-type]
    station.calls.clear()
    assert await only4.present("OK-9") == "ignored" and station.calls == []
    assert dict(router.outcomes) == {"stopped": 1, "accepted": 2, "rejected": 1}
