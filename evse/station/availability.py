"""Operator-facing connector status (OCPP 1.6 ChargePointStatus names) derived from session and hardware, and
plug detection per standard.

The status is a pure function of what the station knows, so OCPP, the API and the HMI cannot disagree:
Faulted (a persistent hardware fault) › the session's stage (Preparing / Charging / SuspendedEV / SuspendedEVSE /
Finishing) › Unavailable (inoperative, no session) › Finishing (plugged after a session) › Preparing (plugged,
no session yet; or an identification waiting for the plug) › Reserved › Available. A plugged vehicle whose
attempt was abandoned (no identification within the connection timeout) counts as not plugged.
"""

from __future__ import annotations

from evse.hardware.roles import CpState
from evse.session.hardware import ConnectorRoles
from evse.session.stages import HANDSHAKE_STAGES, Stage
from evse.station.control import ConnectorStatus

#: GB/T 18487.1 (DC, detection point 1): CC1 reads 12 V (button pressed / not inserted), 6 V (released, not
#: inserted) and 4 V once the gun is inserted and latched — only 4 V is a plug
GBT_CC1_PLUGGED_V = 4.0
GBT_CC1_TOLERANCE_V = 0.8
#: a requested/allowed current below this counts as zero (SuspendedEV / SuspendedEVSE)
ZERO_CURRENT_A = 0.5
_PLUGGED_CP = (CpState.B, CpState.C, CpState.D)


def plugged_in(standard: str, roles: ConnectorRoles) -> bool:
    """Whether a plug is in the connector, from the standard's connection line."""
    if standard == "ccs":
        return roles.pilot is not None and roles.pilot.state() in _PLUGGED_CP
    lines = roles.lines
    if lines is None:
        return False
    if standard == "chademo":
        return lines.input_active("connected")
    if standard == "gbt":
        return abs(lines.input_voltage_v("cc1") - GBT_CC1_PLUGGED_V) <= GBT_CC1_TOLERANCE_V
    return False


def derive_status(
    *,
    available: bool,
    fault: str | None,
    plugged: bool,
    stage: Stage | None,
    session_over: bool,
    station_paused: bool = False,
    vehicle_paused: bool = False,
    requested_current_a: float | None = None,
    allowed_current_a: float | None = None,
    reserved: bool = False,
    abandoned: bool = False,
    identified: bool = False,
) -> ConnectorStatus:
    """`stage` is the running session's stage (None without a session); `session_over` means a session ended
    on this connector and the vehicle has not been unplugged since. `abandoned`: plugged, but nobody identified
    within the connection timeout — Available again (OCPP 1.6 ConnectionTimeOut, transition Preparing →
    Available) until unplugged or identified. `identified`: an identification waits for the plug (Preparing)."""
    if fault is not None:
        return ConnectorStatus.FAULTED
    if stage in (Stage.FINISHED, Stage.FAULTED):
        # the session has ended but its task is still winding up: already over (no Finishing → Preparing flap)
        session_over = True
    elif stage is not None:
        if stage is Stage.IDLE or stage in HANDSHAKE_STAGES:
            return ConnectorStatus.PREPARING
        if stage is Stage.PAUSED:
            return ConnectorStatus.SUSPENDED_EVSE if station_paused else ConnectorStatus.SUSPENDED_EV
        if stage is Stage.ENERGY_TRANSFER:
            if station_paused or (allowed_current_a is not None and allowed_current_a < ZERO_CURRENT_A):
                return ConnectorStatus.SUSPENDED_EVSE
            if vehicle_paused or (requested_current_a is not None and requested_current_a < ZERO_CURRENT_A):
                return ConnectorStatus.SUSPENDED_EV
            return ConnectorStatus.CHARGING
        return ConnectorStatus.FINISHING
    if not available:
        return ConnectorStatus.UNAVAILABLE
    if plugged and not abandoned:
        return ConnectorStatus.FINISHING if session_over else ConnectorStatus.PREPARING
    if identified and not plugged:
        return ConnectorStatus.PREPARING
    if reserved:
        return ConnectorStatus.RESERVED
    return ConnectorStatus.AVAILABLE
