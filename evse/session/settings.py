"""Stage timeouts of the charging session: configuration values (declared per `evse.config.meta`).

A stage timeout bounds a whole stage (all of its protocol steps); the protocols' own message timeouts are
shorter and live in their settings. A stage that runs out of time ends the session FAILED with the stage's name
and `Reason.TIMEOUT`.
"""

from __future__ import annotations

from typing import Annotated

from evse.config.meta import Settings, setting
from evse.session.stages import Stage


class SessionSettings(Settings, frozen=True):
    """Stage timeouts of the charging session."""

    connection_detection_timeout_s: Annotated[
        float, setting("Plug-in to a confirmed connection (PP/CP, CC1, connection check)", "s", gt=0)
    ] = 10.0
    bms_wake_up_timeout_s: Annotated[
        float, setting("Wake-up of the vehicle's BMS (CCS: SLAC, SDP, SessionSetup; CAN: first frames)", "s", gt=0)
    ] = 60.0
    authorization_timeout_s: Annotated[
        float, setting("Waiting for an identification (RFID, app, remote start) after plug-in", "s", gt=0)
    ] = 300.0
    parameter_negotiation_timeout_s: Annotated[
        float,
        setting(
            "Exchange of the vehicle's and the charger's limits (GB/T allows BRO 0xAA up to 60 s after BCP)", "s", gt=0
        ),
    ] = 90.0
    insulation_test_timeout_s: Annotated[
        float, setting("Whole insulation test incl. IMD self-test and bleeding", "s", gt=0)
    ] = 60.0
    pre_charge_timeout_s: Annotated[
        float, setting("Pre-charge to the vehicle's battery voltage (GB/T practice: ~60 s)", "s", gt=0)
    ] = 60.0
    contactor_closure_timeout_s: Annotated[
        float, setting("Closing the charger's and the vehicle's contactors", "s", gt=0)
    ] = 30.0
    energy_transfer_timeout_s: Annotated[
        float, setting("Longest energy transfer (a session that never ends is a fault)", "s", gt=0)
    ] = 86_400.0
    paused_timeout_s: Annotated[
        float, setting("Longest pause (vehicle or station) before the session is stopped", "s", gt=0)
    ] = 3_600.0
    stopping_timeout_s: Annotated[
        float, setting("Current ramp-down, welding detection and protocol stop (≥ the 20 s hard-stop rule)", "s", gt=0)
    ] = 40.0
    unlock_timeout_s: Annotated[float, setting("Discharge below 60 V and unlock", "s", gt=0)] = 20.0
    meter_sample_period_s: Annotated[float, setting("Period of meter samples during energy transfer", "s", gt=0)] = 1.0

    def stage_timeout_s(self, stage: Stage) -> float:
        """The timeout of `stage` (stages without a step of their own have none: infinity)."""
        name = f"{stage.value}_timeout_s"
        value = getattr(self, name, None)
        return float("inf") if value is None else float(value)
