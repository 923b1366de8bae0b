"""Local Authorization List, the authorization cache and its offline rules, and reservations."""

from __future__ import annotations

from typing import Any

from tests.ocpp.conftest import until
from tests.ocpp.csms import TestCsms
from tests.ocpp.station_double import StationDouble

PAST = "2000-01-01T00:00:00Z"
FUTURE = "2099-01-01T00:00:00Z"


def entry(tag: str, status: str | None, expiry: str | None = None) -> dict[str, Any]:
    if status is None:
        return {"id_tag": tag}
    info: dict[str, Any] = {"status": status}
    if expiry:
        info["expiry_date"] = expiry
    return {"id_tag": tag, "id_tag_info": info}


async def test_local_list_full_and_differential(csms: TestCsms, make_service, station: StationDouble) -> None:
    service = await make_service(csms.port)
    await csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 1)
    peer = csms.peers["CP1"]
    full = [entry("A", "Accepted", FUTURE), entry("B", "Blocked"), entry("C", "Accepted", PAST)]
    r = await peer.request("SendLocalList", list_version=5, update_type="Full", local_authorization_list=full)
    assert r.status == "Accepted"
    assert (await peer.request("GetLocalListVersion")).list_version == 5
    r = await peer.request(
        "SendLocalList", list_version=5, update_type="Differential", local_authorization_list=[entry("D", "Accepted")]
    )
    assert r.status == "VersionMismatch"
    r = await peer.request(
        "SendLocalList",
        list_version=6,
        update_type="Differential",
        local_authorization_list=[entry("D", "Accepted"), entry("A", None)],
    )
    assert r.status == "Accepted"
    auth = service.client.auth
    assert auth.list_lookup("A") is None and auth.list_lookup("D") is not None
    # offline: the list decides (LocalAuthorizeOffline), expired entries are Expired, unknown ones Invalid
    port = csms.port
    await csms.stop()
    await until(lambda: not service.client.online)
    assert (await station.authorize(1, "D")).status == "Accepted"
    assert (await station.authorize(1, "B")).status == "Blocked"
    assert (await station.authorize(1, "C")).status == "Expired"
    assert (await station.authorize(1, "NOBODY")).status == "Invalid"
    service.client.keys.set("LocalAuthorizeOffline", "false")
    assert (await station.authorize(1, "D")).status == "Invalid"
    assert port


async def test_local_pre_authorize_skips_the_csms(csms: TestCsms, make_service, station: StationDouble) -> None:
    service = await make_service(csms.port)
    await csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 1)
    peer = csms.peers["CP1"]
    await peer.request(
        "SendLocalList", list_version=1, update_type="Full", local_authorization_list=[entry("FAST", "Accepted")]
    )
    service.client.keys.set("LocalPreAuthorize", "true")
    decision = await station.authorize(1, "FAST")
    assert decision.status == "Accepted" and decision.source == "local_list"
    assert not csms.actions("Authorize")
    csms.script.id_tags["SLOW"] = "Blocked"
    assert (await station.authorize(1, "SLOW")).status == "Blocked"
    assert service.client.auth.cache_lookup("SLOW") == {"status": "Blocked"}


async def test_cache_used_offline(csms: TestCsms, make_service, station: StationDouble) -> None:
    service = await make_service(csms.port)
    await csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 1)
    assert (await station.authorize(1, "CACHED")).source == "csms"
    await csms.stop()
    await until(lambda: not service.client.online)
    decision = await station.authorize(1, "CACHED")
    assert decision.status == "Accepted" and decision.source == "cache"


async def test_reservation_lifecycle(csms: TestCsms, make_service, station: StationDouble) -> None:
    service = await make_service(csms.port)
    await csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 1)
    peer = csms.peers["CP1"]
    r = await peer.request("ReserveNow", connector_id=1, expiry_date=FUTURE, id_tag="R1", reservation_id=11)
    assert r.status == "Accepted"
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Reserved")
    assert (
        await peer.request("ReserveNow", connector_id=1, expiry_date=FUTURE, id_tag="R2", reservation_id=12)
    ).status == "Occupied"
    assert (
        await peer.request("ReserveNow", connector_id=0, expiry_date=FUTURE, id_tag="R2", reservation_id=13)
    ).status == "Rejected"
    assert (await station.authorize(1, "SOMEONE")).status == "Invalid"  # reserved for R1
    assert (await station.authorize(1, "R1")).status == "Accepted"
    station.begin(1)
    start = await csms.wait_for("StartTransaction")
    assert start["reservationId"] == 11
    assert service.client.connectors[1].reservation_id is None  # used up
    station.end(1)
    # expiry: a reservation whose time has passed ends and the connector is Available again
    soon = "2000-01-01T00:00:00Z"
    mark = len(csms.received)
    r = await peer.request("ReserveNow", connector_id=1, expiry_date=soon, id_tag="R3", reservation_id=14)
    assert r.status == "Accepted"
    await until(lambda: 14 not in service.client.reservations)
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Available", after=mark)
    # faulted and unavailable connectors
    station.status(1, "Faulted", "OtherError")
    await until(lambda: service.client.connectors[1].status == "Faulted")
    assert (
        await peer.request("ReserveNow", connector_id=1, expiry_date=FUTURE, id_tag="R", reservation_id=15)
    ).status == "Faulted"
    assert (await peer.request("CancelReservation", reservation_id=99)).status == "Rejected"
