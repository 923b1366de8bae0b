"""CHAdeMO payloads ⇄ typed messages, through cantools and the shipped `chademo.dbc`.

The DBC is the single description of the frames: an operator loads the same file into SavvyCAN, `cantools
decode` or their own tools to read a trace captured by the daemon. This module adds only what a DBC cannot say:

* **Out-of-range values are reported, not trusted.** A decoded value outside its DBC [min|max] (e.g. a maximum
  battery voltage of 60 000 V, a protocol number of 7) is named in the message's `problems` and, where the field
  allows, replaced by None so nothing downstream acts on it.
* **The alternatives the protocol encodes in sentinels** — 0x101 byte 1 / 0x109 byte 6 = 0xFF means "use the
  minutes byte" — are resolved into seconds.
* **The 0x101 capacity scale is configurable** (0.1 kWh per the common reading, 0.11 kWh fits real Leaf packs;
  chademo.md 0x101 table): the DBC carries 0.1, the codec rescales.
* Wrong payload length raises `CodecError` (every CHAdeMO frame is DLC 8); any 8-byte payload decodes.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import cantools
from cantools.database.can import Database, Message

from evse.can.channel import CanFrame
from evse.protocols.chademo import messages as m

DBC_PATH = Path(__file__).with_name("chademo.dbc")
#: every CHAdeMO frame has DLC 8 (chademo.md, Physical layer)
FRAME_LENGTH = 8
#: the RatedBatteryCapacity scale written in the DBC (kWh per unit)
DBC_CAPACITY_KWH_PER_UNIT = 0.1
#: distinct messages whose encoding is kept (a session repeats a handful of 0x108/0x109 payloads)
ENCODE_CACHE_SIZE = 256
_SECONDS_PER_MINUTE = 60
_TIME_STEP_S = 10

_FAULT_SIGNALS = (
    "FaultBatteryOverVoltage",
    "FaultBatteryUnderVoltage",
    "FaultCurrentDeviation",
    "FaultBatteryHighTemperature",
    "FaultVoltageDeviation",
)


class CodecError(ValueError):
    """A frame cannot be decoded (wrong length) or is not a CHAdeMO frame."""


@functools.cache
def load_database(path: Path = DBC_PATH) -> Database:
    """The CHAdeMO DBC, parsed once per process."""
    db = cantools.database.load_file(str(path))
    assert isinstance(db, Database)
    return db


class ChademoCodec:
    """Decode and encode CHAdeMO frames. `capacity_kwh_per_unit` is the 0x101 capacity scale to apply."""

    def __init__(self, capacity_kwh_per_unit: float = DBC_CAPACITY_KWH_PER_UNIT, dbc_path: Path = DBC_PATH) -> None:
        self.capacity_kwh_per_unit = capacity_kwh_per_unit
        db = load_database(dbc_path)
        self._by_id: dict[int, Message] = {msg.frame_id: msg for msg in db.messages}
        self._encoded: dict[m.VehicleMessage | m.ChargerMessage, tuple[int, bytes]] = {}
        #: per frame, every signal's (min, max) from the DBC: the encoder clamps into them
        self._ranges: dict[int, dict[str, tuple[float, float]]] = {
            msg.frame_id: {
                sig.name: (
                    float(sig.minimum) if sig.minimum is not None else float("-inf"),
                    float(sig.maximum) if sig.maximum is not None else float("inf"),
                )
                for sig in msg.signals
            }
            for msg in db.messages
        }
        missing = (m.VEHICLE_IDS | m.CHARGER_IDS) - self._by_id.keys()
        if missing:
            raise CodecError(f"{dbc_path} lacks frames {sorted(hex(i) for i in missing)}")

    # ---- decoding
    def decode(self, frame: CanFrame) -> m.VehicleMessage | m.ChargerMessage | None:
        """The typed message of a CHAdeMO frame; None for an identifier CHAdeMO does not use."""
        if frame.is_extended_id or frame.arbitration_id not in self._by_id:
            return None
        if len(frame.data) != FRAME_LENGTH:
            raise CodecError(
                f"frame 0x{frame.arbitration_id:03X} has {len(frame.data)} bytes; CHAdeMO frames have {FRAME_LENGTH}"
            )
        definition = self._by_id[frame.arbitration_id]
        values: dict[str, Any] = definition.decode(frame.data, decode_choices=False, scaling=True)  # type: ignore[assignment]
        problems = _out_of_range(definition, values)
        return _DECODERS[frame.arbitration_id](self, values, problems)

    def _battery_limits(self, v: dict[str, Any], problems: dict[str, str]) -> m.VehicleBatteryLimits:
        return m.VehicleBatteryLimits(
            min_current_a=int(v["MinChargeCurrent"]),
            nonstandard_max_current_a=int(v["NonStandardMaxCurrent"]),
            min_battery_voltage_v=_trusted(v, problems, "MinBatteryVoltage"),
            max_battery_voltage_v=_trusted(v, problems, "MaxBatteryVoltage"),
            charged_rate_reference=int(v["ChargedRateReference"]),
            problems=tuple(problems.values()),
        )

    def _charge_time(self, v: dict[str, Any], problems: dict[str, str]) -> m.VehicleChargeTime:
        max_10s_raw = round(v["MaxChargeTime10s"] / _TIME_STEP_S)
        if max_10s_raw == m.TIME_10S_USE_MINUTES:
            max_time_s = int(v["MaxChargeTimeMin"]) * _SECONDS_PER_MINUTE
        else:
            max_time_s = max_10s_raw * _TIME_STEP_S
        capacity_raw = round(v["RatedBatteryCapacity"] / DBC_CAPACITY_KWH_PER_UNIT)
        return m.VehicleChargeTime(
            max_charge_time_s=max_time_s,
            estimated_charge_time_min=int(v["EstimatedChargeTimeMin"]),
            capacity_raw=capacity_raw,
            capacity_kwh=round(capacity_raw * self.capacity_kwh_per_unit, 3),
            problems=tuple(problems.values()),
        )

    def _control(self, v: dict[str, Any], problems: dict[str, str]) -> m.VehicleControl:
        faults = frozenset(name for name, sig in zip(m.FAULT_FLAGS, _FAULT_SIGNALS, strict=True) if v[sig])
        return m.VehicleControl(
            # an unknown protocol number stays a number (negotiation takes the lower of both sides) but is reported
            protocol_number=int(v["ControlProtocolNumber"]),
            target_voltage_v=_trusted(v, problems, "TargetBatteryVoltage"),
            current_request_a=int(v["ChargingCurrentRequest"]),
            faults=faults,
            charging_enabled=bool(v["StatusChargingEnabled"]),
            shift_lever_not_park=bool(v["StatusShiftLeverNotPark"]),
            charging_system_fault=bool(v["StatusChargingSystemFault"]),
            contactor_open=bool(v["StatusContactorOpen"]),
            normal_stop_request=bool(v["StatusNormalStopRequest"]),
            discharge_compatible=bool(v["StatusDischargeCompatible"]),
            vendor_bits=int(v["StatusVendorBit5"]) | int(v["StatusVendorBit6"]) << 1,
            charged_rate=int(v["ChargedRate"]),
            problems=tuple(problems.values()),
        )

    def _extended(self, v: dict[str, Any], problems: dict[str, str], cls: type[m.ExtendedFunctions]) -> Any:
        return cls(
            dynamic_control=bool(v["DynamicControl"]),
            high_current_control=bool(v["HighCurrentControl"]),
            high_voltage_control=bool(v["HighVoltageControl"]),
            problems=tuple(problems.values()),
        )

    def _capability(self, v: dict[str, Any], problems: dict[str, str]) -> m.ChargerCapability:
        return m.ChargerCapability(
            welding_detection_supported=bool(v["WeldingDetectionSupported"]),
            available_voltage_v=int(v["AvailableOutputVoltage"]),
            available_current_a=int(v["AvailableOutputCurrent"]),
            threshold_voltage_v=int(v["ThresholdVoltage"]),
        )

    def _status(self, v: dict[str, Any], problems: dict[str, str]) -> m.ChargerStatus:
        remaining_10s_raw = round(v["RemainingTime10s"] / _TIME_STEP_S)
        if remaining_10s_raw == m.TIME_10S_USE_MINUTES:
            remaining_s = int(v["RemainingTimeMin"]) * _SECONDS_PER_MINUTE
        else:
            remaining_s = remaining_10s_raw * _TIME_STEP_S
        return m.ChargerStatus(
            protocol_number=int(v["ControlProtocolNumber"]),
            present_voltage_v=int(v["PresentOutputVoltage"]),
            present_current_a=int(v["PresentOutputCurrent"]),
            discharge_compatible=bool(v["DischargeCompatible"]),
            charging=bool(v["StatusCharging"]),
            charger_malfunction=bool(v["StatusChargerMalfunction"]),
            connector_locked=bool(v["StatusConnectorLocked"]),
            battery_incompatible=bool(v["StatusBatteryIncompatible"]),
            charging_system_malfunction=bool(v["StatusChargingSystemMalfunction"]),
            stop_control=bool(v["StatusStopControl"]),
            remaining_time_s=remaining_s,
            problems=tuple(problems.values()),
        )

    # ---- encoding
    def encode(self, msg: m.VehicleMessage | m.ChargerMessage, timestamp_s: float = 0.0) -> CanFrame:
        """The frame for `msg`. Values beyond a field's range are clamped to it (a byte cannot say 300 A)."""
        cached = self._encoded.get(msg)
        if cached is not None:
            # the charger sends the same 0x108 (and mostly the same 0x109) every 100 ms
            return CanFrame(cached[0], cached[1], timestamp_s=timestamp_s)
        frame_id, values = self._signals(msg)
        definition = self._by_id[frame_id]
        clamped = {
            name: min(max(float(values.get(name, 0)), low), high)
            for name, (low, high) in self._ranges[frame_id].items()
        }
        data = bytes(definition.encode(clamped, scaling=True, padding=False, strict=False))
        if len(self._encoded) >= ENCODE_CACHE_SIZE:
            self._encoded.clear()
        self._encoded[msg] = (frame_id, data)
        return CanFrame(frame_id, data, timestamp_s=timestamp_s)

    def _signals(self, msg: m.VehicleMessage | m.ChargerMessage) -> tuple[int, dict[str, float]]:
        match msg:
            case m.VehicleBatteryLimits():
                return m.ID_VEHICLE_BATTERY_LIMITS, {
                    "MinChargeCurrent": msg.min_current_a,
                    "NonStandardMaxCurrent": msg.nonstandard_max_current_a,
                    "MinBatteryVoltage": msg.min_battery_voltage_v or 0,
                    "MaxBatteryVoltage": msg.max_battery_voltage_v or 0,
                    "ChargedRateReference": msg.charged_rate_reference,
                }
            case m.VehicleChargeTime():
                ten_s, minutes = _time_bytes(msg.max_charge_time_s)
                return m.ID_VEHICLE_CHARGE_TIME, {
                    "MaxChargeTime10s": ten_s * _TIME_STEP_S,
                    "MaxChargeTimeMin": minutes,
                    "EstimatedChargeTimeMin": msg.estimated_charge_time_min,
                    "RatedBatteryCapacity": msg.capacity_raw * DBC_CAPACITY_KWH_PER_UNIT,
                }
            case m.VehicleControl():
                values: dict[str, float] = {
                    "ControlProtocolNumber": msg.protocol_number,
                    "TargetBatteryVoltage": msg.target_voltage_v or 0,
                    "ChargingCurrentRequest": msg.current_request_a,
                    "StatusChargingEnabled": msg.charging_enabled,
                    "StatusShiftLeverNotPark": msg.shift_lever_not_park,
                    "StatusChargingSystemFault": msg.charging_system_fault,
                    "StatusContactorOpen": msg.contactor_open,
                    "StatusNormalStopRequest": msg.normal_stop_request,
                    "StatusVendorBit5": msg.vendor_bits & 1,
                    "StatusVendorBit6": (msg.vendor_bits >> 1) & 1,
                    "StatusDischargeCompatible": msg.discharge_compatible,
                    "ChargedRate": msg.charged_rate,
                }
                for name, sig in zip(m.FAULT_FLAGS, _FAULT_SIGNALS, strict=True):
                    values[sig] = name in msg.faults
                return m.ID_VEHICLE_CONTROL, values
            case m.VehicleExtendedFunctions() | m.ChargerExtendedFunctions():
                frame_id = (
                    m.ID_VEHICLE_EXTENDED if isinstance(msg, m.VehicleExtendedFunctions) else m.ID_CHARGER_EXTENDED
                )
                return frame_id, {
                    "DynamicControl": msg.dynamic_control,
                    "HighCurrentControl": msg.high_current_control,
                    "HighVoltageControl": msg.high_voltage_control,
                }
            case m.ChargerCapability():
                return m.ID_CHARGER_CAPABILITY, {
                    "WeldingDetectionSupported": msg.welding_detection_supported,
                    "AvailableOutputVoltage": msg.available_voltage_v,
                    "AvailableOutputCurrent": msg.available_current_a,
                    "ThresholdVoltage": msg.threshold_voltage_v,
                }
            case m.ChargerStatus():
                ten_s, minutes = _time_bytes(msg.remaining_time_s)
                return m.ID_CHARGER_STATUS, {
                    "ControlProtocolNumber": msg.protocol_number,
                    "PresentOutputVoltage": msg.present_voltage_v,
                    "PresentOutputCurrent": msg.present_current_a,
                    "DischargeCompatible": msg.discharge_compatible,
                    "StatusCharging": msg.charging,
                    "StatusChargerMalfunction": msg.charger_malfunction,
                    "StatusConnectorLocked": msg.connector_locked,
                    "StatusBatteryIncompatible": msg.battery_incompatible,
                    "StatusChargingSystemMalfunction": msg.charging_system_malfunction,
                    "StatusStopControl": msg.stop_control,
                    "RemainingTime10s": ten_s * _TIME_STEP_S,
                    "RemainingTimeMin": minutes,
                }
        raise CodecError(f"not a CHAdeMO message: {msg!r}")


_DECODERS: dict[int, Any] = {
    m.ID_VEHICLE_BATTERY_LIMITS: ChademoCodec._battery_limits,
    m.ID_VEHICLE_CHARGE_TIME: ChademoCodec._charge_time,
    m.ID_VEHICLE_CONTROL: ChademoCodec._control,
    m.ID_VEHICLE_EXTENDED: lambda c, v, p: c._extended(v, p, m.VehicleExtendedFunctions),
    m.ID_CHARGER_CAPABILITY: ChademoCodec._capability,
    m.ID_CHARGER_STATUS: ChademoCodec._status,
    m.ID_CHARGER_EXTENDED: lambda c, v, p: c._extended(v, p, m.ChargerExtendedFunctions),
}


def _out_of_range(definition: Message, values: dict[str, Any]) -> dict[str, str]:
    problems: dict[str, str] = {}
    for sig in definition.signals:
        value = values[sig.name]
        low, high = sig.minimum, sig.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            unit = f" {sig.unit}" if sig.unit else ""
            problems[sig.name] = (
                f"0x{definition.frame_id:03X} {sig.name}={value:g}{unit} is outside {low:g}..{high:g}{unit}"
            )
    return problems


def _trusted(values: dict[str, Any], problems: dict[str, str], name: str) -> int | None:
    """The value, or None when it was out of range."""
    return None if name in problems else int(values[name])


def _time_bytes(seconds: int) -> tuple[int, int]:
    """(10 s steps, minutes) for a time: 10 s steps when they fit in a byte below the 0xFF sentinel, otherwise
    0xFF and the minutes byte (chademo.md, 0x101 byte 1 / 0x109 byte 6). Both round up, so a nonzero time
    never encodes as 0 (0 remaining time stops the vehicle)."""
    seconds = max(0, seconds)
    minutes = min(0xFF, math.ceil(seconds / _SECONDS_PER_MINUTE))
    steps = math.ceil(seconds / _TIME_STEP_S)
    if steps < m.TIME_10S_USE_MINUTES:
        return steps, minutes
    return m.TIME_10S_USE_MINUTES, minutes
