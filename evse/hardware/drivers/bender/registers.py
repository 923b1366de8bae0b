"""Bender isoCHA425HV Modbus register map (device manual, "Modbus register assignment"; the same facts are used
by EVerest's Apache-2.0 Bender_isoCHA425HV module). All holding registers; the device answers on 19200 8E1,
address 3 by default.

A measurement *channel* is 4 registers: an IEEE-754 float (2 registers, high word first), then one register whose
high byte is "AT&T" (alarm type in bits 0..2, test type in bits 6..7) and whose low byte is "R&U" (range validity in
bits 6..7, unit in bits 0..4), then one register with the channel description code.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

#: measurement channels (start registers, 4 registers each)
REG_RESISTANCE = 1000  # R_F, insulation resistance, Ω
REG_VOLTAGE = 1008  # U_n, DC+ to DC−, V
REG_VOLTAGE_L1E = 1016  # DC+ to earth, V
REG_VOLTAGE_L2E = 1020  # DC− to earth, V
CHANNEL_REGISTERS = 4
#: parameters
REG_DEVICE_ENABLE = 3026  # 1 = measuring, 0 = device switched off
#: control: writing `SELF_TEST_COMMAND` ("TE" in ASCII) starts the self-test
REG_CONTROL = 8005
SELF_TEST_COMMAND = 0x5445


class Alarm(IntEnum):
    """AT&T bits 0..2."""

    NONE = 0
    PRE_WARNING = 1
    DEVICE_ERROR = 2
    WARNING = 4
    ALARM = 5


class Test(IntEnum):
    """AT&T bits 6..7."""

    NONE = 0
    INTERNAL = 1
    EXTERNAL = 2


class Validity(IntEnum):
    """R&U bits 6..7."""

    TRUE_VALUE = 0
    TRUE_VALUE_SMALLER = 1
    TRUE_VALUE_BIGGER = 2
    INVALID = 3


UNIT_OHM = 2
UNIT_VOLT = 4


@dataclass(frozen=True, slots=True)
class Channel:
    value: float
    alarm: Alarm
    test: Test
    validity: Validity
    unit: int
    description: int = 0

    def encode(self) -> list[int]:
        high, low = struct.unpack(">HH", struct.pack(">f", self.value))
        att = (self.alarm & 0x07) | (self.test & 0x03) << 6
        ru = (self.unit & 0x1F) | (self.validity & 0x03) << 6
        return [high, low, att << 8 | ru, self.description]

    @classmethod
    def decode(cls, registers: list[int]) -> Channel:
        if len(registers) < CHANNEL_REGISTERS:
            raise ValueError(f"a measurement channel is {CHANNEL_REGISTERS} registers, got {len(registers)}")
        (value,) = struct.unpack(">f", struct.pack(">HH", registers[0] & 0xFFFF, registers[1] & 0xFFFF))
        att, ru = (registers[2] >> 8) & 0xFF, registers[2] & 0xFF
        alarm_bits = att & 0x07
        alarm = Alarm(alarm_bits) if alarm_bits in Alarm._value2member_map_ else Alarm.DEVICE_ERROR
        test_bits = att >> 6
        test = Test(test_bits) if test_bits in Test._value2member_map_ else Test.NONE
        return cls(value, alarm, test, Validity(ru >> 6), ru & 0x1F, registers[3] & 0xFFFF)
