"""InfyPower REG/BEG rectifier modules: the CAN protocol (V1.13, extended 29-bit frames, 125 kbit/s).

Facts from the vendor's "CAN communication protocol V1.13" as used by public drivers (EVerest's Apache-2.0
InfyPower module): only the facts carry over, this code is our own.

Identifier layout (protocol §2.1, all fields big-endian in the id):

    bits 28..26  error code      (0 = normal; in replies: 2 = command invalid, 3 = data invalid, 7 = starting)
    bits 25..22  device number   (0x0A = one module addressed by its address, 0x0B = a group by its group number)
    bits 21..16  command number
    bits 15..8   destination address (module address 0..0x3F, group number, 0x3F = broadcast, 0xF0 = controller)
    bits  7..0   source address

Data are 8 bytes, big-endian. Set-points are unsigned mV / mA; readings of command 0x03 are IEEE-754 floats.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from evse.can.channel import CanFrame

#: §2.1: device number of a single module / of a group of modules
DEVICE_SINGLE = 0x0A
DEVICE_GROUP = 0x0B
#: §2.1: the monitoring controller's own address
CONTROLLER_ADDRESS = 0xF0
#: §2.1: broadcast destination
BROADCAST_ADDRESS = 0x3F

#: §3 command numbers
CMD_READ_SYSTEM_OUTPUT = 0x01  # system (group) voltage and total current, float V / float A
CMD_READ_MODULE_COUNT = 0x02
CMD_READ_MODULE_OUTPUT = 0x03  # one module's voltage and current, float V / float A
CMD_READ_MODULE_STATUS = 0x04  # group number, temperature, three status tables
CMD_SET_ON_OFF = 0x1A  # byte 0: 0 = on, 1 = off
CMD_SET_SYSTEM_OUTPUT = 0x1B  # u32 mV, u32 mA (total of the group)
CMD_SET_MODULE_OUTPUT = 0x1C  # u32 mV, u32 mA (this module)

#: §3.4 data of command 0x1A
ON = 0x00
OFF = 0x01

#: error codes in the id of a reply (§2.1)
ERROR_NORMAL = 0
ERROR_COMMAND_INVALID = 2
ERROR_DATA_INVALID = 3
ERROR_STARTING = 7

_ERROR_SHIFT = 26
_DEVICE_SHIFT = 22
_COMMAND_SHIFT = 16
_DESTINATION_SHIFT = 8


@dataclass(frozen=True, slots=True)
class InfyId:
    error_code: int
    device: int
    command: int
    destination: int
    source: int

    def encode(self) -> int:
        return (
            (self.error_code & 0x07) << _ERROR_SHIFT
            | (self.device & 0x0F) << _DEVICE_SHIFT
            | (self.command & 0x3F) << _COMMAND_SHIFT
            | (self.destination & 0xFF) << _DESTINATION_SHIFT
            | (self.source & 0xFF)
        )

    @classmethod
    def decode(cls, arbitration_id: int) -> InfyId:
        return cls(
            (arbitration_id >> _ERROR_SHIFT) & 0x07,
            (arbitration_id >> _DEVICE_SHIFT) & 0x0F,
            (arbitration_id >> _COMMAND_SHIFT) & 0x3F,
            (arbitration_id >> _DESTINATION_SHIFT) & 0xFF,
            arbitration_id & 0xFF,
        )


def frame(ident: InfyId, data: bytes = b"") -> CanFrame:
    return CanFrame(ident.encode(), data.ljust(8, b"\x00")[:8], is_extended_id=True)


def request(command: int, destination: int, *, group: bool, data: bytes = b"") -> CanFrame:
    device = DEVICE_GROUP if group else DEVICE_SINGLE
    return frame(InfyId(ERROR_NORMAL, device, command, destination, CONTROLLER_ADDRESS), data)


def encode_set_output(voltage_v: float, current_a: float) -> bytes:
    millivolt = max(0, min(round(voltage_v * 1000), 0xFFFFFFFF))
    milliamp = max(0, min(round(current_a * 1000), 0xFFFFFFFF))
    return struct.pack(">II", millivolt, milliamp)


def decode_set_output(data: bytes) -> tuple[float, float]:
    millivolt, milliamp = struct.unpack(">II", data[:8])
    return millivolt / 1000.0, milliamp / 1000.0


def encode_output_reading(voltage_v: float, current_a: float) -> bytes:
    return struct.pack(">ff", voltage_v, current_a)


def decode_output_reading(data: bytes) -> tuple[float, float]:
    voltage_v, current_a = struct.unpack(">ff", data[:8])
    return voltage_v, current_a


@dataclass(frozen=True, slots=True)
class ModuleStatus:
    """Reply to command 0x04 (§3.3): byte 2 group, byte 4 temperature (°C, signed), bytes 5..7 status tables
    2, 1 and 0."""

    group: int
    temperature_c: int
    table2: int
    table1: int
    table0: int

    def encode(self) -> bytes:
        return bytes([0, 0, self.group & 0xFF, 0, self.temperature_c & 0xFF, self.table2, self.table1, self.table0])

    @classmethod
    def decode(cls, data: bytes) -> ModuleStatus:
        padded = data.ljust(8, b"\x00")
        temperature = padded[4] - 256 if padded[4] > 127 else padded[4]
        return cls(padded[2], temperature, padded[5], padded[6], padded[7])

    @property
    def off(self) -> bool:
        return bool(self.table1 & T1_MODULE_OFF)

    def fault_code(self) -> str | None:
        """Our fault code for the most severe alarm bit set, None when the module is healthy (walk-in, power
        limiting and "off" are states, not faults)."""
        for table, bit, code in FAULT_BITS:
            value = (self.table0, self.table1, self.table2)[table]
            if value & bit:
                return code
        return None


#: status table 0 (byte 7) bits
T0_OUTPUT_SHORT = 0x01
T0_INTERNAL_COMMUNICATION = 0x04
T0_PFC_ABNORMAL = 0x08
T0_DISCHARGE_ABNORMAL = 0x20
#: status table 1 (byte 6) bits
T1_MODULE_OFF = 0x01
T1_MODULE_FAULT = 0x02
T1_MODULE_PROTECTION = 0x04
T1_FAN_FAULT = 0x08
T1_OVER_TEMPERATURE = 0x10
T1_OUTPUT_OVER_VOLTAGE = 0x20
T1_WALK_IN = 0x40
T1_COMMUNICATION_INTERRUPT = 0x80
#: status table 2 (byte 5) bits
T2_POWER_LIMITING = 0x01
T2_ADDRESS_DUPLICATE = 0x02
T2_LOAD_SHARING = 0x04
T2_INPUT_PHASE_LOST = 0x08
T2_INPUT_UNBALANCE = 0x10
T2_INPUT_UNDER_VOLTAGE = 0x20
T2_INPUT_OVER_VOLTAGE = 0x40
T2_PFC_OFF = 0x80

#: (table, bit, our fault code), most severe first
FAULT_BITS: tuple[tuple[int, int, str], ...] = (
    (0, T0_OUTPUT_SHORT, "module_output_short"),
    (1, T1_OUTPUT_OVER_VOLTAGE, "module_output_overvoltage"),
    (1, T1_MODULE_FAULT, "module_fault"),
    (1, T1_OVER_TEMPERATURE, "module_overtemperature"),
    (1, T1_FAN_FAULT, "module_fan_fault"),
    (1, T1_MODULE_PROTECTION, "module_protection"),
    (0, T0_PFC_ABNORMAL, "module_pfc_fault"),
    (0, T0_DISCHARGE_ABNORMAL, "module_discharge_fault"),
    (0, T0_INTERNAL_COMMUNICATION, "module_internal_communication"),
    (1, T1_COMMUNICATION_INTERRUPT, "module_communication_interrupted"),
    (2, T2_ADDRESS_DUPLICATE, "module_address_duplicate"),
    (2, T2_LOAD_SHARING, "module_load_sharing"),
    (2, T2_INPUT_PHASE_LOST, "module_input_phase_lost"),
    (2, T2_INPUT_UNDER_VOLTAGE, "module_input_undervoltage"),
    (2, T2_INPUT_OVER_VOLTAGE, "module_input_overvoltage"),
    (2, T2_INPUT_UNBALANCE, "module_input_unbalance"),
)
#: our fault code when a module stops answering
MODULE_SILENT = "module_communication_lost"
