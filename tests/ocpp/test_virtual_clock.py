"""On the virtual clock, over the in-memory link to the development CSMS (no socket, so looptime's time jumps are
exact): `OcppService.alive()`, ResetRetries, ConnectionTimeOut handed to the station, and reservations shown by
the station."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from evse.clock import wall_time
from evse.ocpp.client import OcppClient
from evse.ocpp.dev_csms import DevCsms
from evse.ocpp.handlers import OcppChargePoint
from evse.ocpp.service import OcppService
from evse.session.events import EventBus
from tests.ocpp.conftest import fast_settings
from tests.ocpp.station_double import StationDouble

pytestmark = pytest.mark.looptime


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.bus = EventBus()
        self.station = StationDouble(self.bus)
        self.csms = DevCsms(on_line=lambda *_: None)
        self.reboots: list[str] = []
        self.reboot_failures = 0
        self.service: OcppService | None = None

    async def on_reboot(self, kind: str) -> None:
        self.reboots.append(kind)
        if self.reboot_failures > 0:
            self.reboot_failures -= 1
            raise RuntimeError("the restart did not happen")

    async def start(self, open_link: Callable[[str], Awaitable[Any]] | None = None, **overrides: Any) -> OcppService:
        settings = fast_settings(0, csms_url="ws://in-process", **overrides)
        self.service = OcppService(
            settings,
            self.bus,
            self.station,
            state_dir=self.tmp_path,
            rng=random.Random(1),
            on_reboot=self.on_reboot,
            open_link=open_link or self.csms.open_link,
        )
        await self.service.start()
        return self.service

    @property
    def client(self) -> OcppClient:
        assert self.service is not None and self.service.client is not None
        return self.service.client

    async def online(self) -> None:
        await until(lambda: self.client.online and "CP1" in self.csms.peers)

    async def csms_call(self, action: str, payload: dict[str, Any]) -> Any:
        return await self.csms.peers["CP1"].call_raw(action, payload)


async def until(predicate: Callable[[], bool], timeout_s: float = 60.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110 (polling on virtual time costs nothing)
            await asyncio.sleep(0.05)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = Rig(tmp_path)
    yield r
    if r.service is not None:
        await r.service.stop()


# -- alive()
async def test_alive_while_running_also_offline(rig: Rig) -> None:
    async def refuse(url: str) -> Any:
        raise OSError("connection refused")

    service = await rig.start(open_link=refuse)
    assert service.alive()
    await asyncio.sleep(600.0)  # ten minutes of reconnect attempts: offline is not dead
    assert service.alive() and not rig.client.online
    await service.stop()
    assert not service.alive()


async def test_alive_before_start_is_false(tmp_path: Path) -> None:
    service = OcppService(fast_settings(0), EventBus(), StationDouble(EventBus()), state_dir=tmp_path)
    assert not service.alive()


async def test_a_crashed_loop_is_not_alive(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    service = await rig.start()
    await rig.online()
    assert service.alive()

    def broken(now_epoch: float) -> float | None:
        raise RuntimeError("bug in the housekeeping")

    monkeypatch.setattr(rig.client, "apply_limits", broken)
    rig.client.replan()
    await asyncio.sleep(1.0)
    assert not service.alive()


async def test_a_dead_session_on_a_live_connection_is_not_alive(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    async def heartbeat_crashes(self: OcppClient, cp: OcppChargePoint) -> None:
        raise RuntimeError("bug in the heartbeat loop")

    monkeypatch.setattr(OcppClient, "_heartbeat_loop", heartbeat_crashes)
    service = await rig.start()
    await until(lambda: rig.client.accepted.is_set() or rig.client.cp is not None)
    await asyncio.sleep(1.0)
    assert rig.client.cp is not None  # the connection is still up …
    assert not service.alive()  # … but nothing would be sent over it


async def test_a_wedged_queue_sender_is_not_alive(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    service = await rig.start()
    await rig.online()
    await until(lambda: len(rig.client.queue) == 0)
    original = OcppChargePoint.call_raw

    async def wedged(self: OcppChargePoint, action: str, payload: dict[str, Any], unique_id: str | None = None) -> Any:
        if action == "SecurityEventNotification":
            await asyncio.Event().wait()  # a CALL that never returns, whatever its timeout
        return await original(self, action, payload, unique_id)

    monkeypatch.setattr(OcppChargePoint, "call_raw", wedged)
    rig.client.security_event("ResetOrReboot", "test")
    await asyncio.sleep(60.0)
    assert service.alive()  # waiting for an answer a while is normal
    await asyncio.sleep(600.0)
    assert not service.alive()


# -- ResetRetries
async def test_soft_reset_is_retried_while_sessions_do_not_stop(rig: Rig) -> None:
    await rig.start()
    await rig.online()
    rig.client.keys.set("ResetRetries", "2")
    rig.station.stop_ends_session = False
    rig.station.begin(1)
    await until(lambda: rig.client.connectors[1].tx_local is not None)
    assert (await rig.csms_call("Reset", {"type": "Soft"}))["status"] == "Accepted"
    await until(lambda: rig.reboots == ["Soft"], timeout_s=300.0)
    stops = [c for c in rig.station.commands if c[0] == "stop"]
    assert len(stops) == 3  # the first attempt and two retries asked the session to stop
    assert rig.client.reset_attempts == 3 and rig.client.reset_attempts_failed == 0
    await until(lambda: any(a == "StopTransaction" for _, a, _ in rig.csms.received))
    stop = next(p for _, a, p in rig.csms.received if a == "StopTransaction")
    assert stop["reason"] == "SoftReset"  # the last attempt stopped the transaction itself


async def test_a_failed_reboot_is_retried_reset_retries_times(rig: Rig) -> None:
    await rig.start()
    await rig.online()
    rig.reboot_failures = 1
    assert rig.client.keys.get_int("ResetRetries") == 1  # the default
    await rig.csms_call("Reset", {"type": "Hard"})
    await until(lambda: len(rig.reboots) == 2)
    assert rig.client.reset_attempts_failed == 0
    rig.reboot_failures = 5
    rig.client.keys.set("ResetRetries", "0")
    await rig.csms_call("Reset", {"type": "Hard"})
    await until(lambda: rig.client.reset_attempts_failed == 1)
    assert len(rig.reboots) == 3  # no retry with ResetRetries 0


# -- ConnectionTimeOut
async def test_connection_timeout_is_handed_to_the_station(rig: Rig) -> None:
    await rig.start()
    assert rig.station.connection_timeout_s == 60.0  # the key's default, at start
    await rig.online()
    result = await rig.csms_call("ChangeConfiguration", {"key": "ConnectionTimeOut", "value": "25"})
    assert result["status"] == "Accepted"
    assert rig.station.connection_timeout_s == 25.0
    await rig.csms_call("ChangeConfiguration", {"key": "ConnectionTimeOut", "value": "0"})
    assert rig.station.connection_timeout_s is None  # 0: the station's own stage timeout


# -- reservations
async def test_reservations_are_shown_by_the_station(rig: Rig) -> None:
    await rig.start()
    await rig.online()
    expiry = (wall_time() + dt.timedelta(seconds=120)).isoformat().replace("+00:00", "Z")
    result = await rig.csms_call(
        "ReserveNow", {"connectorId": 1, "expiryDate": expiry, "idTag": "R1", "reservationId": 7}
    )
    assert result["status"] == "Accepted"
    assert ("set_reserved", (1, True)) in rig.station.commands
    assert (await rig.csms_call("CancelReservation", {"reservationId": 7}))["status"] == "Accepted"
    assert rig.station.commands[-1] == ("set_reserved", (1, False))
    await rig.csms_call("ReserveNow", {"connectorId": 1, "expiryDate": expiry, "idTag": "R1", "reservationId": 8})
    assert rig.station.commands[-1] == ("set_reserved", (1, True))
    await asyncio.sleep(130.0)  # expired
    assert rig.station.commands[-1] == ("set_reserved", (1, False))
    await rig.csms_call(
        "ReserveNow", {"connectorId": 1, "expiryDate": "2099-01-01T00:00:00Z", "idTag": "R2", "reservationId": 9}
    )
    rig.station.begin(1)  # the reserved driver's transaction uses the reservation
    await until(lambda: rig.station.commands[-1] == ("set_reserved", (1, False)))
