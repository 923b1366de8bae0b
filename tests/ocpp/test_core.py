"""Core profile against the real test CSMS: transactions from session events, remote start/stop, configuration,
availability, reset, unlock, data transfer, status error codes."""

from __future__ import annotations

import asyncio
import json

from evse.session.stages import Reason, Stage
from tests.ocpp.conftest import until
from tests.ocpp.csms import TestCsms
from tests.ocpp.station_double import StationDouble


async def online(csms: TestCsms, make_service, **overrides):
    service = await make_service(csms.port, **overrides)
    await csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 1)
    return service, csms.peers["CP1"]


async def test_local_session_is_a_transaction(csms: TestCsms, make_service, station: StationDouble) -> None:
    service, _ = await online(csms, make_service)
    decision = await station.authorize(1, "TAG1")
    assert decision.status == "Accepted" and decision.source == "csms"
    station.begin(1)
    start = await csms.wait_for("StartTransaction")
    assert start["idTag"] == "TAG1" and start["connectorId"] == 1 and start["meterStart"] == 0
    station.sample(1, 1500.0)
    station.end(1, Reason.USER_STOP)
    stop = await csms.wait_for("StopTransaction")
    assert stop["transactionId"] == 1001 and stop["reason"] == "Local" and stop["meterStop"] == 1500
    assert stop["transactionData"][-1]["sampledValue"][0]["context"] == "Transaction.End"
    await until(lambda: len(service.client.queue) == 0)


async def test_remote_start_and_stop(csms: TestCsms, make_service, station: StationDouble) -> None:
    _, peer = await online(csms, make_service)
    result = await peer.request("RemoteStartTransaction", id_tag="REMOTE", connector_id=1)
    assert result.status == "Accepted"
    start = await csms.wait_for("StartTransaction")
    assert start["idTag"] == "REMOTE"
    assert ("remote_start", (1, "REMOTE")) in station.commands
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Charging")
    assert (await peer.request("RemoteStopTransaction", transaction_id=999)).status == "Rejected"
    assert (await peer.request("RemoteStopTransaction", transaction_id=1001)).status == "Accepted"
    stop = await csms.wait_for("StopTransaction")
    assert stop["reason"] == "Remote" and stop["transactionId"] == 1001


async def test_remote_start_rejected_when_connector_busy_or_unknown(csms: TestCsms, make_service, station) -> None:
    _, peer = await online(csms, make_service)
    station.begin(1)
    await csms.wait_for("StartTransaction")
    assert (await peer.request("RemoteStartTransaction", id_tag="X", connector_id=1)).status == "Rejected"
    assert (await peer.request("RemoteStartTransaction", id_tag="X", connector_id=7)).status == "Rejected"


async def test_authorize_remote_tx_requests(csms: TestCsms, make_service, station: StationDouble) -> None:
    service, peer = await online(csms, make_service)
    service.client.keys.set("AuthorizeRemoteTxRequests", "true")
    csms.script.id_tags["BAD"] = "Blocked"
    assert (await peer.request("RemoteStartTransaction", id_tag="BAD", connector_id=1)).status == "Accepted"
    await csms.wait_for("Authorize")
    await asyncio.sleep(0.1)
    assert not any(c[0] == "remote_start" for c in station.commands)


async def test_configuration_keys(csms: TestCsms, make_service, tmp_path) -> None:
    service, peer = await online(csms, make_service)
    assert (await peer.request("ChangeConfiguration", key="MeterValueSampleInterval", value="15")).status == "Accepted"
    assert (await peer.request("ChangeConfiguration", key="NumberOfConnectors", value="4")).status == "Rejected"
    assert (await peer.request("ChangeConfiguration", key="HeartbeatInterval", value="abc")).status == "Rejected"
    assert (await peer.request("ChangeConfiguration", key="NoSuchKey", value="1")).status == "NotSupported"
    assert (await peer.request("ChangeConfiguration", key="WebSocketPingInterval", value="10")).status == (
        "RebootRequired"
    )
    assert (
        await peer.request("ChangeConfiguration", key="MeterValuesSampledData", value="Voltage,Bogus")
    ).status == "Rejected"
    conf = await peer.request("GetConfiguration", key=["MeterValueSampleInterval", "NumberOfConnectors", "Nope"])
    values = {k["key"]: (k["value"], k["readonly"]) for k in conf.configuration_key}
    assert values == {"MeterValueSampleInterval": ("15", False), "NumberOfConnectors": ("1", True)}
    assert conf.unknown_key == ["Nope"]
    everything = await peer.request("GetConfiguration")
    assert len(everything.configuration_key) > 30
    # persisted: a new client on the same database sees the CSMS's value
    from evse.ocpp.config_keys import ConfigurationKeys

    again = ConfigurationKeys(service.client.db, service.settings, 1)
    assert again.get_int("MeterValueSampleInterval") == 15


async def test_change_availability_now_and_scheduled(csms: TestCsms, make_service, station: StationDouble) -> None:
    _, peer = await online(csms, make_service)
    assert (await peer.request("ChangeAvailability", connector_id=1, type="Inoperative")).status == "Accepted"
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Unavailable" and p["connectorId"] == 1)
    assert (await peer.request("ChangeAvailability", connector_id=1, type="Operative")).status == "Accepted"
    station.begin(1)
    await csms.wait_for("StartTransaction")
    assert (await peer.request("ChangeAvailability", connector_id=0, type="Inoperative")).status == "Scheduled"
    assert station.commands.count(("set_available", (1, False))) == 1  # not yet: a transaction runs
    station.end(1)
    await csms.wait_for("StopTransaction")
    await until(lambda: station.commands.count(("set_available", (1, False))) == 2)
    assert (await peer.request("ChangeAvailability", connector_id=9, type="Inoperative")).status == "Rejected"


async def test_reset_with_a_transaction(csms: TestCsms, make_service, station: StationDouble) -> None:
    _, peer = await online(csms, make_service)
    station.begin(1)
    await csms.wait_for("StartTransaction")
    assert (await peer.request("Reset", type="Soft")).status == "Accepted"
    stop = await csms.wait_for("StopTransaction")
    assert stop["reason"] == "SoftReset"
    await csms.wait_for("BootNotification", count=2)  # no reboot hook: a new connection boots again


async def test_unlock_connector(csms: TestCsms, make_service, station: StationDouble) -> None:
    _, peer = await online(csms, make_service)
    station.begin(1)
    await csms.wait_for("StartTransaction")
    assert (await peer.request("UnlockConnector", connector_id=1)).status == "Unlocked"
    stop = await csms.wait_for("StopTransaction")
    assert stop["reason"] == "UnlockCommand"
    station.unlock_ok = False
    assert (await peer.request("UnlockConnector", connector_id=1)).status == "UnlockFailed"
    assert (await peer.request("UnlockConnector", connector_id=5)).status == "NotSupported"


async def test_clear_cache_and_data_transfer(csms: TestCsms, make_service, station: StationDouble) -> None:
    service, peer = await online(csms, make_service)
    await station.authorize(1, "CACHED")
    assert service.client.auth.cache_lookup("CACHED") is not None
    assert (await peer.request("ClearCache")).status == "Accepted"
    assert service.client.auth.cache_lookup("CACHED") is None
    assert (await peer.request("DataTransfer", vendor_id="com.other")).status == "UnknownVendorId"
    assert (await peer.request("DataTransfer", vendor_id="org.evse", message_id="x")).status == "UnknownMessageId"


async def test_fault_error_codes(csms: TestCsms, make_service, station: StationDouble) -> None:
    _, _ = await online(csms, make_service)
    for code, expected in [
        ("insulation", "GroundFailure"),
        ("over_temperature", "HighTemperature"),
        ("over_current", "OverCurrentFailure"),
        ("over_voltage", "OverVoltage"),
        ("contactor_welded", "PowerSwitchFailure"),
        ("connector_lock", "ConnectorLockFailure"),
    ]:
        mark = len(csms.received)
        station.fault(1, code, f"{code} detail")
        station.status(1, "Faulted", "OtherError", f"{code} detail")
        status = await csms.wait_for("StatusNotification", lambda p: p["status"] == "Faulted", after=mark)
        assert status["errorCode"] == expected and status["vendorErrorCode"] == code
        station.status(1, "Available")
        cleared = await csms.wait_for("StatusNotification", lambda p: p["status"] == "Available", after=mark)
        assert cleared["errorCode"] == "NoError"


async def test_failed_handshake_reports_ev_communication_error_and_data_transfer(
    csms: TestCsms, make_service, station: StationDouble
) -> None:
    _, _ = await online(csms, make_service)
    station.begin(1, charge=False)
    station.end(1, Reason.TIMEOUT, Stage.PARAMETER_NEGOTIATION, "no ChargeParameterDiscoveryReq")
    status = await csms.wait_for("StatusNotification", lambda p: p["errorCode"] == "EVCommunicationError")
    assert status["vendorErrorCode"] == "parameter_negotiation:timeout"
    report = await csms.wait_for("DataTransfer", lambda p: p.get("messageId") == "HandshakeReport")
    data = json.loads(report["data"])
    assert report["vendorId"] == "org.evse"
    assert data["stage"] == "parameter_negotiation" and data["reason"] == "timeout"
    assert data["vehicle"]["evcc_id"] == "0A1B2C3D4E5F" and data["limits"]["vehicleMaxCurrentA"] == 125
    assert not csms.actions("StartTransaction")  # a failed handshake is no transaction
    identity = await csms.wait_for("DataTransfer", lambda p: p.get("messageId") == "VehicleIdentity")
    assert json.loads(identity["data"])["protocolVersion"] == "DIN70121"


async def test_stop_transaction_on_invalid_id(csms: TestCsms, make_service, station: StationDouble) -> None:
    _, peer = await online(csms, make_service)
    csms.script.id_tags["GONE"] = "Invalid"  # not checked before the start (AuthorizeRemoteTxRequests false)
    assert (await peer.request("RemoteStartTransaction", id_tag="GONE", connector_id=1)).status == "Accepted"
    await csms.wait_for("StartTransaction")
    await until(lambda: ("stop", (1, "authorization_rejected")) in station.commands)
    stop = await csms.wait_for("StopTransaction")
    assert stop["reason"] == "DeAuthorized"


async def test_energy_register_grows_across_sessions(csms: TestCsms, make_service, station: StationDouble) -> None:
    _, _ = await online(csms, make_service)
    for _ in range(2):
        station.begin(1)
        station.sample(1, 700.0)
        station.end(1)
    second_stop = await csms.wait_for("StopTransaction", count=2)
    starts = [p["meterStart"] for _, p in csms.actions("StartTransaction")]
    stops = [p["meterStop"] for _, p in csms.actions("StopTransaction")]
    assert starts == [0, 700] and stops == [700, 1400] and second_stop["meterStop"] == 1400


async def test_reader_failure_is_reported_for_the_charge_point(csms: TestCsms, make_service, station) -> None:
    """A fault of the charge point as a whole (connector 0, e.g. the RFID reader) goes out as StatusNotification
    connectorId 0 with its error code, once, and NoError when it clears; the connectors' statuses are untouched."""
    _, _ = await online(csms, make_service)
    await csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 0)
    mark = len(csms.received)
    station.status(0, "Available", "ReaderFailure", "rfid_reader_silent")
    station.status(0, "Available", "ReaderFailure", "rfid_reader_silent")  # the same fault again: not re-sent
    failure = await csms.wait_for("StatusNotification", lambda p: p["errorCode"] == "ReaderFailure", after=mark)
    assert failure["connectorId"] == 0 and failure["status"] == "Available"
    assert failure["vendorErrorCode"] == "rfid_reader_silent"
    station.status(0, "Available")
    cleared = await csms.wait_for(
        "StatusNotification", lambda p: p["connectorId"] == 0 and p["errorCode"] == "NoError", after=mark
    )
    assert cleared["status"] == "Available"
    sent = [p for _, action, p, _ in csms.received[mark:] if action == "StatusNotification"]
    assert [p["errorCode"] for p in sent if p["connectorId"] == 0] == ["ReaderFailure", "NoError"]
    assert all(p["connectorId"] == 0 for p in sent)


async def test_a_plug_pulled_under_load_stops_the_transaction_as_ev_disconnected(
    csms: TestCsms, make_service, station: StationDouble
) -> None:
    """The supervisor trips first (safety_trip, plug_line_lost) — for the CSMS the car was disconnected; any other
    safety trip stays Other."""
    await online(csms, make_service)
    for detail, expected in [
        (
            "plug_line_lost: plug left the inlet during energy transfer: cc1 at 12.0 V (inserted: 4 ± 0.8 V)",
            "EVDisconnected",
        ),
        ("over_current: 260 A > 250 A", "Other"),
    ]:
        mark = len(csms.received)
        await station.authorize(1, "TAG1")
        station.begin(1)
        await csms.wait_for("StartTransaction", after=mark)
        station.end(1, Reason.SAFETY_TRIP, detail=detail)
        stop = await csms.wait_for("StopTransaction", after=mark)
        assert stop["reason"] == expected, (detail, stop)
