"""A Bender isoCHA425HV on Modbus RTU: pymodbus's serial server answering from the device's register map
(`evse.hardware.drivers.bender.registers`), with the device's behaviour and faults.

State the test sets: `resistance_ohm`, `voltage_v`, `voltage_l1e_v`, `voltage_l2e_v`, `alarm` (the alarm type
the device reports), `device_error` (the device's own fault), `self_test_s` (how long a self-test runs) and
`self_test_fails`. Line faults (no answer, CRC errors) belong to the cable: `PtyLink.mute` / `PtyLink.corrupt`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pymodbus import FramerType
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from evse.hardware.drivers.bender import registers as r


class BenderIsoChaEmulator:
    def __init__(self, port: str, address: int = 3, *, baudrate: int = 19200, parity: str = "E") -> None:
        self.address = address
        self.resistance_ohm = 10e6
        self.voltage_v = 0.0
        self.voltage_l1e_v = 0.0
        self.voltage_l2e_v = 0.0
        self.alarm = r.Alarm.NONE
        self.device_error = False
        self.enabled = True
        self.self_test_s = 2.0
        self.self_test_fails = False
        self.testing = False
        self.writes: list[tuple[int, list[int]]] = []
        device = SimDevice(
            id=address,
            simdata=[
                SimData(r.REG_RESISTANCE, count=24, datatype=DataType.REGISTERS),
                SimData(3000, count=30, datatype=DataType.REGISTERS),
                SimData(r.REG_CONTROL, count=1, datatype=DataType.REGISTERS),
            ],
            action=self._action,
        )
        self.server = ModbusSerialServer(
            device, framer=FramerType.RTU, port=port, baudrate=baudrate, parity=parity, bytesize=8, stopbits=1
        )

    async def start(self) -> None:
        await self.server.serve_forever(background=True)

    async def stop(self) -> None:
        await self.server.shutdown()

    # ---- the device's registers, computed on every access
    def _channels(self) -> dict[int, r.Channel]:
        test = r.Test.INTERNAL if self.testing else r.Test.NONE
        alarm = r.Alarm.DEVICE_ERROR if self.device_error else self.alarm
        validity = r.Validity.TRUE_VALUE if self.enabled else r.Validity.INVALID
        return {
            r.REG_RESISTANCE: r.Channel(self.resistance_ohm, alarm, test, validity, r.UNIT_OHM, 71),
            r.REG_VOLTAGE: r.Channel(self.voltage_v, r.Alarm.NONE, test, validity, r.UNIT_VOLT, 76),
            r.REG_VOLTAGE_L1E: r.Channel(self.voltage_l1e_v, r.Alarm.NONE, test, validity, r.UNIT_VOLT, 76),
            r.REG_VOLTAGE_L2E: r.Channel(self.voltage_l2e_v, r.Alarm.NONE, test, validity, r.UNIT_VOLT, 76),
        }

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        set_values: Any,
    ) -> None:
        if set_values is None:
            for channel_start, channel in self._channels().items():
                for offset, value in enumerate(channel.encode()):
                    index = channel_start + offset - start_address
                    if 0 <= index < len(current_registers):
                        current_registers[index] = value
            return
        values = [int(v) for v in set_values]
        self.writes.append((address, values))
        if address == r.REG_DEVICE_ENABLE:
            self.enabled = values[0] == 1
        elif address == r.REG_CONTROL and values[0] == r.SELF_TEST_COMMAND:
            self.testing = True
            asyncio.get_running_loop().call_later(self.self_test_s, self._self_test_done)

    def _self_test_done(self) -> None:
        self.testing = False
        if self.self_test_fails:
            self.device_error = True
