"""Every frame of the scenarios, validated by the independent strict validator (npm ocpp-rpc, strict mode) acting
as the CSMS: the client's CALLs and its answers to the CSMS's CALLs must show zero schema violations."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from evse.session.stages import Reason, Stage
from tests.ocpp.conftest import until
from tests.ocpp.http_peer import HttpPeer
from tests.ocpp.station_double import StationDouble
from tests.ocpp.validator_peer import ValidatorPeer

ALL_MEASURANDS = (
    "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC,Temperature,Current.Offered,"
    "Power.Offered"
)
FUTURE = "2099-01-01T00:00:00Z"


@pytest.fixture
async def validator() -> AsyncIterator[ValidatorPeer]:
    peer = ValidatorPeer()
    await peer.start()
    yield peer
    await peer.stop()


@pytest.fixture
async def http() -> AsyncIterator[HttpPeer]:
    peer = HttpPeer()
    await peer.start()
    yield peer
    await peer.stop()


async def connect(validator: ValidatorPeer, make_service, **overrides):
    service = await make_service(validator.port, **overrides)
    await validator.wait_call("StatusNotification", lambda p: p["connectorId"] == 1)
    return service


async def test_session_messages_are_schema_valid(
    validator: ValidatorPeer, make_service, station: StationDouble
) -> None:
    service = await connect(validator, make_service, meter_sample_interval_s=1, clock_aligned_interval_s=1)
    keys = service.client.keys
    for key in ("MeterValuesSampledData", "MeterValuesAlignedData", "StopTxnSampledData", "StopTxnAlignedData"):
        assert keys.change(key, ALL_MEASURANDS) == "Accepted"
    assert (await station.authorize(1, "TAG-1")).status == "Accepted"
    station.begin(1)
    await validator.wait_call("StartTransaction")
    for _ in range(4):
        station.sample(1, 250.0)
        await asyncio.sleep(0.3)
    await validator.wait_call("MeterValues", lambda p: "transactionId" in p)
    station.fault(1, "over_temperature", "cable 92 °C at 180 A in energy_transfer, limit 90 °C")
    station.end(1, Reason.SAFETY_TRIP, Stage.ENERGY_TRANSFER, "over temperature")
    stop = await validator.wait_call("StopTransaction")
    measurands = {v["measurand"] for mv in stop["transactionData"] for v in mv["sampledValue"]}
    assert measurands == set(ALL_MEASURANDS.split(","))
    station.begin(1, charge=False)
    station.end(1, Reason.TIMEOUT, Stage.BMS_WAKE_UP, "no BHM within 5 s")
    report = await validator.wait_call("DataTransfer", lambda p: p.get("messageId") == "HandshakeReport")
    assert json.loads(report["data"])["stage"] == "bms_wake_up"
    await validator.wait_call("StatusNotification", lambda p: p["errorCode"] == "EVCommunicationError")
    await validator.wait_call("StatusNotification", lambda p: p["errorCode"] == "HighTemperature")
    await validator.wait_call("MeterValues", lambda p: "transactionId" not in p, timeout_s=3)  # clock-aligned, idle
    assert validator.violations == []


async def test_answers_to_every_csms_call_are_schema_valid(
    validator: ValidatorPeer, make_service, station: StationDouble, http: HttpPeer
) -> None:
    service = await connect(validator, make_service)
    call = validator.call
    assert (await call("GetConfiguration", {}))["configurationKey"]
    assert (await call("GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]}))["unknownKey"] == ["Nope"]
    assert (await call("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"}))["status"] == "Accepted"
    assert (await call("ChangeConfiguration", {"key": "Nope", "value": "1"}))["status"] == "NotSupported"
    assert (await call("ClearCache", {}))["status"] == "Accepted"
    assert (await call("DataTransfer", {"vendorId": "x"}))["status"] == "UnknownVendorId"
    assert (await call("GetLocalListVersion", {}))["listVersion"] == 0
    local_list = [
        {"idTag": "LL1", "idTagInfo": {"status": "Accepted", "expiryDate": FUTURE}},
        {"idTag": "LL2", "idTagInfo": {"status": "Blocked"}},
    ]
    assert (
        await call("SendLocalList", {"listVersion": 3, "updateType": "Full", "localAuthorizationList": local_list})
    )["status"] == "Accepted"
    assert (await call("SendLocalList", {"listVersion": 2, "updateType": "Differential"}))[
        "status"
    ] == "VersionMismatch"
    assert (await call("GetLocalListVersion", {}))["listVersion"] == 3
    assert (await call("ReserveNow", {"connectorId": 1, "expiryDate": FUTURE, "idTag": "R1", "reservationId": 7}))[
        "status"
    ] == "Accepted"
    await validator.wait_call("StatusNotification", lambda p: p["status"] == "Reserved")
    assert (await call("CancelReservation", {"reservationId": 7}))["status"] == "Accepted"
    assert (await call("CancelReservation", {"reservationId": 7}))["status"] == "Rejected"
    cp_max = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "ChargePointMaxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "W",
            "startSchedule": "2020-01-01T00:00:00Z",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 40000.0}],
        },
    }
    assert (await call("SetChargingProfile", {"connectorId": 0, "csChargingProfiles": cp_max}))["status"] == "Accepted"
    tx_default = {
        "chargingProfileId": 2,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 80.5}, {"startPeriod": 600, "limit": 50.0}],
        },
    }
    assert (await call("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": tx_default}))[
        "status"
    ] == "Accepted"
    composite = await call("GetCompositeSchedule", {"connectorId": 1, "duration": 3600, "chargingRateUnit": "A"})
    assert composite["status"] == "Accepted" and composite["chargingSchedule"]["chargingSchedulePeriod"]
    assert (await call("GetCompositeSchedule", {"connectorId": 1, "duration": 3600, "chargingRateUnit": "W"}))[
        "status"
    ] == "Accepted"
    assert (await call("ClearChargingProfile", {"id": 2}))["status"] == "Accepted"
    assert (await call("ClearChargingProfile", {"chargingProfilePurpose": "TxProfile"}))["status"] == "Unknown"
    for message in (
        "BootNotification",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StatusNotification",
    ):
        assert (await call("TriggerMessage", {"requestedMessage": message, "connectorId": 1}))["status"] == "Accepted"
    await validator.wait_call("FirmwareStatusNotification")
    await validator.wait_call("DiagnosticsStatusNotification")
    for message in ("LogStatusNotification", "Heartbeat", "StatusNotification"):
        assert (await call("ExtendedTriggerMessage", {"requestedMessage": message}))["status"] == "Accepted"
    assert (await call("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}))[
        "status"
    ] == "NotImplemented"
    await validator.wait_call("LogStatusNotification")
    diag = await call("GetDiagnostics", {"location": http.url("/upload"), "retries": 1, "retryInterval": 0})
    await validator.wait_call("DiagnosticsStatusNotification", lambda p: p["status"] == "Uploaded")
    assert diag["fileName"] in http.uploads
    log = await call(
        "GetLog", {"logType": "DiagnosticsLog", "requestId": 4, "log": {"remoteLocation": http.url("/upload")}}
    )
    assert log["status"] == "Accepted"
    await validator.wait_call("LogStatusNotification", lambda p: p["status"] == "Uploaded")
    http.files["fw.bin"] = b"new firmware"
    await call("UpdateFirmware", {"location": http.url("/fw/fw.bin"), "retrieveDate": "2020-01-01T00:00:00Z"})
    await validator.wait_call("FirmwareStatusNotification", lambda p: p["status"] == "InstallationFailed")  # no hook
    signed = {
        "location": http.url("/fw/fw.bin"),
        "retrieveDateTime": "2020-01-01T00:00:00Z",
        "signingCertificate": "garbage",
        "signature": "AAAA",
    }
    assert (await call("SignedUpdateFirmware", {"requestId": 9, "firmware": signed}))["status"] == "InvalidCertificate"
    await validator.wait_call("SecurityEventNotification")
    assert (await call("RemoteStartTransaction", {"idTag": "REMOTE", "connectorId": 1}))["status"] == "Accepted"
    start = await validator.wait_call("StartTransaction")
    await until(lambda: service.client.queue.csms_id(service.client.connectors[1].tx_local or 0) is not None)
    tx_profile = {
        "chargingProfileId": 3,
        "stackLevel": 2,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32.0}]},
    }
    assert (await call("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": tx_profile}))[
        "status"
    ] == "Accepted"
    assert (await call("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}))["status"] == "Scheduled"
    assert (await call("UnlockConnector", {"connectorId": 1}))["status"] == "Unlocked"
    await validator.wait_call("StopTransaction", lambda p: p["reason"] == "UnlockCommand")
    assert (await call("RemoteStopTransaction", {"transactionId": 1}))["status"] == "Rejected"
    assert start["idTag"] == "REMOTE"
    assert (await call("Reset", {"type": "Hard"}))["status"] == "Accepted"
    await validator.wait_event(lambda e: e["event"] == "closed")
    assert validator.violations == []


async def test_the_validator_does_report_a_violation(validator: ValidatorPeer) -> None:
    """The check above can fail: a schema-invalid frame is reported."""
    from websockets.asyncio.client import connect

    async with connect(f"ws://127.0.0.1:{validator.port}/CPX", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        await ws.send('[2,"1","StatusNotification",{"connectorId":1,"errorCode":"Bogus","status":"Available"}]')
        answer = json.loads(await ws.recv())
    assert answer[0] == 4
    await validator.wait_event(lambda e: e["event"] == "violation")
    assert validator.violations[0]["method"] == "StatusNotification"


async def test_replayed_offline_messages_are_schema_valid(
    make_service, station: StationDouble, unused_tcp_port: int
) -> None:
    """Offline start and stop, a failed handshake and security events, queued while the CSMS is unreachable and
    replayed to the validator when it comes up."""
    service = await make_service(unused_tcp_port, meter_sample_interval_s=1)
    service.client.keys.set("AllowOfflineTxForUnknownId", "true")
    assert (await station.authorize(1, "OFFLINE")).status == "Accepted"
    station.begin(1)
    for _ in range(3):
        station.sample(1, 100.0)
        await asyncio.sleep(0.4)
    station.end(1, Reason.UNPLUGGED)
    station.begin(1, charge=False)
    station.end(1, Reason.COMMUNICATION_LOST, Stage.PARAMETER_NEGOTIATION)
    await until(lambda: len(service.client.queue) >= 5)
    validator = ValidatorPeer()
    await validator.start(unused_tcp_port)
    try:
        try:
            stop = await validator.wait_call("StopTransaction", timeout_s=10)
        except TimeoutError:
            raise AssertionError(validator.events) from None
        await validator.wait_call("DataTransfer", lambda p: p.get("messageId") == "HandshakeReport")
        await until(lambda: len(service.client.queue) == 0)
        assert stop["reason"] == "EVDisconnected" and stop["transactionId"] == 5001
        assert validator.calls("MeterValues") and validator.calls("SecurityEventNotification")
        assert validator.violations == []
    finally:
        await validator.stop()
