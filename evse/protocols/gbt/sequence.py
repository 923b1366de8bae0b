"""The vocabulary of the GB/T charger sequence: the core's phases, the cyclic periods and the line names."""

from __future__ import annotations

from enum import StrEnum

# Cyclic periods (GB/T 27930-2015 message table)
CHM_PERIOD_S = 0.25
CRM_PERIOD_S = 0.25
CTS_PERIOD_S = 0.5
CML_PERIOD_S = 0.25
CRO_PERIOD_S = 0.25
CCS_PERIOD_S = 0.05
CST_PERIOD_S = 0.01
CSD_PERIOD_S = 0.25
CEM_PERIOD_S = 0.25

#: output and inlet below this are safe to touch: aux supply off and unlock only then (gbt27930.md steps 9–10)
SAFE_VOLTAGE_V = 60.0
#: how often the inlet voltage is looked at while waiting for it to become safe
SAFE_CHECK_PERIOD_S = 0.1

#: GB/T 18487.1 detection point 1 and the auxiliary supply lines (evse.hardware.roles.VehicleLines)
LINE_CC1 = "cc1"
LINE_AUX_12V = "aux_12v"
LINE_AUX_24V = "aux_24v"


class Phase(StrEnum):
    IDLE = "idle"
    WAIT_CC1 = "wait_cc1"
    LOCKING = "locking"
    WAIT_BHM = "wait_bhm"
    INSULATION = "insulation"
    NEGOTIATING = "negotiating"  # recognition and configuration (`evse.protocols.gbt.negotiation`)
    WAIT_PACK_VOLTAGE = "wait_pack_voltage"
    PRECHARGING = "precharging"
    CLOSING = "closing"
    WAIT_DEMAND = "wait_demand"
    CHARGING = "charging"
    HOLD = "hold"  # a stage is done; waiting for the session to begin the next
    ENDED = "ended"  # an End was emitted; waiting for STOPPING
    STOPPING = "stopping"
    STOPPED = "stopped"
    DISCHARGING = "discharging"
    WAIT_SAFE = "wait_safe"
    UNLOCKING = "unlocking"
    DONE = "done"
