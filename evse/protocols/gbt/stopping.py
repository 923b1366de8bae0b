"""What the charger tells the BMS in CST, from why the session ends (GB/T 27930-2015 CST table)."""

from __future__ import annotations

from evse.protocols.gbt import messages as m
from evse.session.errors import SessionEnd, VehicleStop
from evse.session.stages import Reason

_SET = m.STATUS_SET

#: station-side stop reasons → CST B1 reason (and fault) codes; the mapping of CSMS/shutdown is unconfirmed
_STOP_CODES: dict[Reason, tuple[str, ...]] = {
    Reason.COMPLETED: ("condition_reached",),
    Reason.USER_STOP: ("manual_stop",),
    Reason.CSMS_STOP: ("manual_stop",),
    Reason.SHUTDOWN: ("manual_stop",),
    Reason.UNPLUGGED: ("fault_stop", "connector_fault"),
    Reason.EMERGENCY_STOP: ("fault_stop", "emergency_stop"),
    Reason.SAFETY_TRIP: ("fault_stop", "voltage_abnormal"),
}


def cst_for(end: SessionEnd | None, stop_reason: Reason | None) -> m.Cst:
    """CST for a session that ends because of `end` (a vehicle-side or protocol reason the core saw) or
    `stop_reason` (the station side); neither known = the session failed elsewhere: a fault stop."""
    if isinstance(end, VehicleStop):
        codes: tuple[str, ...] = ("bms_stopped",)
    elif end is not None:
        codes = _STOP_CODES.get(end.reason, ("fault_stop", "other_fault"))
    elif stop_reason is not None:
        codes = _STOP_CODES.get(stop_reason, ("fault_stop", "other_fault"))
    else:
        codes = ("fault_stop", "other_fault")
    return m.Cst(**dict.fromkeys(codes, _SET))  # type: ignore[arg-type]
