"""`evse csms`: the development CSMS accepts our client, logs every message, and obeys `evse csms start|stop|
profile|send` over its control port."""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket

import pytest

from evse.cli import main as evse_main
from evse.ocpp.dev_csms import DevCsms
from tests.ocpp.conftest import until
from tests.ocpp.station_double import StationDouble


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_dev_csms_drives_a_charge_point(make_service, station: StationDouble, capsys) -> None:
    out = io.StringIO()
    csms = DevCsms(out)
    port, control = free_port(), free_port()
    server = asyncio.create_task(csms.run("127.0.0.1", port, control))
    try:
        await until(lambda: "dev CSMS on" in out.getvalue())
        service = await make_service(port)
        await until(lambda: "StatusNotification" in out.getvalue() and service.client.online)

        def cli(*argv: str) -> int:
            return evse_main(["csms", *argv, "--control-port", str(control)])

        assert await asyncio.to_thread(cli, "start", "--id-tag", "DEVTAG") == 0
        await until(lambda: "StartTransaction" in out.getvalue())
        assert ("remote_start", (1, "DEVTAG")) in station.commands
        assert await asyncio.to_thread(cli, "profile", "--limit-a", "32") == 0
        await until(lambda: station.limits.get(1, (None, None))[0] == 32.0)
        assert await asyncio.to_thread(cli, "stop") == 0  # the last transaction of the only charge point
        await until(lambda: "StopTransaction" in out.getvalue())
        assert await asyncio.to_thread(cli, "send", "GetConfiguration", '{"key": ["HeartbeatInterval"]}') == 0
        assert '"HeartbeatInterval"' in capsys.readouterr().out
        log = out.getvalue()
        assert "CP1 → BootNotification" in log and "CP1 ← RemoteStartTransaction" in log
        # user errors end in one sentence
        assert await asyncio.to_thread(cli, "send", "Reset", "not json") == 64
        assert "is not JSON" in capsys.readouterr().err
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server


def test_no_running_dev_csms_is_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    assert evse_main(["csms", "stop", "--control-port", str(free_port())]) == 64
    assert "start one with `evse csms`" in capsys.readouterr().err
