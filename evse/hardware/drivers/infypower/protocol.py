"""InfyPower REG-family rectifier modules: the CAN protocol (V1.13, extended 29-bit frames, 125 kbit/s, 8-byte data).

The vendor's document is "REG/CEG/LRG series Charger Module CAN Communication Protocol V1.13" (Shenzhen Infypower);
it is not published by the vendor. Every fact below was checked against public drivers that implement it (facts
carry over, their code does not; this code is our own):

- [EV] EVerest, Apache-2.0, github.com/EVerest/EVerest modules/HardwareDrivers/PowerSupplies/InfyPower/:
  README.md ("CAN Protocol Details", "Safety Notes"), can_driver_acdc/CanPackets.hpp/.cpp, InfyCanDevice.cpp,
  wireshark/infypower_can.lua (a dissector of the same protocol).
- [CB] chargebyte, Apache-2.0, github.com/chargebyte/everest-chargebyte modules/InfypowerDCSupply/InfypowerCANID.hpp
  (identifier fields, error codes, the command list of the REG series).
- [YFY] a public C library for these modules (英飞源 = InfyPower), yfy_data_acdc.c / yfy_interface.c (status
  tables bit by bit; the search index did not name its repository).

Not this protocol: the BEC/BEG series (e.g. BEG1K075G) share the identifier layout but speak commands 0x23 (read)
/ 0x24 (write) with a register number in bytes 0..1 ([CB] InfypowerCANID.hpp "the BEC/BEG series only use 0x23
and 0x24"; EVerest's InfyPower_BEG1K075G/can_driver_acdc/CanPackets.hpp). This driver does not support them.

Identifier layout ([EV] README "CAN ID Structure", [CB] InfypowerCANID.hpp):

    bits 28..26  error code      (0 = normal; in replies: 2 = command invalid, 3 = data invalid, 7 = starting)
    bits 25..22  device number   (0x0A = controller ↔ one module, 0x0B = controller ↔ a group)
    bits 21..16  command number
    bits 15..8   destination address
    bits  7..0   source address

Data are 8 bytes, multi-byte fields big-endian ([EV] Conversions.hpp: be32toh / htobe32). Set-points are unsigned
mV / mA; readings of command 0x03 are IEEE-754 single floats in V / A.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from evse.can.channel import CanFrame

#: device number, controller ↔ one module / controller ↔ a group ([EV] CanPackets.hpp DEVICE_SINGLE_MODULE /
#: DEVICE_GROUP_MODULE, [CB] InfypowerCANID.hpp device_no)
DEVICE_SINGLE = 0x0A
DEVICE_GROUP = 0x0B
#: the controller's default address; the protocol allows 0xF0..0xF8 ([EV] manifest.yaml controller_address,
#: [CB] manifest.yaml can_source_address)
CONTROLLER_ADDRESS = 0xF0
#: broadcast destination ([CB] InfypowerCANID.hpp BROADCAST_ADDR)
BROADCAST_ADDRESS = 0x3F
#: module addresses are 0x00..0x3E, 0x3F being the broadcast (EVerest InfyPower_BEG1K075G CanPackets.hpp, the
#: shared identifier layout); [CB] caps a group at 60 modules
MODULE_ADDRESS_MAX = 0x3E
#: "If the charger module did not receive the message for 10 seconds from the controller, the charger module will
#: off" (V1.13, quoted in [EV] README "InfyPower Module Internal Timeout")
MODULE_SILENCE_OFF_S = 10.0

#: command numbers ([EV] CanPackets.hpp CMD_ID and wireshark CMD_NAMES; [CB] InfypowerCANID.hpp enum cmd)
CMD_READ_SYSTEM_OUTPUT = 0x01  # a group's / the system's voltage and current, float V / float A ([YFY])
CMD_READ_MODULE_COUNT = 0x02  # reply byte 2: number of modules ([EV] ReadModuleCount)
CMD_READ_MODULE_OUTPUT = 0x03  # one module's voltage and current, float V / float A ([EV] ReadModuleVI)
CMD_READ_MODULE_STATUS = 0x04  # group number, temperature, three status tables ([EV] PowerModuleStatus)
CMD_READ_MODULE_CAPABILITIES = 0x0A  # u16 max V, u16 min V, u16 max current 0.1 A, u16 rated power 10 W ([EV])
CMD_SET_ON_OFF = 0x1A  # byte 0: 0 = on, 1 = off ([EV] SetModuleOnOff)
CMD_SET_SYSTEM_OUTPUT = 0x1B  # [CB] write_system_output; its current's meaning (group total?) is not public
CMD_SET_MODULE_OUTPUT = 0x1C  # u32 mV, u32 mA, this module's own set-point ([EV] SetModuleVI)

#: data byte 0 of command 0x1A ([EV] SetModuleOnOff: `on ? 0x00 : 0x01`)
ON = 0x00
OFF = 0x01

#: error codes in the identifier of a reply ([CB] InfypowerCANID.hpp enum error_code)
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
    # every frame carries 8 data bytes; a read request is 8 zero bytes ([EV] README "Message Length: 8 bytes")
    return CanFrame(ident.encode(), data.ljust(8, b"\x00")[:8], is_extended_id=True)


def request(command: int, destination: int, *, group: bool, data: bytes = b"") -> CanFrame:
    device = DEVICE_GROUP if group else DEVICE_SINGLE
    return frame(InfyId(ERROR_NORMAL, device, command, destination, CONTROLLER_ADDRESS), data)


def encode_set_output(voltage_v: float, current_a: float) -> bytes:
    """Data of command 0x1C: u32 mV, u32 mA, big-endian ([EV] SetModuleVI, wireshark cmd 0x1C)."""
    millivolt = max(0, min(round(voltage_v * 1000), 0xFFFFFFFF))
    milliamp = max(0, min(round(current_a * 1000), 0xFFFFFFFF))
    return struct.pack(">II", millivolt, milliamp)


def decode_set_output(data: bytes) -> tuple[float, float]:
    millivolt, milliamp = struct.unpack(">II", data.ljust(8, b"\x00")[:8])
    return millivolt / 1000.0, milliamp / 1000.0


def encode_output_reading(voltage_v: float, current_a: float) -> bytes:
    """Data of the reply to command 0x03: float V (bytes 0..3), float A (bytes 4..7), big-endian ([EV] ReadModuleVI,
    wireshark `tvb_float_be`)."""
    return struct.pack(">ff", voltage_v, current_a)


def decode_output_reading(data: bytes) -> tuple[float, float]:
    voltage_v, current_a = struct.unpack(">ff", data.ljust(8, b"\x00")[:8])
    return voltage_v, current_a


@dataclass(frozen=True, slots=True)
class ModuleStatus:
    """Reply to command 0x04: byte 2 group number, byte 4 ambient temperature (°C, signed), byte 5 status table 2,
    byte 6 table 1, byte 7 table 0 ([EV] PowerModuleStatus and wireshark cmd 0x04; [YFY] stModuleInfo)."""

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
        return bool(self.table1 & T1_DC_SIDE_OFF)

    @property
    def sleeping(self) -> bool:
        return bool(self.table0 & T0_SLEEPING)

    def fault_code(self) -> str | None:
        """Our fault code for the most severe alarm bit set, None when the module is healthy (walk-in, power
        limiting, sleeping, DC side off and PFC side off are states, not faults)."""
        for table, bit, code in FAULT_BITS:
            value = (self.table0, self.table1, self.table2)[table]
            if value & bit:
                return code
        return None


#: status table 0 (byte 7): bits 0, 4, 5 in [EV] and [YFY]; bits 2, 3 in [YFY] only (EVerest ignores them)
T0_OUTPUT_SHORT = 0x01
T0_INTERNAL_COMMUNICATION = 0x04  # [YFY] module_internal_comm_fault
T0_INPUT_OR_BUS_ABNORMAL = 0x08  # [YFY] input_or_bus_abnormal (输入或母线异常)
T0_SLEEPING = 0x10
T0_DISCHARGE_ABNORMAL = 0x20
#: status table 1 (byte 6), the same in [EV] and [YFY]
T1_DC_SIDE_OFF = 0x01
T1_MODULE_FAULT = 0x02
T1_MODULE_PROTECTION = 0x04
T1_FAN_FAULT = 0x08
T1_OVER_TEMPERATURE = 0x10
T1_OUTPUT_OVER_VOLTAGE = 0x20
T1_WALK_IN = 0x40
T1_COMMUNICATION_INTERRUPT = 0x80
#: status table 2 (byte 5), the same in [EV] and [YFY] except bit 7 ([EV] pfc_side_off, a state; [YFY] "PFC fault")
T2_POWER_LIMITING = 0x01
T2_ADDRESS_DUPLICATE = 0x02
T2_LOAD_SHARING = 0x04  # [EV] load_sharing_alarm, [YFY] severe current imbalance
T2_INPUT_PHASE_LOST = 0x08
T2_INPUT_UNBALANCE = 0x10
T2_INPUT_UNDER_VOLTAGE = 0x20
T2_INPUT_OVER_VOLTAGE = 0x40
T2_PFC_OFF = 0x80

#: (table, bit, our fault code), most severe first. Every alarm is a fault here (the group is switched off): EVerest
#: reports several of them only as vendor warnings; a charger that stops on them is on the safe side.
FAULT_BITS: tuple[tuple[int, int, str], ...] = (
    (0, T0_OUTPUT_SHORT, "module_output_short"),
    (1, T1_OUTPUT_OVER_VOLTAGE, "module_output_overvoltage"),
    (1, T1_MODULE_FAULT, "module_fault"),
    (1, T1_OVER_TEMPERATURE, "module_overtemperature"),
    (1, T1_FAN_FAULT, "module_fan_fault"),
    (1, T1_MODULE_PROTECTION, "module_protection"),
    (0, T0_INPUT_OR_BUS_ABNORMAL, "module_input_or_bus_abnormal"),
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
#: our fault code when a module reports another group number than the configuration gives it
GROUP_MISMATCH = "module_group_mismatch"
