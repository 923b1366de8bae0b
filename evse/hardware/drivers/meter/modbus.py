"""`EnergyMeter` for a DC meter on Modbus TCP or RTU, with the register map from the configuration.

A poll task on loop time reads energy, voltage and current every `poll_interval_s`; the role's getters return the
latest values at once. When the meter signs its readings, `ocmf_address`/`ocmf_registers` name the register area
holding the latest signed record (OCMF, `OCMF|{…}|{…}`), which `signed_value()` passes through unchanged to OCPP.
A meter that does not answer (or answers with Modbus exceptions) `failed_polls_for_fault` times in a row is a fault
(`fault()` → "meter_communication_lost"); the last readings are kept, never invented.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from evse.hardware.drivers.meter import codec
from evse.hardware.drivers.settings import MeterRegister, ModbusMeterSettings

METER_SILENT = "meter_communication_lost"
#: Modbus application protocol v1.1b3 §6.3: at most 125 registers per read
MAX_REGISTERS_PER_READ = 125


class ModbusMeter:
    def __init__(self, settings: ModbusMeterSettings, client: Any | None = None) -> None:
        self.settings = settings
        if client is None:
            if settings.transport == "tcp":
                client = AsyncModbusTcpClient(
                    settings.host, port=settings.tcp_port, timeout=settings.response_timeout_s, retries=0
                )
            else:
                client = AsyncModbusSerialClient(
                    settings.port,
                    baudrate=settings.baudrate,
                    parity=settings.parity,
                    timeout=settings.response_timeout_s,
                    retries=0,
                )
        self.client = client
        self._energy_wh = 0.0
        self._voltage_v = 0.0
        self._current_a = 0.0
        self._signed: str | None = None
        self._failed_polls = 0
        self.polls = 0
        self._task = asyncio.get_running_loop().create_task(self._run(), name="modbus-meter")

    # ---- EnergyMeter
    def energy_wh(self) -> float:
        return self._energy_wh

    def voltage_v(self) -> float:
        return self._voltage_v

    def current_a(self) -> float:
        return self._current_a

    def signed_value(self) -> str | None:
        return self._signed

    # ---- beyond the role
    def fault(self) -> str | None:
        return METER_SILENT if self._failed_polls >= self.settings.failed_polls_for_fault else None

    def shutdown(self) -> None:
        """Stop the background task and release the port (drivers with a task all have `shutdown()`)."""
        self._task.cancel()
        self.client.close()

    async def _run(self) -> None:
        while True:
            if not self.client.connected:
                await self.client.connect()
            if self.client.connected and await self._poll():
                self._failed_polls = 0
                self.polls += 1
            else:
                self._failed_polls += 1
            await asyncio.sleep(self.settings.poll_interval_s)

    async def _read(self, function: str, address: int, count: int) -> list[int] | None:
        read = self.client.read_input_registers if function == "input" else self.client.read_holding_registers
        try:
            reply = await read(address, count=count, device_id=self.settings.unit)
        except ModbusException:
            return None
        if reply.isError() or len(reply.registers) < count:
            return None
        return list(reply.registers)

    async def _value(self, spec: MeterRegister) -> float | None:
        registers = await self._read(spec.function, spec.address, codec.register_count(spec))
        return None if registers is None else codec.decode(spec, registers)

    async def _poll(self) -> bool:
        s = self.settings
        energy = await self._value(s.energy_wh)
        voltage = await self._value(s.voltage_v)
        current = await self._value(s.current_a)
        if energy is None or voltage is None or current is None:
            return False
        self._energy_wh, self._voltage_v, self._current_a = energy, voltage, current
        if s.ocmf_address >= 0 and s.ocmf_registers > 0:
            area: list[int] = []
            for start in range(0, s.ocmf_registers, MAX_REGISTERS_PER_READ):
                count = min(MAX_REGISTERS_PER_READ, s.ocmf_registers - start)
                chunk = await self._read("holding", s.ocmf_address + start, count)
                if chunk is None:
                    return False
                area += chunk
                if 0 in chunk:
                    break  # the record ended in this chunk
            text = codec.decode_text(area)
            self._signed = text or None
        return True
