"""CHAdeMO timers and options: configuration values (declared per `evse.config.meta`).

Every value here that chademo.md marks **(unconfirmed)** — found in open implementations, not in the standard —
is a setting, so a deployment can follow its vehicles and its certification lab rather than our reading.
"""

from __future__ import annotations

from typing import Annotated

from evse.config.meta import Settings, setting


class ChademoSettings(Settings, frozen=True):
    """CHAdeMO timers and options."""

    # ---- link
    cycle_period_s: Annotated[
        float, setting("Period of the charger's 0x108/0x109 frames (chademo.md: 100 ms ± 10 ms)", "s", gt=0, le=1)
    ] = 0.1
    comms_timeout_s: Annotated[
        float, setting("No vehicle frame for this long ends the session as communication lost (unconfirmed)", "s", gt=0)
    ] = 1.0
    vehicle_frames_timeout_s: Annotated[
        float, setting("d1 on to all of 0x100/0x101/0x102 received (unconfirmed)", "s", gt=0)
    ] = 5.0
    max_protocol_number: Annotated[
        int, setting("Highest control protocol number the charger speaks (1 = 0.9, 2 = 1.0.x, 3 = 2.x)", "", ge=1, le=3)
    ] = 3
    min_protocol_number: Annotated[
        int,
        setting("Lowest vehicle protocol number accepted (0 = pre-0.9 is not supported by default)", "", ge=0, le=3),
    ] = 1
    dynamic_control: Annotated[
        bool, setting("Offer protocol 2.x dynamic control in 0x118 (the request may change at any time)", "")
    ] = True
    capacity_kwh_per_unit: Annotated[
        float, setting("Scale of the 0x101 rated battery capacity (0.1 common reading; 0.11 fits Leaf packs)", "kWh")
    ] = 0.1
    undeclared_max_charge_time_s: Annotated[
        float, setting("Charging time limit used when the vehicle declares 0 in 0x101", "s", gt=0)
    ] = 5400.0

    # ---- sequence (chademo.md, "Charge sequence")
    k_timeout_s: Annotated[
        float, setting("d1 on to k and 0x102 charging-enabled (unconfirmed; typical 3 s)", "s", gt=0)
    ] = 8.0
    contactors_open_voltage_v: Annotated[
        float, setting("Output voltage below which the vehicle contactors count as open (step 6)", "V", gt=0)
    ] = 10.0
    contactors_open_timeout_s: Annotated[
        float, setting("Wait for the output to fall below contactors_open_voltage_v before the test", "s", gt=0)
    ] = 5.0
    post_test_voltage_v: Annotated[
        float, setting("Output voltage that proves the insulation test is over (step 8)", "V", gt=0)
    ] = 20.0
    post_test_timeout_s: Annotated[
        float, setting("Wait for the output to fall below post_test_voltage_v after the test", "s", gt=0)
    ] = 5.0
    k_to_d2_timeout_s: Annotated[float, setting("k to d2 on (step 9, unconfirmed)", "s", gt=0)] = 20.0
    vehicle_contactor_close_timeout_s: Annotated[
        float, setting("d2 on to the vehicle's contactor closed (step 10, unconfirmed)", "s", gt=0)
    ] = 4.0
    contactor_closed_inlet_voltage_v: Annotated[
        float, setting("Protocol 0.9: inlet voltage above which the vehicle contactor counts as closed", "V", gt=0)
    ] = 50.0
    current_request_timeout_s: Annotated[
        float, setting("Vehicle contactor closed to a current request > 0 (step 11, unconfirmed)", "s", gt=0)
    ] = 4.0
    over_voltage_margin_v: Annotated[
        float, setting("Stop when the output reaches the vehicle's max battery voltage plus this", "V", ge=0)
    ] = 0.0

    # ---- stop (steps 13–16)
    welding_detection_wait_s: Annotated[
        float, setting("Expected time for the vehicle's welding detection / contactor open (unconfirmed)", "s", gt=0)
    ] = 4.0
    welding_detection_give_up_s: Annotated[
        float, setting("Stop waiting for the vehicle's contactor open after this (unconfirmed)", "s", gt=0)
    ] = 10.0
    v09_contactor_open_settle_s: Annotated[
        float, setting("Protocol 0.9 (no contactor status): wait after the ramp-down before opening", "s", ge=0)
    ] = 1.0
    d2_to_d1_delay_s: Annotated[float, setting("d2 off to d1 off (step 15: at least 500 ms)", "s", ge=0.5)] = 0.5
    safe_voltage_v: Annotated[
        float, setting("Output and inlet voltage below which the connector may unlock (step 16)", "V", gt=0)
    ] = 10.0
    safe_voltage_timeout_s: Annotated[
        float, setting("Wait for the output to fall below safe_voltage_v after discharge", "s", gt=0)
    ] = 5.0
