"""The OCPP client with the real Station (evse.station.Station over the simulated rig of tests/session/doubles and
a scripted vehicle adapter) and the real test CSMS: remote start, a charging session, its transaction messages,
the CSMS limit reaching the connector, remote stop. Real time (sockets), so the vehicle charges only briefly."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator

import pytest

from evse.ocpp.service import OcppService
from evse.safety.envelope import CableLimits
from evse.session.adapter import PLANS
from evse.session.events import EventBus
from evse.station.authorization import LocalAuthorizer
from evse.station.connector import ConnectorSpec
from evse.station.station import Station
from tests.ocpp.conftest import fast_settings, until
from tests.ocpp.csms import TestCsms
from tests.session.doubles import CHARGER, Rig, ScriptedAdapter


class World:
    def __init__(self, charge_s: float) -> None:
        self.rig = Rig()
        self.bus = EventBus()
        spec = ConnectorSpec(
            connector_id=1,
            standard="ccs",
            roles=self.rig.roles,
            charger=CHARGER,
            cable=CableLimits(250),
            new_adapter=functools.partial(ScriptedAdapter, self.rig, PLANS["ccs"], charge_s=charge_s, request_a=150.0),
        )
        self.station = Station([spec], bus=self.bus, power_budget_w=100_000, authorizer=LocalAuthorizer())


@pytest.fixture
async def world() -> AsyncIterator[World]:
    w = World(charge_s=60.0)
    rig_task = asyncio.create_task(w.rig.run())
    await w.station.start()
    yield w
    await w.station.shutdown(5.0)
    rig_task.cancel()


async def test_remote_start_session_and_remote_stop_with_the_real_station(
    csms: TestCsms, world: World, tmp_path
) -> None:
    service = OcppService(
        fast_settings(csms.port, meter_sample_interval_s=1), world.bus, world.station, state_dir=tmp_path
    )
    await service.start()
    try:
        await csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 1 and p["status"] == "Available")
        peer = csms.peers["CP1"]
        assert (await peer.request("RemoteStartTransaction", id_tag="REMOTE1", connector_id=1)).status == "Accepted"
        world.rig.plug(True)
        start = await csms.wait_for("StartTransaction", timeout_s=20)
        assert start["idTag"] == "REMOTE1" and start["connectorId"] == 1
        await csms.wait_for("StatusNotification", lambda p: p["status"] == "Charging", timeout_s=20)
        await csms.wait_for("MeterValues", lambda p: p.get("transactionId") == 1001, timeout_s=10)
        profile = {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 40.0}],
            },
        }
        result = await peer.request("SetChargingProfile", connector_id=1, cs_charging_profiles=profile)
        assert result.status == "Accepted"
        await until(lambda: world.station.snapshot(1).current_limit_a <= 40.0, timeout_s=10)
        assert (await peer.request("RemoteStopTransaction", transaction_id=1001)).status == "Accepted"
        stop = await csms.wait_for("StopTransaction", timeout_s=20)
        assert stop["transactionId"] == 1001 and stop["reason"] == "Remote" and stop["meterStop"] >= start["meterStart"]
        assert csms.violations == []
    finally:
        await service.stop()


async def test_reservation_shows_at_the_station_and_connection_timeout_abandons(
    csms: TestCsms, world: World, tmp_path
) -> None:
    service = OcppService(fast_settings(csms.port), world.bus, world.station, state_dir=tmp_path)
    await service.start()
    try:
        await csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 1 and p["status"] == "Available")
        peer = csms.peers["CP1"]
        reserve = {"connector_id": 1, "expiry_date": "2099-01-01T00:00:00Z", "id_tag": "R1", "reservation_id": 3}
        assert (await peer.request("ReserveNow", **reserve)).status == "Accepted"
        assert world.station.snapshot(1).status == "Reserved"  # what the API /status and the HMI show
        await csms.wait_for("StatusNotification", lambda p: p["status"] == "Reserved")
        assert (await peer.request("CancelReservation", reservation_id=3)).status == "Accepted"
        assert world.station.snapshot(1).status == "Available"
        # ConnectionTimeOut: a plugged vehicle nobody identifies is abandoned after 1 s, Available again
        assert (await peer.request("ChangeConfiguration", key="ConnectionTimeOut", value="1")).status == "Accepted"
        n = len(csms.received)
        world.rig.plug(True)
        await csms.wait_for("StatusNotification", lambda p: p["status"] == "Preparing", after=n)
        await csms.wait_for("StatusNotification", lambda p: p["status"] == "Available", after=n, timeout_s=10)
        assert world.station.snapshot(1).status == "Available" and world.station.connectors[1].plugged
        assert not csms.actions("StartTransaction")  # no transaction was ever started
        # an unidentified driver is no fault of the charger or the vehicle: no error code on the way
        statuses = [p for _, a, p, _ in csms.received[n:] if a == "StatusNotification"]
        assert statuses and all(p["errorCode"] == "NoError" for p in statuses)
    finally:
        await service.stop()
