"""The station's side of two OCPP features: a reservation shows as Reserved (status, snapshot, events) until
used, cancelled or expired; ConnectionTimeOut bounds how long a plugged vehicle waits for an identification
(then the attempt is abandoned and the connector is Available again, reported) and how long an identification
waits for the plug (Preparing meanwhile). Virtual clock."""

from __future__ import annotations

import asyncio

import pytest

from evse.session.stages import Reason, Stage
from evse.station.availability import derive_status
from evse.station.control import AuthorizationStatus, ConnectorStatus, OcppStationControl
from tests.station.test_station import Fixture

pytestmark = pytest.mark.looptime

TAG = "TAG-1"


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"plugged": True, "abandoned": True}, ConnectorStatus.AVAILABLE),
        ({"plugged": True, "abandoned": True, "reserved": True}, ConnectorStatus.RESERVED),
        ({"plugged": True, "abandoned": True, "available": False}, ConnectorStatus.UNAVAILABLE),
        ({"identified": True}, ConnectorStatus.PREPARING),
        ({"identified": True, "reserved": True}, ConnectorStatus.PREPARING),
        ({"reserved": True, "plugged": True}, ConnectorStatus.PREPARING),
        ({"stage": Stage.FINISHED, "plugged": True}, ConnectorStatus.FINISHING),
        ({"stage": Stage.FAULTED, "plugged": False}, ConnectorStatus.AVAILABLE),
    ],
)
def test_status_derivation_additions(kwargs: dict[str, object], status: ConnectorStatus) -> None:
    base: dict[str, object] = {"available": True, "fault": None, "plugged": False, "stage": None, "session_over": False}
    assert derive_status(**{**base, **kwargs}) is status  # type: ignore[arg-type]


def test_station_offers_the_ocpp_extras() -> None:
    station: OcppStationControl = Fixture().station
    assert callable(station.set_reserved) and callable(station.set_connection_timeout)


async def test_reservation_shows_reserved_until_cleared() -> None:
    async with Fixture(allow_list=[TAG]) as f:
        f.station.set_reserved(1, True)
        assert f.station.snapshot(1).status is ConnectorStatus.RESERVED
        assert f.statuses(1)[-1] == "Reserved"
        assert f.station.snapshot(2).status is ConnectorStatus.AVAILABLE
        f.rigs[1].plug(True)  # the reserved driver arrives: the session's status wins
        await f.until(lambda: f.statuses(1)[-1] == "Preparing")
        f.station.set_reserved(1, False)  # the reservation was used (its transaction started)
        f.rigs[1].plug(False)
        await f.until(lambda: f.statuses(1)[-1] == "Available")
        assert "Reserved" not in f.statuses(1)[f.statuses(1).index("Preparing") :]


async def test_cancelled_reservation_is_available_again() -> None:
    async with Fixture() as f:
        f.station.set_reserved(2, True)
        f.station.set_reserved(2, False)
        assert f.statuses(2)[-2:] == ["Reserved", "Available"]
        assert f.station.snapshot(2).status is ConnectorStatus.AVAILABLE


async def test_plugged_vehicle_without_identification_is_abandoned_after_connection_timeout() -> None:
    async with Fixture(allow_list=[TAG]) as f:
        f.station.set_connection_timeout(30.0)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        f.rigs[1].plug(True)
        await f.until(lambda: f.ended(1), timeout_s=120.0)
        ended = f.ended(1)[0]
        assert (ended.outcome.stage, ended.outcome.reason) == (Stage.AUTHORIZATION, Reason.TIMEOUT)
        assert ended.t_s - t0 < 45.0  # ConnectionTimeOut, not the 300 s authorization stage default
        await f.until(lambda: f.statuses(1)[-1] == "Available")
        assert f.station.connectors[1].plugged and f.station.snapshot(1).status is ConnectorStatus.AVAILABLE
        # a late identification starts a new attempt with the vehicle still plugged in
        result = await f.station.authorize(1, TAG)
        assert result.status is AuthorizationStatus.ACCEPTED
        await f.until(lambda: f.statuses(1)[-1] == "Charging")
        assert len(f.adapters[1]) == 2


async def test_identification_waits_for_the_plug_until_connection_timeout() -> None:
    async with Fixture(allow_list=[TAG]) as f:
        f.station.set_connection_timeout(20.0)
        assert (await f.station.authorize(2, TAG)).status is AuthorizationStatus.ACCEPTED
        assert f.statuses(2)[-1] == "Preparing"  # somebody is on their way to plug in
        await asyncio.sleep(19.0)
        assert f.statuses(2)[-1] == "Preparing"
        await asyncio.sleep(2.0)
        assert f.statuses(2)[-1] == "Available"  # abandoned, and reported
        f.rigs[2].plug(True)  # too late: this session waits for an identification of its own
        await asyncio.sleep(5.0)
        session = f.station.session(2)
        assert session is not None and session.stage is Stage.AUTHORIZATION


async def test_without_a_connection_timeout_the_stage_timeout_applies() -> None:
    async with Fixture(allow_list=[TAG]) as f:
        f.station.set_connection_timeout(None)
        f.rigs[1].plug(True)
        await asyncio.sleep(60.0)
        assert not f.ended(1)  # 300 s by default
        f.station.set_connection_timeout(0)  # 0 means "not set" too (OCPP key value 0)
        assert f.station.session(1) is not None
