"""Safety envelope and supervisor thresholds: configuration values (declared per `evse.config.meta`).

Sources: `insulation-and-limits.md` (IEC 61851-23, IEC 61557-8 and the reaction rules of open stacks). Each
default below is the value those sources give; change them only with the hardware's documentation at hand.
"""

from __future__ import annotations

from typing import Annotated

from evse.config.meta import Settings, setting


class SafetySettings(Settings, frozen=True):
    """Safety envelope and supervisor thresholds."""

    # ---- set-points
    ramp_a_per_s: Annotated[float, setting("Rate at which a current set-point may rise", "A/s", gt=0)] = 25.0
    stop_ramp_a_per_s: Annotated[
        float, setting("Rate at which the current is ramped down in a normal stop", "A/s", gt=0)
    ] = 100.0
    reapply_period_s: Annotated[
        float, setting("Longest time between two writes of the limits to the power module", "s", gt=0, le=5)
    ] = 1.0
    control_period_s: Annotated[
        float, setting("Period of the set-point ramp and of the supervisor's timers", "s", gt=0, le=0.5)
    ] = 0.1
    voltage_tolerance_v: Annotated[
        float, setting("Measurement tolerance on output voltage (envelope checks, over-voltage)", "V", ge=0)
    ] = 5.0
    current_tolerance_a: Annotated[
        float, setting("Measurement tolerance on output current (envelope checks)", "A", ge=0)
    ] = 2.0

    # ---- contactors, lock, discharge
    stop_current_a: Annotated[
        float, setting("A normal stop opens the contactors only at or below this current", "A", gt=0, le=5)
    ] = 5.0
    stop_current_timeout_s: Annotated[
        float, setting("Wait for the current to fall below the stop current after the ramp", "s", gt=0)
    ] = 5.0
    no_precharge_max_voltage_v: Annotated[
        float, setting("Plans without pre-charge (CHAdeMO) close the contactors only below this output", "V", gt=0)
    ] = 20.0
    contactor_feedback_timeout_s: Annotated[
        float, setting("Mirror contacts must follow a close/open command within this time (else welded/stuck)", "s")
    ] = 0.5
    unlock_max_voltage_v: Annotated[
        float, setting("The connector unlocks only when the output is below this voltage", "V", gt=0, le=60)
    ] = 60.0
    discharge_timeout_s: Annotated[
        float, setting("Time allowed to bleed the output below the unlock voltage", "s", gt=0)
    ] = 5.0
    lock_timeout_s: Annotated[float, setting("Lock feedback must follow a lock/unlock command within", "s", gt=0)] = 2.0
    precharge_timeout_s: Annotated[float, setting("Longest pre-charge to the vehicle's voltage", "s", gt=0)] = 10.0
    poll_period_s: Annotated[
        float, setting("Period at which the stage API polls feedback it waits for (lock, voltage)", "s", gt=0)
    ] = 0.05

    # ---- insulation test (IEC 61851-23, IEC 61557-8)
    insulation_pre_test_max_voltage_v: Annotated[
        float, setting("The insulation test starts only with the output (both sides) below this", "V", gt=0)
    ] = 10.0
    insulation_test_max_current_a: Annotated[
        float, setting("Current limit while the test voltage is applied", "A", gt=0, le=2)
    ] = 2.0
    insulation_short_circuit_current_a: Annotated[
        float, setting("A current above this during the test is a short circuit", "A", gt=0)
    ] = 5.0
    insulation_fault_ohm_per_v: Annotated[
        float, setting("Below this (per test volt) is a fault (IEC 61851-23:2014, GB/T)", "Ω/V", gt=0)
    ] = 100.0
    insulation_warning_ohm_per_v: Annotated[
        float, setting("Below this (per test volt) is a warning: charging may go on", "Ω/V", gt=0)
    ] = 500.0
    insulation_fault_min_ohm: Annotated[
        float, setting("Below this absolute resistance is a fault (IEC 61851-23:2023)", "Ω", gt=0)
    ] = 100_000.0
    insulation_voltage_ramp_timeout_s: Annotated[
        float, setting("Time allowed to reach the test voltage", "s", gt=0)
    ] = 10.0
    insulation_sample_timeout_s: Annotated[
        float, setting("Each IMD sample must arrive within this time (a gap is a device fault, not a test fault)", "s")
    ] = 5.0
    insulation_min_samples: Annotated[
        int, setting("Samples needed (and agreeing) before the test result is taken", ge=1)
    ] = 3
    insulation_max_samples: Annotated[
        int, setting("After this many samples the latest is taken even if still drifting", ge=1)
    ] = 15
    insulation_settle_pct: Annotated[
        float, setting("The last samples agree when they lie within this percentage of each other", "%", gt=0)
    ] = 10.0
    insulation_self_test: Annotated[
        bool, setting("Run the IMD self-test before each insulation test (IEC 61851-23:2023; takes up to 30 s)")
    ] = False
    insulation_self_test_timeout_s: Annotated[float, setting("Longest IMD self-test", "s", gt=0)] = 30.0
    insulation_bleed_timeout_s: Annotated[
        float, setting("After the test the output must fall below the unlock voltage within (GB/T: 5 s)", "s", gt=0)
    ] = 5.0
    insulation_ramp_grace_s: Annotated[
        float, setting("Low insulation readings are ignored this long after contactor closure (ramp transients)", "s")
    ] = 5.0
    earth_voltage_limit_v: Annotated[
        float, setting("Voltage to earth above this (charger rated ≤ 500 V) is a fault; above 500 V: 110 % of U", "V")
    ] = 550.0
    earth_voltage_confirm_s: Annotated[
        float, setting("An earth over-voltage is confirmed by two readings at least this far apart", "s", ge=0)
    ] = 2.0

    # ---- supervisor reaction rules
    software_overvoltage_delay_s: Annotated[
        float, setting("Trip after the output stays above the negotiated maximum voltage this long", "s", ge=0)
    ] = 0.4
    soft_overcurrent_factor: Annotated[
        float, setting("Soft over-current: measured current above this factor × the allowed current", gt=1)
    ] = 1.1
    soft_overcurrent_delay_s: Annotated[float, setting("… for this long trips", "s", ge=0)] = 7.0
    hard_overcurrent_factor: Annotated[
        float, setting("Any reading above this factor × the connector's rated current trips at once", gt=1)
    ] = 1.25
    plausibility_voltage_v: Annotated[
        float, setting("Two voltage measurements differing by more than this …", "V", gt=0)
    ] = 50.0
    plausibility_delay_s: Annotated[float, setting("… for this long are a fault", "s", ge=0)] = 30.0
    vehicle_stop_timeout_s: Annotated[
        float, setting("Hard stop if the current has not fallen this long after a stop request", "s", gt=0)
    ] = 20.0
    vehicle_message_timeout_s: Annotated[
        float, setting("During energy transfer, trip when no vehicle message came for this long", "s", gt=0)
    ] = 2.0
    cable_trip_temperature_c: Annotated[
        float, setting("Any cable/connector temperature above this trips at once", "°C")
    ] = 95.0
