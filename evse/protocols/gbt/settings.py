"""GB/T 27930 timers and options: configuration values (declared per `evse.config.meta`).

Values that only one public source gives, or where sources differ, are marked (unconfirmed) in their description:
they are configuration precisely so an operator can adjust them to the vehicles met in the field.
"""

from __future__ import annotations

from typing import Annotated

from evse.config.meta import Settings, setting


class GbtSettings(Settings, frozen=True):
    """GB/T 27930 timers and options."""

    # ---- J1939-21 transport protocol (generic J1939 values; GB/T-specific ones unconfirmed)
    tp_tr_s: Annotated[
        float, setting("J1939 Tr: the peer's response-time bound; the charger answers in the same loop pass", "s", gt=0)
    ] = 0.2
    tp_th_s: Annotated[
        float,
        setting(
            "J1939 Th: hold time between CTS(0); the charger never holds a transfer, kept for reference", "s", gt=0
        ),
    ] = 0.5
    tp_t1_s: Annotated[float, setting("J1939 T1: receiver's longest gap between two data packets", "s", gt=0)] = 0.75
    tp_t2_s: Annotated[float, setting("J1939 T2: receiver's wait for data after sending a CTS", "s", gt=0)] = 1.25
    tp_t3_s: Annotated[float, setting("J1939 T3: sender's wait for a CTS or end-of-message ack", "s", gt=0)] = 1.25
    tp_t4_s: Annotated[float, setting("J1939 T4: sender's wait for the next CTS after a CTS(0) hold", "s", gt=0)] = 1.05
    tp_max_packets_per_cts: Annotated[
        int,
        setting("Most data packets the charger grants in one CTS (the BMS's RTS limit applies too)", "", ge=1, le=255),
    ] = 255

    # ---- connection and wake-up
    cc1_connected_v: Annotated[float, setting("CC1 detection-point-1 voltage meaning 'inserted and latched'", "V")] = (
        4.0
    )
    cc1_tolerance_v: Annotated[
        float, setting("Accepted deviation of the CC1 voltage from its nominal level", "V", gt=0)
    ] = 0.8
    cc1_debounce_s: Annotated[float, setting("CC1 must read 4 V this long before the session starts", "s", ge=0)] = 1.0
    aux_24v_retry: Annotated[
        bool, setting("Retry the wake-up with 24 V auxiliary supply when no BMS answers on 12 V (unconfirmed)")
    ] = False

    # ---- handshake and insulation
    bhm_timeout_s: Annotated[
        float, setting("Wait for BHM after the first CHM; no BHM = 2011-edition vehicle", "s", gt=0)
    ] = 5.0
    legacy_test_voltage_v: Annotated[
        float, setting("Insulation-test voltage for a 2011-edition vehicle that sends no BHM (unconfirmed)", "V", gt=0)
    ] = 500.0
    chm_version: Annotated[str, setting("Charger protocol version sent in CHM", "", pattern=r"^\d+\.\d+$")] = "1.1"

    # ---- recognition and configuration
    brm_timeout_s: Annotated[float, setting("Wait for BRM after the first CRM 0x00", "s", gt=0)] = 5.0
    bcp_timeout_s: Annotated[float, setting("Wait for BCP after CRM 0xAA", "s", gt=0)] = 5.0
    bro_timeout_s: Annotated[float, setting("Wait for the first BRO (0x00 or 0xAA) after CML", "s", gt=0)] = 5.0
    bro_ready_timeout_s: Annotated[float, setting("Wait for BRO 0xAA after CML", "s", gt=0)] = 60.0
    charger_number: Annotated[int, setting("Charger number sent in CRM and CSD", "", ge=0, le=0xFFFFFFFF)] = 1
    region_code: Annotated[
        str, setting("Charger region code sent in CRM (ASCII, up to 3 characters)", "", max_length=3)
    ] = ""
    send_cts: Annotated[bool, setting("Send CTS (time sync) during configuration")] = True

    # ---- pre-charge
    precharge_plausibility_pct: Annotated[
        float, setting("Measured pack voltage must agree with BCP's present voltage within this share", "%", gt=0)
    ] = 5.0
    precharge_match_v: Annotated[float, setting("Close K1/K2 when |pack − output| is within this", "V", gt=0)] = 10.0
    precharge_current_a: Annotated[float, setting("Current limit while pre-charging the cable", "A", gt=0)] = 2.0
    pack_voltage_wait_s: Annotated[
        float, setting("After BRO 0xAA, wait this long for the pack voltage to appear at the inlet", "s", gt=0)
    ] = 2.0
    cro_until_demand_s: Annotated[float, setting("After CRO 0xAA, wait this long for BCL and BCS", "s", gt=0)] = 5.0

    # ---- charging
    bcl_timeout_s: Annotated[float, setting("Longest gap between BCL frames while charging", "s", gt=0)] = 1.0
    bcs_timeout_s: Annotated[float, setting("Longest gap between BCS messages while charging", "s", gt=0)] = 5.0
    bsm_timeout_s: Annotated[
        float, setting("Longest gap between BSM frames while charging (unconfirmed)", "s", gt=0)
    ] = 5.0

    # ---- end of charge
    bst_timeout_s: Annotated[float, setting("Wait for BST after sending CST", "s", gt=0)] = 5.0
    bsd_timeout_s: Annotated[float, setting("Wait for BSD after the stop exchange", "s", gt=0)] = 10.0
    csd_repeat_s: Annotated[
        float, setting("How long CSD is repeated after BSD before the link goes quiet", "s", ge=0)
    ] = 1.0
    unlock_wait_s: Annotated[
        float, setting("After discharging, wait this long for the inlet to fall below 60 V before unlocking", "s", gt=0)
    ] = 10.0

    # ---- errors
    rehandshake_attempts: Annotated[
        int, setting("Restarts from recognition (CRM 0x00) after a receive timeout (unconfirmed)", "", ge=0)
    ] = 3
    cem_repeat_s: Annotated[float, setting("How long CEM is sent before a re-handshake", "s", ge=0)] = 1.0
