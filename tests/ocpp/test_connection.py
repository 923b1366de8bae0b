"""Connection supervisor: subprotocol, BootNotification gate, heartbeat, reconnect with backoff."""

from __future__ import annotations

import asyncio
import random

import pytest

from evse.ocpp.connection import backoff_delays
from tests.ocpp.conftest import fast_settings, until
from tests.ocpp.csms import TestCsms


async def test_boot_accepted_then_status_for_every_connector(csms: TestCsms, make_service) -> None:
    service = await make_service(csms.port)
    boot = await csms.wait_for("BootNotification")
    assert boot["chargePointVendor"] == "evse"
    await csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 1)
    await csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 0)
    assert service.client.online
    # HeartbeatInterval taken from the CSMS's answer
    assert service.client.keys.get_int("HeartbeatInterval") == 300


async def test_boot_pending_then_rejected_then_accepted_sends_nothing_else_before(csms: TestCsms, make_service) -> None:
    csms.script.boot = [("Pending", 1), ("Rejected", 1), ("Accepted", 300)]
    await make_service(csms.port)
    await csms.wait_for("StatusNotification", timeout_s=6)
    actions = [a for a, _ in csms.actions()]
    assert actions[:3] == ["BootNotification"] * 3
    assert "StatusNotification" not in actions[:3]


async def test_pending_csms_may_configure_before_accept(csms: TestCsms, make_service) -> None:
    csms.script.boot = [("Pending", 2), ("Accepted", 300)]
    service = await make_service(csms.port)
    peer = await csms.wait_connected("CP1")
    await csms.wait_for("BootNotification")
    result = await peer.request("GetConfiguration", key=["HeartbeatInterval"])
    assert result.configuration_key[0]["key"] == "HeartbeatInterval"
    assert not service.client.online


async def test_heartbeat_sent_when_idle(csms: TestCsms, make_service) -> None:
    csms.script.boot = [("Accepted", 1)]
    await make_service(csms.port)
    await csms.wait_for("Heartbeat", timeout_s=4)


async def test_reconnects_after_csms_restart(csms: TestCsms, make_service) -> None:
    service = await make_service(csms.port)
    await csms.wait_for("StatusNotification")
    port = csms.port
    await csms.stop()
    await until(lambda: not service.client.online)
    again = TestCsms(port=port)
    await again.start()
    try:
        await again.wait_for("BootNotification", timeout_s=5)
        await until(lambda: service.client.online)
    finally:
        await again.stop()


async def test_unreachable_csms_keeps_retrying(make_service, unused_tcp_port: int) -> None:
    service = await make_service(unused_tcp_port)
    await asyncio.sleep(0.5)
    assert not service.client.online
    assert service.client.supervisor.last_error


def test_backoff_doubles_caps_and_jitters() -> None:
    settings = fast_settings(1, backoff_initial_s=1.0, backoff_max_s=8.0, backoff_jitter=0.5)
    delay = backoff_delays(settings, random.Random(3))
    delays = [delay(n) for n in range(6)]
    for n, d in enumerate(delays):
        base = min(8.0, 2.0**n)
        assert base <= d <= base * 1.5
    assert delays[5] <= 12.0


async def test_heartbeat_suppressed_while_other_traffic_flows(csms: TestCsms, make_service, station) -> None:
    csms.script.boot = [("Accepted", 1)]
    await make_service(csms.port)
    await csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 1)
    for n in range(8):  # a status change every 0.25 s for 2 s: the link is visibly alive
        station.status(1, "Preparing" if n % 2 == 0 else "Available")
        await asyncio.sleep(0.25)
    assert not csms.actions("Heartbeat")
    await csms.wait_for("Heartbeat", timeout_s=3)  # silence: heartbeats resume


async def test_stop_unsubscribes_from_the_bus(csms: TestCsms, make_service, bus) -> None:
    service = await make_service(csms.port)
    before = len(bus._subscribers)
    await service.stop()
    assert len(bus._subscribers) == before - 1


async def test_unwritable_state_directory_is_one_sentence(tmp_path, bus, station) -> None:
    from evse.config.errors import UserError
    from evse.ocpp.service import OcppService

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    service = OcppService(fast_settings(1), bus, station, state_dir=blocker / "state")
    with pytest.raises(UserError, match="cannot open the OCPP database"):
        await service.start()


def test_identity_from_station_unless_set_in_ocpp(bus, station) -> None:
    from evse.config.schema import Config, StationSettings
    from evse.ocpp.service import OcppService

    config = Config(station=StationSettings(id="ST-1", vendor="ACME"))
    service = OcppService(config, bus, station)
    assert (service.settings.charge_point_id, service.settings.vendor) == ("ST-1", "ACME")
    config = Config(station=StationSettings(id="ST-1"), ocpp=fast_settings(1, charge_point_id="OCPP-ID"))
    assert OcppService(config, bus, station).settings.charge_point_id == "OCPP-ID"


class BlackholeProxy:
    """A TCP relay that can silently stop relaying (a dead link that does not close: only pings notice)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.dead = False
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                if not self.dead:
                    dst.write(data)
                    await dst.drain()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            up_writer.close()


async def test_dead_link_is_found_by_ping_and_reconnected(csms: TestCsms, make_service) -> None:
    proxy = BlackholeProxy(csms.port)
    await proxy.start()
    try:
        service = await make_service(proxy.port, ping_interval_s=0.2, ping_timeout_s=0.3)
        await csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 1)
        proxy.dead = True  # nothing passes any more, and nobody closes the TCP connection
        await until(lambda: not service.client.online, timeout_s=3)
        assert "keepalive ping timeout" in service.client.supervisor.last_error, service.client.supervisor.last_error
        proxy.dead = False
        await csms.wait_for("BootNotification", count=2, timeout_s=5)
    finally:
        await proxy.stop()


async def test_trigger_boot_notification_while_pending(csms: TestCsms, make_service) -> None:
    csms.script.boot = [("Pending", 60), ("Accepted", 300)]  # would wait a minute without the trigger
    service = await make_service(csms.port)
    await csms.wait_for("BootNotification")
    peer = csms.peers["CP1"]
    result = await peer.request("TriggerMessage", requested_message="BootNotification")
    assert result.status == "Accepted"
    await csms.wait_for("BootNotification", count=2, timeout_s=3)
    await until(lambda: service.client.online)
