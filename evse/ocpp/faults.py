"""Our fault codes and session outcomes → OCPP 1.6 StatusNotification error codes (§7.6 ChargePointErrorCode),
with `info` / `vendorErrorCode` naming what and where, so an operator reads the cause in the CSMS."""

from __future__ import annotations

from dataclasses import dataclass

from evse.safety.supervisor import PLUG_LINE_LOST
from evse.session.stages import HANDSHAKE_STAGES, Outcome, Reason, Stage

#: StatusNotification.info is CiString50Type, vendorErrorCode CiString50Type (OCPP 1.6 §6.48)
INFO_MAX_LEN = 50
VENDOR_ERROR_MAX_LEN = 50

#: evse.safety fault code (or its prefix) → ChargePointErrorCode
_FAULT_ERROR_CODES: dict[str, str] = {
    "insulation": "GroundFailure",
    "ground": "GroundFailure",
    "over_temperature": "HighTemperature",
    "temperature": "HighTemperature",
    "over_current": "OverCurrentFailure",
    "over_voltage": "OverVoltage",
    "under_voltage": "UnderVoltage",
    "contactor_welded": "PowerSwitchFailure",
    "contactor": "PowerSwitchFailure",
    "connector_lock": "ConnectorLockFailure",
    "lock": "ConnectorLockFailure",
    "communication": "EVCommunicationError",
    "meter": "PowerMeterFailure",
    "reader": "ReaderFailure",
}

#: session failure reasons that are the vehicle link's fault (a failed handshake): EVCommunicationError
_EV_COMMUNICATION_REASONS = frozenset(
    {Reason.TIMEOUT, Reason.COMMUNICATION_LOST, Reason.PROTOCOL_ERROR, Reason.VEHICLE_INCOMPATIBLE}
)


@dataclass(frozen=True, slots=True)
class ErrorReport:
    error_code: str
    info: str
    vendor_error_code: str


def error_code_for_fault(code: str) -> str:
    if code in _FAULT_ERROR_CODES:
        return _FAULT_ERROR_CODES[code]
    for prefix, error_code in _FAULT_ERROR_CODES.items():
        if prefix in code:
            return error_code
    return "InternalError" if code else "OtherError"


def report_for_fault(code: str, detail: str) -> ErrorReport:
    return ErrorReport(error_code_for_fault(code), detail[:INFO_MAX_LEN], code[:VENDOR_ERROR_MAX_LEN])


def report_for_outcome(outcome: Outcome) -> ErrorReport | None:
    """The error a failed session shows in StatusNotification, or None for a normal end."""
    if not outcome.failed:
        return None
    if outcome.stage is Stage.AUTHORIZATION and outcome.reason in (Reason.TIMEOUT, Reason.AUTHORIZATION_REJECTED):
        return None  # nobody identified in time (ConnectionTimeOut) or was refused: no fault of charger or vehicle
    if outcome.reason is Reason.INSULATION_FAULT:
        code = "GroundFailure"
    elif outcome.reason in _EV_COMMUNICATION_REASONS or (
        outcome.stage in HANDSHAKE_STAGES and outcome.reason is not Reason.HARDWARE_FAULT
    ):
        code = "EVCommunicationError"
    elif outcome.reason in (Reason.HARDWARE_FAULT, Reason.SAFETY_TRIP, Reason.PRECHARGE_FAILED):
        code = "OtherError"
    else:
        code = "OtherError"
    vendor = f"{outcome.stage.value}:{outcome.reason.value}"
    return ErrorReport(code, outcome.summary()[:INFO_MAX_LEN], vendor[:VENDOR_ERROR_MAX_LEN])


#: Reason → StopTransaction.reason (OCPP 1.6 §7.40 Reason)
STOP_REASONS: dict[Reason, str] = {
    Reason.USER_STOP: "Local",
    Reason.CSMS_STOP: "Remote",
    Reason.UNPLUGGED: "EVDisconnected",
    Reason.SHUTDOWN: "Reboot",
    Reason.EMERGENCY_STOP: "EmergencyStop",
    Reason.AUTHORIZATION_REJECTED: "DeAuthorized",
}


def stop_reason(outcome: Outcome) -> str:
    """StopTransaction.reason of a session's outcome."""
    if outcome.reason is Reason.SAFETY_TRIP and outcome.detail.startswith(PLUG_LINE_LOST):
        return "EVDisconnected"  # the plug was pulled under load: the supervisor cut power, then the car was gone
    return STOP_REASONS.get(outcome.reason, "Other")
