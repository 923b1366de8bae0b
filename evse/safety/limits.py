"""Protocol-independent safety numbers computed from the standards' tables.

* Emergency over-voltage thresholds: IEC 61851-23:2023 Table 103 (> 1000 V: draft IEC 61851-23-3).
* Insulation test voltage: IEC 61851-23:2023 (vehicle max ≤ 500 V: min(max + 50 V, 500 V, charger max); otherwise
  min(1.1 × max, charger max); 500 V when the vehicle's maximum is unknown).
* Insulation levels: IEC 61851-23:2014 / GB/T per-volt rule (< 100 Ω/V fault, < 500 Ω/V warning) together with
  the 2023 edition's absolute rule (< 100 kΩ fault): a reading is a fault when either rule says so.
"""

from __future__ import annotations

from evse.safety.settings import SafetySettings

#: (negotiated max voltage up to, emergency threshold) — IEC 61851-23:2023 Table 103
EMERGENCY_OVERVOLTAGE_TABLE_V: tuple[tuple[float, float], ...] = (
    (500.0, 550.0),
    (750.0, 825.0),
    (850.0, 935.0),
    (1000.0, 1100.0),
)
#: above 1000 V negotiated (draft IEC 61851-23-3)
EMERGENCY_OVERVOLTAGE_ABOVE_1000_V = 1375.0

#: IEC 61851-23:2023 insulation test voltage rule
_TEST_VOLTAGE_LOW_PACK_LIMIT_V = 500.0
_TEST_VOLTAGE_LOW_PACK_MARGIN_V = 50.0
_TEST_VOLTAGE_HIGH_PACK_FACTOR = 1.1
_TEST_VOLTAGE_UNKNOWN_V = 500.0

INSULATION_OK = "ok"
INSULATION_WARNING = "warning"
INSULATION_FAULT = "fault"


def emergency_overvoltage_v(negotiated_max_voltage_v: float) -> float:
    """The output voltage that trips at once for a session negotiated at `negotiated_max_voltage_v`."""
    for up_to_v, threshold_v in EMERGENCY_OVERVOLTAGE_TABLE_V:
        if negotiated_max_voltage_v <= up_to_v:
            return threshold_v
    return EMERGENCY_OVERVOLTAGE_ABOVE_1000_V


def insulation_test_voltage_v(vehicle_max_voltage_v: float | None, charger_max_voltage_v: float) -> float:
    """The test voltage for the cable check (IEC 61851-23:2023)."""
    if vehicle_max_voltage_v is None or vehicle_max_voltage_v <= 0:
        return min(_TEST_VOLTAGE_UNKNOWN_V, charger_max_voltage_v)
    if vehicle_max_voltage_v <= _TEST_VOLTAGE_LOW_PACK_LIMIT_V:
        return min(
            vehicle_max_voltage_v + _TEST_VOLTAGE_LOW_PACK_MARGIN_V,
            _TEST_VOLTAGE_LOW_PACK_LIMIT_V,
            charger_max_voltage_v,
        )
    return min(_TEST_VOLTAGE_HIGH_PACK_FACTOR * vehicle_max_voltage_v, charger_max_voltage_v)


def insulation_fault_threshold_ohm(test_voltage_v: float, settings: SafetySettings) -> float:
    """Below this resistance a reading at `test_voltage_v` is a fault (the stricter of both rules)."""
    return max(settings.insulation_fault_min_ohm, settings.insulation_fault_ohm_per_v * test_voltage_v)


def insulation_level(resistance_ohm: float, test_voltage_v: float, settings: SafetySettings) -> str:
    """ "ok", "warning" (charging may go on) or "fault" for one reading."""
    if resistance_ohm < insulation_fault_threshold_ohm(test_voltage_v, settings):
        return INSULATION_FAULT
    if resistance_ohm < settings.insulation_warning_ohm_per_v * test_voltage_v:
        return INSULATION_WARNING
    return INSULATION_OK


def earth_voltage_limit_v(charger_max_voltage_v: float, output_voltage_v: float, settings: SafetySettings) -> float:
    """Highest voltage to earth while charging: the configured limit for a charger rated ≤ 500 V, otherwise 110 %
    of the output voltage (but never below the configured limit)."""
    if charger_max_voltage_v <= _TEST_VOLTAGE_LOW_PACK_LIMIT_V:
        return settings.earth_voltage_limit_v
    return max(settings.earth_voltage_limit_v, _TEST_VOLTAGE_HIGH_PACK_FACTOR * output_voltage_v)
