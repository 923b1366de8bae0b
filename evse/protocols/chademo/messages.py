"""CHAdeMO frames as typed values (chademo.md, "Vehicle → charger frames" and "Charger → vehicle frames").

These are plain data; `evse.protocols.chademo.codec` turns them into and out of CAN payloads through the shipped
DBC. A decoded vehicle message carries `problems`: every value that was out of its DBC range is named there and
replaced by None (reported, not trusted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

# CAN identifiers (chademo.md, frame tables)
ID_VEHICLE_BATTERY_LIMITS = 0x100
ID_VEHICLE_CHARGE_TIME = 0x101
ID_VEHICLE_CONTROL = 0x102
ID_VEHICLE_EXTENDED = 0x110
ID_CHARGER_CAPABILITY = 0x108
ID_CHARGER_STATUS = 0x109
ID_CHARGER_EXTENDED = 0x118
VEHICLE_IDS = frozenset({ID_VEHICLE_BATTERY_LIMITS, ID_VEHICLE_CHARGE_TIME, ID_VEHICLE_CONTROL, ID_VEHICLE_EXTENDED})
CHARGER_IDS = frozenset({ID_CHARGER_CAPABILITY, ID_CHARGER_STATUS, ID_CHARGER_EXTENDED})

#: 0x101 byte 1 / 0x109 byte 6: "0xFF = use the minutes byte" (chademo.md)
TIME_10S_USE_MINUTES = 0xFF


class ProtocolNumber(IntEnum):
    """0x102 byte 0 / 0x109 byte 0 (chademo.md, 0x102 table)."""

    PRE_0_9 = 0
    V0_9 = 1
    V1_0 = 2
    V2_0 = 3

    @property
    def label(self) -> str:
        return {0: "pre-0.9", 1: "0.9", 2: "1.0", 3: "2.0"}[self.value]


# 0x102 byte 4 fault flags, by name (chademo.md, 0x102 table) — the order is the bit order
FAULT_FLAGS: tuple[str, ...] = (
    "battery_over_voltage",
    "battery_under_voltage",
    "current_deviation",
    "battery_high_temperature",
    "voltage_deviation",
)


@dataclass(frozen=True, slots=True)
class VehicleBatteryLimits:
    """0x100."""

    min_current_a: int = 0
    #: byte 1: some vehicles put a max current here; not standard, the charger ignores it
    nonstandard_max_current_a: int = 0
    min_battery_voltage_v: int | None = 0
    max_battery_voltage_v: int | None = 0
    #: the ChargedRate value that means 100 % (normally 100; 240/255 seen before k)
    charged_rate_reference: int = 100
    problems: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class VehicleChargeTime:
    """0x101. `max_charge_time_s` already resolves the 10 s / minutes alternative."""

    max_charge_time_s: int = 0
    estimated_charge_time_min: int = 0
    #: raw capacity units; `capacity_kwh` applies the configured scale (0.1 or 0.11 kWh)
    capacity_raw: int = 0
    capacity_kwh: float = 0.0
    problems: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class VehicleControl:
    """0x102."""

    protocol_number: int = ProtocolNumber.V1_0
    target_voltage_v: int | None = 0
    current_request_a: int = 0
    #: names from FAULT_FLAGS that are set
    faults: frozenset[str] = frozenset()
    charging_enabled: bool = False
    shift_lever_not_park: bool = False
    charging_system_fault: bool = False
    #: 1 = open / welding check done; 0 = closed / welding check running (protocol ≥ 1.0)
    contactor_open: bool = True
    normal_stop_request: bool = False
    discharge_compatible: bool = False
    #: bits 5 and 6 of byte 5: set by real vehicles, not faults; kept for the trace
    vendor_bits: int = 0
    charged_rate: int = 0
    problems: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class ExtendedFunctions:
    """0x110 (vehicle) / 0x118 (charger) byte 0, protocol 2.x."""

    dynamic_control: bool = False
    high_current_control: bool = False
    high_voltage_control: bool = False
    problems: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class VehicleExtendedFunctions(ExtendedFunctions):
    """0x110."""


@dataclass(frozen=True, slots=True)
class ChargerExtendedFunctions(ExtendedFunctions):
    """0x118: the charger's extended functions, mirroring what it supports of 0x110."""


@dataclass(frozen=True, slots=True)
class ChargerCapability:
    """0x108."""

    welding_detection_supported: bool = True
    available_voltage_v: int = 0
    available_current_a: int = 0
    threshold_voltage_v: int = 0


@dataclass(frozen=True, slots=True)
class ChargerStatus:
    """0x109."""

    protocol_number: int = ProtocolNumber.V1_0
    present_voltage_v: int = 0
    present_current_a: int = 0
    discharge_compatible: bool = False
    charging: bool = False
    charger_malfunction: bool = False
    connector_locked: bool = False
    battery_incompatible: bool = False
    charging_system_malfunction: bool = False
    stop_control: bool = True
    remaining_time_s: int = 0
    problems: tuple[str, ...] = field(default=(), compare=False)


VehicleMessage = VehicleBatteryLimits | VehicleChargeTime | VehicleControl | VehicleExtendedFunctions
ChargerMessage = ChargerCapability | ChargerStatus | ChargerExtendedFunctions


def soc_pct(charged_rate: int, reference: int) -> float | None:
    """State of charge from 0x102 byte 6 and the 0x100 byte 6 reference (chademo.md: SOC = raw / reference ×
    100). None when the reference is 0; clamped to 100 % (references of 240/255 and rates above 100 occur)."""
    if reference <= 0:
        return None
    return min(100.0, charged_rate * 100.0 / reference)
