"""A DC energy meter on Modbus TCP (loopback): pymodbus's TCP server answering from a register map
(`ModbusMeterSettings`), with an optional signed OCMF record area.

Set `energy_wh`, `voltage_v`, `current_a`, `ocmf` (the text the meter would sign); faults: `busy` (every request
answered with a Modbus exception "device busy") and `stop()` (the meter is gone: no answer at all).
"""

from __future__ import annotations

import socket
from typing import Any

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from evse.hardware.drivers.meter import codec
from evse.hardware.drivers.settings import ModbusMeterSettings

REGISTER_SPACE = 4096


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ModbusMeterEmulator:
    def __init__(self, settings: ModbusMeterSettings) -> None:
        self.settings = settings
        self.energy_wh = 0.0
        self.voltage_v = 0.0
        self.current_a = 0.0
        self.ocmf: str | None = None
        self.busy = False
        device = SimDevice(
            id=settings.unit,
            simdata=[SimData(0, count=REGISTER_SPACE, datatype=DataType.REGISTERS)],
            action=self._action,
        )
        self.server = ModbusTcpServer(device, framer=FramerType.SOCKET, address=(settings.host, settings.tcp_port))

    async def start(self) -> None:
        await self.server.serve_forever(background=True)

    async def stop(self) -> None:
        await self.server.shutdown()

    def _registers(self) -> dict[int, int]:
        s = self.settings
        values: dict[int, int] = {}
        for spec, value in (
            (s.energy_wh, self.energy_wh),
            (s.voltage_v, self.voltage_v),
            (s.current_a, self.current_a),
        ):
            for offset, word in enumerate(codec.encode(spec, value)):
                values[spec.address + offset] = word
        if s.ocmf_address >= 0:
            for offset, word in enumerate(codec.encode_text(self.ocmf or "", s.ocmf_registers)):
                values[s.ocmf_address + offset] = word
        return values

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        set_values: Any,
    ) -> ExcCodes | None:
        if self.busy:
            return ExcCodes.DEVICE_BUSY
        for register, word in self._registers().items():
            index = register - start_address
            if 0 <= index < len(current_registers):
                current_registers[index] = word
        return None
