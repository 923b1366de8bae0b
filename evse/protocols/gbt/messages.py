"""The 22 GB/T 27930-2015 messages as typed, frozen dataclasses (field → DBC signal in `SIGNALS`).

Units are in the field names. Current fields are magnitudes (positive = charging). Two-bit status fields
keep the raw code (0 normal, 1 set, 2 untrustworthy, 3 not available). Every message has `invalid`: the fields
that were out of range on reception (their value is None).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, ClassVar

from evse.protocols.gbt.ids import Pgn
from evse.protocols.gbt.wire import (
    NOT_READY,
    READY,
    STATUS_SET,
    GbtMessage,
    ascii_field,
    bcd_bytes,
    bcd_time,
    dbc_message,
    put_ascii,
    raw_signals,
)

__all__ = ["NOT_READY", "READY", "STATUS_SET"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Chm(GbtMessage):
    PGN = Pgn.CHM
    SIGNALS = {"version_minor": "VersionMinor", "version_major": "VersionMajor"}
    version_major: int | None = 1
    version_minor: int | None = 1
    invalid: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Bhm(GbtMessage):
    PGN = Pgn.BHM
    SIGNALS = {"max_charge_voltage_v": "MaxChargeVoltage"}
    max_charge_voltage_v: float | None
    invalid: tuple[str, ...] = ()


#: 0-based (offset, length) of ASCII fields: CRM B6–B8 region code, BRM B9–B12 maker, BRM B25–B41 VIN
_CRM_REGION = (5, 3)
_BRM_MAKER = (8, 4)
_BRM_VIN = (24, 17)
#: BRM length: 41 bytes in the 2011 edition, 49 (with B42–B49 BMS software version) in 2015
BRM_2011_LENGTH = 41
BRM_2015_LENGTH = 49


@dataclass(frozen=True, slots=True, kw_only=True)
class Crm(GbtMessage):
    PGN = Pgn.CRM
    SIGNALS = {"recognition": "Recognition", "charger_number": "ChargerNumber"}
    recognition: int | None
    charger_number: int | None = 1
    region_code: str = ""
    invalid: tuple[str, ...] = ()

    @property
    def recognised(self) -> bool:
        return self.recognition == READY

    @classmethod
    def extra_fields(cls, data: bytes) -> dict[str, Any]:
        return {"region_code": ascii_field(data, *_CRM_REGION)}

    def extra_bytes(self, payload: bytearray) -> bytearray:
        put_ascii(payload, *_CRM_REGION, self.region_code)
        return payload


@dataclass(frozen=True, slots=True, kw_only=True)
class Brm(GbtMessage):
    PGN = Pgn.BRM
    MIN_LENGTH = BRM_2011_LENGTH
    SIGNALS = {
        "version_minor": "VersionMinor",
        "version_major": "VersionMajor",
        "battery_type": "BatteryType",
        "rated_capacity_ah": "RatedCapacity",
        "rated_voltage_v": "RatedVoltage",
        "pack_serial": "PackSerial",
        "production_year": "ProductionYear",
        "production_month": "ProductionMonth",
        "production_day": "ProductionDay",
        "charge_count": "ChargeCount",
        "ownership": "Ownership",
    }
    version_major: int | None = 1
    version_minor: int | None = 1
    battery_type: int | None = 0xFF
    rated_capacity_ah: float | None = None
    rated_voltage_v: float | None = None
    manufacturer: str = ""
    pack_serial: int | None = None
    production_year: int | None = None
    production_month: int | None = None
    production_day: int | None = None
    charge_count: int | None = None
    ownership: int | None = None
    vin: str = ""
    #: B42–B49 as hex (2015 edition), None for a 41-byte (2011) BRM
    software_version: str | None = None
    invalid: tuple[str, ...] = ()

    @classmethod
    def extra_fields(cls, data: bytes) -> dict[str, Any]:
        software = data[BRM_2011_LENGTH:BRM_2015_LENGTH].hex() if len(data) >= BRM_2015_LENGTH else None
        return {
            "manufacturer": ascii_field(data, *_BRM_MAKER),
            "vin": ascii_field(data, *_BRM_VIN),
            "software_version": software,
        }

    def extra_bytes(self, payload: bytearray) -> bytearray:
        put_ascii(payload, *_BRM_MAKER, self.manufacturer)
        put_ascii(payload, *_BRM_VIN, self.vin)
        if self.software_version is not None:
            raw = bytes.fromhex(self.software_version)[:8]
            payload[BRM_2011_LENGTH:BRM_2015_LENGTH] = raw + b"\xff" * (8 - len(raw))
        return payload

    def wire_length(self) -> int:
        return BRM_2011_LENGTH if self.software_version is None else BRM_2015_LENGTH


@dataclass(frozen=True, slots=True, kw_only=True)
class Bcp(GbtMessage):
    PGN = Pgn.BCP
    SIGNALS = {
        "max_cell_voltage_v": "MaxCellVoltage",
        "max_charge_current_a": "MaxChargeCurrent",
        "nominal_energy_kwh": "NominalEnergy",
        "max_total_voltage_v": "MaxTotalVoltage",
        "max_temperature_c": "MaxTemperature",
        "soc_pct": "SOC",
        "pack_voltage_v": "PackVoltage",
    }
    max_cell_voltage_v: float | None
    max_charge_current_a: float | None
    nominal_energy_kwh: float | None
    max_total_voltage_v: float | None
    max_temperature_c: float | None
    soc_pct: float | None
    pack_voltage_v: float | None
    invalid: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Cts(GbtMessage):
    PGN = Pgn.CTS
    #: None = "no time" (all 0xFF or invalid BCD on reception; sent as all 0xFF)
    time: dt.datetime | None = None
    invalid: tuple[str, ...] = ()

    @classmethod
    def extra_fields(cls, data: bytes) -> dict[str, Any]:
        return {"time": bcd_time(data)}

    def extra_bytes(self, payload: bytearray) -> bytearray:
        payload[:7] = bcd_bytes(self.time) if self.time is not None else b"\xff" * 7
        return payload


@dataclass(frozen=True, slots=True, kw_only=True)
class Cml(GbtMessage):
    PGN = Pgn.CML
    SIGNALS = {
        "max_output_voltage_v": "MaxOutputVoltage",
        "min_output_voltage_v": "MinOutputVoltage",
        "max_output_current_a": "MaxOutputCurrent",
        "min_output_current_a": "MinOutputCurrent",
    }
    max_output_voltage_v: float | None
    min_output_voltage_v: float | None
    max_output_current_a: float | None
    min_output_current_a: float | None
    invalid: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Bro(GbtMessage):
    PGN = Pgn.BRO
    SIGNALS = {"ready": "BmsReady"}
    ready: int | None
    invalid: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Cro(GbtMessage):
    PGN = Pgn.CRO
    SIGNALS = {"ready": "ChargerReady"}
    ready: int | None
    invalid: tuple[str, ...] = ()


#: BCL B5 charge mode
MODE_CONSTANT_VOLTAGE = 0x01
MODE_CONSTANT_CURRENT = 0x02


@dataclass(frozen=True, slots=True, kw_only=True)
class Bcl(GbtMessage):
    PGN = Pgn.BCL
    SIGNALS = {"voltage_demand_v": "VoltageDemand", "current_demand_a": "CurrentDemand", "mode": "ChargeMode"}
    voltage_demand_v: float | None
    current_demand_a: float | None
    mode: int | None = MODE_CONSTANT_CURRENT
    invalid: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Bcs(GbtMessage):
    PGN = Pgn.BCS
    SIGNALS = {
        "measured_voltage_v": "MeasuredVoltage",
        "measured_current_a": "MeasuredCurrent",
        "highest_cell_voltage_v": "HighestCellVoltage",
        "highest_cell_group": "HighestCellGroup",
        "soc_pct": "SOC",
        "remaining_time_min": "RemainingTime",
    }
    measured_voltage_v: float | None
    measured_current_a: float | None
    highest_cell_voltage_v: float | None = None
    highest_cell_group: int | None = None
    soc_pct: float | None = None
    remaining_time_min: float | None = None
    invalid: tuple[str, ...] = ()


#: CCS B7 bits 1–2: charging permitted
CCS_PAUSED = 0b00
CCS_ALLOWED = 0b01


@dataclass(frozen=True, slots=True, kw_only=True)
class Ccs(GbtMessage):
    PGN = Pgn.CCS
    MIN_LENGTH = 7  # real chargers send 7 bytes; some pad to 8
    SIGNALS = {
        "output_voltage_v": "OutputVoltage",
        "output_current_a": "OutputCurrent",
        "charging_time_min": "ChargingTime",
        "permitted": "ChargingPermitted",
    }
    output_voltage_v: float | None
    output_current_a: float | None
    charging_time_min: float | None = 0
    permitted: int | None = CCS_ALLOWED
    invalid: tuple[str, ...] = ()


#: BSM B7 bits 5–6: charge permit
BSM_FORBID = 0b00
BSM_ALLOW = 0b01
BSM_STATUS_FIELDS = (
    "cell_voltage_status",
    "soc_status",
    "over_current",
    "over_temperature",
    "insulation",
    "output_connector",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Bsm(GbtMessage):
    PGN = Pgn.BSM
    SIGNALS = {
        "highest_cell_number": "HighestCellNumber",
        "highest_temperature_c": "HighestTemperature",
        "highest_temp_probe": "HighestTempProbe",
        "lowest_temperature_c": "LowestTemperature",
        "lowest_temp_probe": "LowestTempProbe",
        "cell_voltage_status": "CellVoltageStatus",
        "soc_status": "SocStatus",
        "over_current": "OverCurrent",
        "over_temperature": "OverTemperature",
        "insulation": "Insulation",
        "output_connector": "OutputConnector",
        "charge_permit": "ChargePermit",
    }
    highest_cell_number: int | None = 1
    highest_temperature_c: float | None = 25
    highest_temp_probe: int | None = 1
    lowest_temperature_c: float | None = 25
    lowest_temp_probe: int | None = 1
    cell_voltage_status: int | None = 0
    soc_status: int | None = 0
    over_current: int | None = 0
    over_temperature: int | None = 0
    insulation: int | None = 0
    output_connector: int | None = 0
    charge_permit: int | None = BSM_ALLOW
    invalid: tuple[str, ...] = ()

    def faults(self) -> tuple[str, ...]:
        """The status codes that report a problem (code 01)."""
        return tuple(n for n in BSM_STATUS_FIELDS if getattr(self, n) == STATUS_SET)


def _decode_array(name: str, data: bytes, signal_format: str, count: int) -> tuple[tuple[Any, ...], tuple[str, ...]]:
    """Elements 1..count of an array message (BMV cells, BMT probes), out-of-range ones as None."""
    dbc = dbc_message(name)
    raw = raw_signals(dbc, data)
    values: list[Any] = []
    invalid: list[str] = []
    for i in range(1, count + 1):
        signal = dbc.get_signal_by_name(signal_format.format(i))
        value = round(raw[signal.name] * signal.scale + signal.offset, 6)
        if signal.maximum is not None and value > signal.maximum + 1e-9:
            values.append(None)
            invalid.append(signal.name)
        else:
            values.append(value)
    return tuple(values), tuple(invalid)


@dataclass(frozen=True, slots=True, kw_only=True)
class Bmv(GbtMessage):
    """Cell voltages: B(2i-1)–B(2i) bits 1–12 = cell i voltage 0.01 V, bits 13–16 its group."""

    PGN = Pgn.BMV
    MIN_LENGTH = 2
    cell_voltages_v: tuple[float | None, ...] = ()
    invalid: tuple[str, ...] = ()

    @classmethod
    def extra_fields(cls, data: bytes) -> dict[str, Any]:
        cells, invalid = _decode_array("BMV", data, "Cell{}Voltage", min(len(data), 512) // 2)
        return {"cell_voltages_v": cells, "invalid": invalid}

    def extra_bytes(self, payload: bytearray) -> bytearray:
        for i, volts in enumerate(self.cell_voltages_v[:256]):
            raw = 0xFFF if volts is None else max(0, min(2400, round(volts / 0.01)))
            payload[2 * i : 2 * i + 2] = (raw | 0xF000).to_bytes(2, "little")
        return payload

    def wire_length(self) -> int:
        return 2 * len(self.cell_voltages_v[:256])


@dataclass(frozen=True, slots=True, kw_only=True)
class Bmt(GbtMessage):
    """Battery temperatures: one byte per probe, 1 °C/bit, −50 °C offset."""

    PGN = Pgn.BMT
    MIN_LENGTH = 1
    temperatures_c: tuple[float | None, ...] = ()
    invalid: tuple[str, ...] = ()

    @classmethod
    def extra_fields(cls, data: bytes) -> dict[str, Any]:
        temps, invalid = _decode_array("BMT", data, "Probe{}Temperature", min(len(data), 128))
        return {"temperatures_c": temps, "invalid": invalid}

    def extra_bytes(self, payload: bytearray) -> bytearray:
        for i, temp in enumerate(self.temperatures_c[:128]):
            payload[i] = 0xFF if temp is None else max(0, min(250, round(temp + 50)))
        return payload

    def wire_length(self) -> int:
        return len(self.temperatures_c[:128])


@dataclass(frozen=True, slots=True, kw_only=True)
class Bsp(GbtMessage):
    """Battery reserved parameters: opaque bytes."""

    PGN = Pgn.BSP
    MIN_LENGTH = 1
    data: bytes = b""
    invalid: tuple[str, ...] = ()

    @classmethod
    def extra_fields(cls, data: bytes) -> dict[str, Any]:
        return {"data": bytes(data[:16])}

    def extra_bytes(self, payload: bytearray) -> bytearray:
        payload[: len(self.data[:16])] = self.data[:16]
        return payload

    def wire_length(self) -> int:
        return len(self.data[:16])


class _Codes(GbtMessage):
    """BST, CST, BEM, CEM: every field is a two-bit code; `active()` names the ones set (code 01)."""

    NAMES: ClassVar[tuple[str, ...]] = ()

    def active(self) -> tuple[str, ...]:
        return tuple(n for n in self.NAMES if getattr(self, n) == STATUS_SET)


@dataclass(frozen=True, slots=True, kw_only=True)
class Bst(_Codes):
    """BMS stop: B1 reasons, B2–B3 faults, B4 errors (GB/T 27930-2015 BST table)."""

    PGN = Pgn.BST
    NAMES = (
        "soc_target_reached",
        "total_voltage_reached",
        "cell_voltage_reached",
        "charger_stopped",
        "insulation_fault",
        "connector_over_temperature",
        "bms_over_temperature",
        "connector_fault",
        "pack_over_temperature",
        "hv_relay_fault",
        "detection_point2_fault",
        "other_fault",
        "current_too_high",
        "voltage_abnormal",
    )
    SIGNALS = {
        "soc_target_reached": "SocTargetReached",
        "total_voltage_reached": "TotalVoltageReached",
        "cell_voltage_reached": "CellVoltageReached",
        "charger_stopped": "ChargerStopped",
        "insulation_fault": "InsulationFault",
        "connector_over_temperature": "ConnectorOverTemperature",
        "bms_over_temperature": "BmsOverTemperature",
        "connector_fault": "ConnectorFault",
        "pack_over_temperature": "PackOverTemperature",
        "hv_relay_fault": "HvRelayFault",
        "detection_point2_fault": "DetectionPoint2Fault",
        "other_fault": "OtherFault",
        "current_too_high": "CurrentTooHigh",
        "voltage_abnormal": "VoltageAbnormal",
    }
    soc_target_reached: int | None = 0
    total_voltage_reached: int | None = 0
    cell_voltage_reached: int | None = 0
    charger_stopped: int | None = 0
    insulation_fault: int | None = 0
    connector_over_temperature: int | None = 0
    bms_over_temperature: int | None = 0
    connector_fault: int | None = 0
    pack_over_temperature: int | None = 0
    hv_relay_fault: int | None = 0
    detection_point2_fault: int | None = 0
    other_fault: int | None = 0
    current_too_high: int | None = 0
    voltage_abnormal: int | None = 0
    invalid: tuple[str, ...] = ()


#: BST reasons that are a normal end of charge (B1); everything else is a fault or error
BST_NORMAL_REASONS = ("soc_target_reached", "total_voltage_reached", "cell_voltage_reached", "charger_stopped")


@dataclass(frozen=True, slots=True, kw_only=True)
class Cst(_Codes):
    """Charger stop: B1 reasons, B2–B3 faults, B4 errors (GB/T 27930-2015 CST table)."""

    PGN = Pgn.CST
    NAMES = (
        "condition_reached",
        "manual_stop",
        "fault_stop",
        "bms_stopped",
        "charger_over_temperature",
        "connector_fault",
        "internal_over_temperature",
        "energy_unavailable",
        "emergency_stop",
        "other_fault",
        "current_mismatch",
        "voltage_abnormal",
    )
    SIGNALS = {
        "condition_reached": "ConditionReached",
        "manual_stop": "ManualStop",
        "fault_stop": "FaultStop",
        "bms_stopped": "BmsStopped",
        "charger_over_temperature": "ChargerOverTemperature",
        "connector_fault": "ConnectorFault",
        "internal_over_temperature": "InternalOverTemperature",
        "energy_unavailable": "EnergyUnavailable",
        "emergency_stop": "EmergencyStop",
        "other_fault": "OtherFault",
        "current_mismatch": "CurrentMismatch",
        "voltage_abnormal": "VoltageAbnormal",
    }
    condition_reached: int | None = 0
    manual_stop: int | None = 0
    fault_stop: int | None = 0
    bms_stopped: int | None = 0
    charger_over_temperature: int | None = 0
    connector_fault: int | None = 0
    internal_over_temperature: int | None = 0
    energy_unavailable: int | None = 0
    emergency_stop: int | None = 0
    other_fault: int | None = 0
    current_mismatch: int | None = 0
    voltage_abnormal: int | None = 0
    invalid: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Bsd(GbtMessage):
    PGN = Pgn.BSD
    SIGNALS = {
        "soc_pct": "SOC",
        "min_cell_voltage_v": "MinCellVoltage",
        "max_cell_voltage_v": "MaxCellVoltage",
        "min_temperature_c": "MinTemperature",
        "max_temperature_c": "MaxTemperature",
    }
    soc_pct: float | None
    min_cell_voltage_v: float | None
    max_cell_voltage_v: float | None
    min_temperature_c: float | None
    max_temperature_c: float | None
    invalid: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Csd(GbtMessage):
    PGN = Pgn.CSD
    SIGNALS = {"charging_time_min": "ChargingTime", "energy_kwh": "EnergyOutput", "charger_number": "ChargerNumber"}
    charging_time_min: float | None
    energy_kwh: float | None
    charger_number: int | None = 1
    invalid: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Bem(_Codes):
    """BMS timeout report (B1 CRM 0x00 / 0xAA, B2 CML, CRO, B3 CCS, CST, B4 CSD)."""

    PGN = Pgn.BEM
    NAMES = ("crm_timeout", "crm_aa_timeout", "cml_timeout", "cro_timeout", "ccs_timeout", "cst_timeout", "csd_timeout")
    SIGNALS = {
        "crm_timeout": "CrmUnrecognisedTimeout",
        "crm_aa_timeout": "CrmRecognisedTimeout",
        "cml_timeout": "CmlTimeout",
        "cro_timeout": "CroTimeout",
        "ccs_timeout": "CcsTimeout",
        "cst_timeout": "CstTimeout",
        "csd_timeout": "CsdTimeout",
    }
    crm_timeout: int | None = 0
    crm_aa_timeout: int | None = 0
    cml_timeout: int | None = 0
    cro_timeout: int | None = 0
    ccs_timeout: int | None = 0
    cst_timeout: int | None = 0
    csd_timeout: int | None = 0
    invalid: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Cem(_Codes):
    """Charger timeout report (B1 BRM, B2 BCP, BRO, B3 BCS, BCL, BST, B4 BSD); idle = FC F0 C0 FC."""

    PGN = Pgn.CEM
    NAMES = ("brm_timeout", "bcp_timeout", "bro_timeout", "bcs_timeout", "bcl_timeout", "bst_timeout", "bsd_timeout")
    SIGNALS = {
        "brm_timeout": "BrmTimeout",
        "bcp_timeout": "BcpTimeout",
        "bro_timeout": "BroTimeout",
        "bcs_timeout": "BcsTimeout",
        "bcl_timeout": "BclTimeout",
        "bst_timeout": "BstTimeout",
        "bsd_timeout": "BsdTimeout",
    }
    brm_timeout: int | None = 0
    bcp_timeout: int | None = 0
    bro_timeout: int | None = 0
    bcs_timeout: int | None = 0
    bcl_timeout: int | None = 0
    bst_timeout: int | None = 0
    bsd_timeout: int | None = 0
    invalid: tuple[str, ...] = ()


MESSAGE_TYPES: dict[Pgn, type[GbtMessage]] = {
    cls.PGN: cls
    for cls in (
        Chm,
        Bhm,
        Crm,
        Brm,
        Bcp,
        Cts,
        Cml,
        Bro,
        Cro,
        Bcl,
        Bcs,
        Ccs,
        Bsm,
        Bmv,
        Bmt,
        Bsp,
        Bst,
        Cst,
        Bsd,
        Csd,
        Bem,
        Cem,
    )
}
