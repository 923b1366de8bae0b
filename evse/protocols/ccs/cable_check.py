"""The CableCheck test voltage (IEC 61851-23:2023, 6.3.1.105 as summarised in insulation-and-limits.md)."""

from __future__ import annotations

#: below this vehicle maximum the test voltage is "vehicle max + 50 V, capped at 500 V"
LOW_VOLTAGE_CLASS_MAX_V = 500.0
#: added to the vehicle maximum in the ≤ 500 V class
LOW_VOLTAGE_MARGIN_V = 50.0
#: factor on the vehicle maximum above 500 V
HIGH_VOLTAGE_FACTOR = 1.1


def insulation_test_voltage_v(vehicle_max_v: float | None, charger_max_v: float, unknown_v: float = 500.0) -> float:
    """Vehicle max ≤ 500 V: min(max + 50 V, 500 V, charger max); above: min(1.1 × max, charger max); unknown
    vehicle max: `unknown_v` (500 V), still capped by the charger."""
    if vehicle_max_v is None or vehicle_max_v <= 0:
        return min(unknown_v, charger_max_v)
    if vehicle_max_v <= LOW_VOLTAGE_CLASS_MAX_V:
        return min(vehicle_max_v + LOW_VOLTAGE_MARGIN_V, LOW_VOLTAGE_CLASS_MAX_V, charger_max_v)
    return min(HIGH_VOLTAGE_FACTOR * vehicle_max_v, charger_max_v)
