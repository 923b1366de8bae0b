"""MeterValues from our `MeterSample` events: the measurands a DC charger can give (OCPP 1.6 §7.31 Measurand,
§7.32 SampledValue), chosen by the MeterValuesSampledData / MeterValuesAlignedData / StopTxn…Data keys."""

from __future__ import annotations

from typing import Any

from evse.clock import wall_time
from evse.session.events import MeterSample

#: OCPP 1.6 §7.32 ReadingContext values we produce
CONTEXT_PERIODIC = "Sample.Periodic"
CONTEXT_CLOCK = "Sample.Clock"
CONTEXT_BEGIN = "Transaction.Begin"
CONTEXT_END = "Transaction.End"
CONTEXT_TRIGGER = "Trigger"


def ocpp_time(t_s: float | None = None) -> str:
    """An OCPP dateTime (UTC, milliseconds, Z) of event-loop time `t_s` (default: now)."""
    return wall_time(t_s=t_s).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _location(sensor: str) -> str:
    """OCPP 1.6 §7.30 Location from our sensor name."""
    name = sensor.lower()
    for word, location in (("cable", "Cable"), ("inlet", "Inlet"), ("outlet", "Outlet"), ("battery", "EV")):
        if word in name:
            return location
    return "Body"


def _value(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") or "0"


def sampled_values(sample: MeterSample, measurands: list[str], context: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(measurand: str, value: float, unit: str, location: str = "Outlet") -> None:
        out.append(
            {
                "value": _value(value),
                "context": context,
                "format": "Raw",
                "measurand": measurand,
                "location": location,
                "unit": unit,
            }
        )

    for measurand in measurands:
        if measurand == "Energy.Active.Import.Register":
            add(measurand, sample.energy_wh, "Wh")
        elif measurand == "Power.Active.Import":
            add(measurand, sample.power_w, "W")
        elif measurand == "Current.Import":
            add(measurand, sample.current_a, "A")
        elif measurand == "Voltage":
            add(measurand, sample.voltage_v, "V")
        elif measurand == "SoC" and sample.soc_pct is not None:
            add(measurand, sample.soc_pct, "Percent", "EV")
        elif measurand == "Temperature":
            for sensor, temperature_c in sorted(sample.temperatures_c.items()):
                add(measurand, temperature_c, "Celsius", _location(sensor))
        elif measurand == "Current.Offered" and sample.offered_current_a is not None:
            add(measurand, sample.offered_current_a, "A")
        elif measurand == "Power.Offered" and sample.offered_current_a is not None:
            add(measurand, sample.offered_current_a * sample.voltage_v, "W")
    return out


def meter_value(timestamp: str, values: list[dict[str, Any]]) -> dict[str, Any]:
    return {"timestamp": timestamp, "sampledValue": values}
