"""CHAdeMO rules that need no state of their own: compatibility, the vehicle's stop flags, the insulation test
voltage and the vehicle's identity. `ChademoCore` applies them; they are plain functions so each is testable and
readable on its own."""

from __future__ import annotations

import hashlib

from evse.protocols.chademo import messages as m
from evse.session.errors import SessionEnd, StageFailure, VehicleStop
from evse.session.stages import Reason

#: insulation-and-limits.md, test voltage (IEC 61851-23:2023)
IMD_TEST_LOW_PACK_V = 500.0
IMD_TEST_MARGIN_V = 50.0
IMD_TEST_HIGH_FACTOR = 1.1
#: length of the vehicle signature (hex digits of a SHA-256)
SIGNATURE_DIGITS = 16


def insulation_test_voltage_v(vehicle_max_v: float | None, charger_max_v: float) -> float:
    """IEC 61851-23:2023 test voltage (insulation-and-limits.md): vehicle max ≤ 500 V → min(max + 50, 500,
    charger max); above → min(1.1 × max, charger max); 500 V (capped by the charger) when unknown."""
    if not vehicle_max_v:
        return min(IMD_TEST_LOW_PACK_V, charger_max_v)
    if vehicle_max_v <= IMD_TEST_LOW_PACK_V:
        return min(vehicle_max_v + IMD_TEST_MARGIN_V, IMD_TEST_LOW_PACK_V, charger_max_v)
    return min(IMD_TEST_HIGH_FACTOR * vehicle_max_v, charger_max_v)


def incompatibility(
    limits: m.VehicleBatteryLimits, control: m.VehicleControl, available_voltage_v: int, min_protocol_number: int
) -> str:
    """Why the vehicle cannot be charged here (chademo.md step 3), or "" when it can."""
    max_v = limits.max_battery_voltage_v
    target_v = control.target_voltage_v
    if control.protocol_number < min_protocol_number:
        return (
            f"vehicle speaks CHAdeMO protocol number {control.protocol_number}, below the supported "
            f"{min_protocol_number}"
        )
    if not max_v:
        return "vehicle declares no valid maximum battery voltage in 0x100"
    if target_v is None:
        return "vehicle's target voltage in 0x102 is out of range"
    if target_v > available_voltage_v:
        return f"vehicle target voltage {target_v} V exceeds the charger's {available_voltage_v} V"
    if target_v > max_v:
        return f"vehicle target voltage {target_v} V exceeds its own maximum {max_v} V"
    return ""


def flag_stop(control: m.VehicleControl, enabled_was_set: bool, charging: bool = False) -> SessionEnd | None:
    """The stop a 0x102 frame asks for through its fault and status flags (chademo.md 0x102 table, step 12).
    Bits 5–7 of byte 5 are set by real vehicles and are not faults.

    CHAdeMO carries no stop reason beyond these flags: a vehicle that is done (its target SOC reached) clears
    charging-enabled in the charging loop with nothing else set — that is `completed`, like GB/T's BST "SOC target
    reached". The same bit cleared before current flowed, k released, the shift lever or the stop-request bit are
    stops by the vehicle."""
    if control.faults:
        flags = ",".join(sorted(control.faults))
        return StageFailure(Reason.VEHICLE_FAULT, f"vehicle fault flags in 0x102: {flags}", vehicle_reason=flags)
    if control.charging_system_fault:
        return StageFailure(
            Reason.VEHICLE_FAULT,
            "vehicle charging-system fault (0x102 byte 5 bit 2)",
            vehicle_reason="charging_system_fault",
        )
    if control.shift_lever_not_park:
        return VehicleStop("shift lever out of Park (0x102 byte 5 bit 1)", vehicle_reason="shift_lever_not_park")
    if control.normal_stop_request:
        return VehicleStop("vehicle requested a normal stop (0x102 byte 5 bit 4)", vehicle_reason="normal_stop_request")
    if enabled_was_set and not control.charging_enabled:
        if charging:
            return VehicleStop(
                "vehicle ended the charge: charging-enabled cleared in the charging loop (0x102 byte 5 bit 0)",
                vehicle_reason="charging_enabled_cleared",
                reason=Reason.COMPLETED,
            )
        return VehicleStop(
            "vehicle cleared charging-enabled (0x102 byte 5 bit 0)", vehicle_reason="charging_enabled_cleared"
        )
    return None


def identity(
    limits: m.VehicleBatteryLimits | None,
    control: m.VehicleControl | None,
    charge_time: m.VehicleChargeTime | None,
    extended: m.VehicleExtendedFunctions | None,
    capacity_kwh_per_unit: float,
) -> dict[str, str]:
    """What the vehicle declared, and a signature of it: the same model and pack declare the same values, so the
    signature groups sessions by vehicle type without any vehicle identifier on the CHAdeMO link."""
    lim, ctl, tim, ext = limits, control, charge_time, extended
    fields = {
        "protocol_number": str(ctl.protocol_number if ctl else ""),
        "max_battery_voltage_v": str(lim.max_battery_voltage_v if lim else ""),
        "min_battery_voltage_v": str(lim.min_battery_voltage_v if lim else ""),
        "min_current_a": str(lim.min_current_a if lim else ""),
        "nonstandard_max_current_a": str(lim.nonstandard_max_current_a if lim else ""),
        "capacity_raw": str(tim.capacity_raw if tim else ""),
        "target_voltage_v": str(ctl.target_voltage_v if ctl else ""),
        "discharge_compatible": str(int(ctl.discharge_compatible) if ctl else ""),
        "extended_functions": (
            f"{int(ext.dynamic_control)}{int(ext.high_current_control)}{int(ext.high_voltage_control)}" if ext else ""
        ),
    }
    digest = hashlib.sha256("|".join(f"{k}={v}" for k, v in sorted(fields.items())).encode()).hexdigest()
    fields["capacity_kwh"] = f"{tim.capacity_kwh:g}" if tim else ""
    fields["capacity_scale_kwh"] = f"{capacity_kwh_per_unit:g}"
    fields["vehicle_signature"] = digest[:SIGNATURE_DIGITS]
    return fields
