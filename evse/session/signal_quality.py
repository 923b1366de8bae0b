"""Signal quality of the connection lines, read once when connection detection completes.

A pilot or detection voltage that drifts towards the edge of its decision window across sessions is the classic
sign of worn connector pins, corroded contacts or a damaged cable — the "won't start" cause the seed article names.
One reading per session is enough for `evse diagnose` to see the trend (rule `pilot_drift`).
"""

from __future__ import annotations

from evse.session.hardware import ConnectorRoles

#: CP high level in state B, vehicle connected (IEC 61851-1; iec61851-ccs.md, CP states)
CP_STATE_B_NOMINAL_V = 9.0
#: GB/T detection point 1 with the plug inserted and latched (gbt27930.md, charger sequence step 1)
GBT_CC1_INSERTED_NOMINAL_V = 4.0


def connection_line_readings(roles: ConnectorRoles, standard: str) -> list[tuple[str, float, float]]:
    """(line, measured voltage, nominal voltage) for each connection line this standard has."""
    readings: list[tuple[str, float, float]] = []
    if roles.pilot is not None and standard == "ccs":
        readings.append(("cp", roles.pilot.high_voltage_v(), CP_STATE_B_NOMINAL_V))
    if roles.lines is not None and standard == "gbt":
        readings.append(("cc1", roles.lines.input_voltage_v("cc1"), GBT_CC1_INSERTED_NOMINAL_V))
    return readings
