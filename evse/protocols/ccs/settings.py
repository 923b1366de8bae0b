"""CCS (DIN SPEC 70121 / ISO 15118-2) options: configuration values (declared per `evse.config.meta`)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from evse.config.meta import Settings, setting


class CcsSettings(Settings, frozen=True):
    """CCS (DIN SPEC 70121 / ISO 15118-2) options."""

    protocols: Annotated[
        list[str],
        setting("V2G protocols the SECC offers, in priority order (DIN_SPEC_70121, ISO_15118_2)", min_length=1),
    ] = msgspec.field(default_factory=lambda: ["ISO_15118_2", "DIN_SPEC_70121"])
    evse_id_din: Annotated[
        str, setting("EVSE ID sent in DIN SPEC 70121 SessionSetupRes (hexBinary, DIN SPEC 91286 coding)")
    ] = "49A89A6360"
    evse_id: Annotated[str, setting("EVSE ID sent in ISO 15118-2 (e.g. DE*ABC*E123)")] = "DE*EVS*E0001"
    free_charging_service: Annotated[bool, setting("Announce the charge service as free of charge")] = False
    log_v2g_messages: Annotated[bool, setting("Let the iso15118 package log every V2G message as JSON")] = False
    communication_setup_timeout_s: Annotated[
        float,
        setting("Plug-in (5 % PWM) to SessionSetupReq before the legacy wake-up (ISO 15118-3: 18–20 s)", "s", gt=0),
    ] = 20.0
    legacy_wake_up_attempts: Annotated[
        int, setting("Legacy wake-ups (E/F step) tried before the wake-up stage fails", ge=0)
    ] = 1
    legacy_wake_up_f_s: Annotated[
        float, setting("Duration of the state F pulse of the legacy wake-up (IEC 61851-1 A.5: ≥ 3 s)", "s", gt=0)
    ] = 4.0
    sequence_timeout_s: Annotated[
        float,
        setting(
            "Longest wait for the vehicle's next V2G step before a stage times out (V2G_SECC_Sequence 60 s)", "s", gt=0
        ),
    ] = 60.0
    current_demand_silence_s: Annotated[
        float,
        setting(
            "No CurrentDemandReq for this long while charging = communication lost (EVCC cycle ≤ 250 ms)", "s", gt=0
        ),
    ] = 2.0
    precharge_tolerance_v: Annotated[
        float, setting("Pre-charge is matched when the output is within this of the EV's target", "V", gt=0)
    ] = 10.0
    precharge_max_current_a: Annotated[
        float, setting("Current limit while pre-charging (DIN 70121 / IEC 61851-23 CC.5.2: ≤ 2 A)", "A", gt=0, le=2)
    ] = 2.0
    unknown_vehicle_max_voltage_v: Annotated[
        float, setting("Insulation test voltage when the vehicle's maximum is unknown (IEC 61851-23:2023)", "V", gt=0)
    ] = 500.0
    welding_detection_wait_s: Annotated[
        float, setting("How long the stopping stage waits for WeldingDetection/SessionStop from the EV", "s", gt=0)
    ] = 10.0
    cable_discharge_wait_s: Annotated[
        float,
        setting("Before unlocking, wait at most this long for the cable (vehicle side) to fall below 60 V", "s", gt=0),
    ] = 5.0
    stack_loading: Annotated[
        Literal["start", "first_vehicle"],
        setting(
            "When the V2G stack (iso15118 SECC, ~30 MB, and the EXI codec's JVM, ~100 MB) is loaded: `start` — in the "
            "background right after the daemon started (the first car waits for nothing); `first_vehicle` — when "
            "the first CCS car is plugged in (the memory is not used before; that car's wake-up takes ~1 s longer)"
        ),
    ] = "start"
    pilot_c_to_b_power_off_s: Annotated[
        float, setting("C/D → B while charging: power off within (IEC 61851-23: 100 ms)", "s", gt=0)
    ] = 0.1
