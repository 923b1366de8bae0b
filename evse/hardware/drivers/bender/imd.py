"""`InsulationMonitor` for the Bender isoCHA425HV over Modbus RTU (pymodbus over pyserial).

One asyncio task owns the serial line: every `poll_interval_s` it first writes the commands queued by the
synchronous role methods (`start`, `stop`, `start_self_test` only queue: they must not block), then reads the
resistance channel, the DC voltage and both voltages to earth. While measuring, every complete reading is pushed
to the listeners as an `InsulationSample`.

Device faults (`InsulationSample.device_fault`, `device_fault()`): the device's own "device error" alarm, or
`failed_polls_for_fault` reads in a row without a valid answer (no answer, CRC error — pymodbus drops a frame
with a bad CRC, so both end in a timeout). Readings taken while the device runs a test are not measurements and
are not pushed. Self-test: running once the device reports a test, passed when it ends without a device error;
no start within `self_test_timeout_s` or a failed command is a failed self-test.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pymodbus.client import AsyncModbusSerialClient
from pymodbus.exceptions import ModbusException

from evse.hardware.drivers.bender import registers as r
from evse.hardware.drivers.settings import BenderIsoChaSettings
from evse.hardware.roles import InsulationSample, Listener


class BenderIsoChaImd:
    def __init__(self, settings: BenderIsoChaSettings, client: Any | None = None) -> None:
        self.settings = settings
        self.client = client or AsyncModbusSerialClient(
            settings.port,
            baudrate=settings.baudrate,
            parity=settings.parity,
            bytesize=8,
            stopbits=1,
            timeout=settings.response_timeout_s,
            retries=0,
        )
        self._listeners: list[Listener] = []
        self._measuring = False
        self._latest: InsulationSample | None = None
        self._pending: list[tuple[int, int]] = []
        self._failed_polls = 0
        self._device_error = False
        self._self_test: str = "idle"  # idle | requested | running
        self._self_test_result: bool | None = None
        self._self_test_deadline_s = 0.0
        #: the last alarm the device reported on the resistance channel (pre-warning, warning, alarm)
        self.alarm = r.Alarm.NONE
        self.polls = 0
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name=f"bender-imd-{settings.port}")

    # ---- InsulationMonitor
    def start(self) -> None:
        self._measuring = True
        if self.settings.disable_on_stop:
            self._pending.append((r.REG_DEVICE_ENABLE, 1))

    def stop(self) -> None:
        self._measuring = False
        if self.settings.disable_on_stop:
            self._pending.append((r.REG_DEVICE_ENABLE, 0))

    def start_self_test(self) -> None:
        if self.settings.disable_on_stop:
            self._pending.append((r.REG_DEVICE_ENABLE, 1))
        self._pending.append((r.REG_CONTROL, r.SELF_TEST_COMMAND))
        self._self_test = "requested"
        self._self_test_result = None
        self._self_test_deadline_s = self._loop.time() + self.settings.self_test_timeout_s

    def self_test_result(self) -> bool | None:
        return self._self_test_result

    def latest(self) -> InsulationSample | None:
        return self._latest

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    # ---- beyond the role
    def device_fault(self) -> bool:
        return self._device_error or self._failed_polls >= self.settings.failed_polls_for_fault

    def shutdown(self) -> None:
        """Stop the background task and release the port (drivers with a task all have `shutdown()`)."""
        self._task.cancel()
        self.client.close()

    # ---- the poll task
    async def _run(self) -> None:
        while True:
            if not self.client.connected:
                await self.client.connect()
            if self.client.connected:
                await self._write_pending()
                await self._poll()
            else:
                self._failed()
            self._check_self_test_timeout()
            await asyncio.sleep(self.settings.poll_interval_s)

    async def _write_pending(self) -> None:
        while self._pending:
            register, value = self._pending[0]
            try:
                reply = await self.client.write_registers(register, [value], device_id=self.settings.address)
                ok = not reply.isError()
            except ModbusException:
                ok = False
            if not ok:
                self._failed()
                if register == r.REG_CONTROL and self._self_test == "requested":
                    self._finish_self_test(False)
                    self._pending.pop(0)
                return  # the bus is not answering: keep the rest for the next round
            self._pending.pop(0)

    async def _read(self, start: int, count: int) -> list[int] | None:
        try:
            reply = await self.client.read_holding_registers(start, count=count, device_id=self.settings.address)
        except ModbusException:
            return None
        if reply.isError() or len(reply.registers) < count:
            return None
        return list(reply.registers)

    async def _poll(self) -> None:
        resistance = await self._read(r.REG_RESISTANCE, r.CHANNEL_REGISTERS)
        voltage = await self._read(r.REG_VOLTAGE, r.CHANNEL_REGISTERS)
        to_earth = await self._read(r.REG_VOLTAGE_L1E, 2 * r.CHANNEL_REGISTERS)
        if resistance is None or voltage is None or to_earth is None:
            self._failed()
            return
        self.polls += 1
        self._failed_polls = 0
        rf = r.Channel.decode(resistance)
        l1e = r.Channel.decode(to_earth[:4])
        l2e = r.Channel.decode(to_earth[4:])
        self._device_error = rf.alarm == r.Alarm.DEVICE_ERROR
        self.alarm = rf.alarm if rf.alarm != r.Alarm.DEVICE_ERROR else r.Alarm.NONE
        self._track_self_test(rf.test)
        if rf.test != r.Test.NONE or not self._measuring:
            return
        if rf.validity == r.Validity.INVALID and not self._device_error:
            return  # the device has no valid value yet (measurement just started)
        self._publish(
            InsulationSample(
                t_s=self._loop.time(),
                resistance_ohm=rf.value if rf.validity != r.Validity.INVALID else 0.0,
                voltage_to_earth_v=max(abs(l1e.value), abs(l2e.value)),
                device_fault=self._device_error,
            )
        )

    def _failed(self) -> None:
        self._failed_polls += 1
        if self._failed_polls == self.settings.failed_polls_for_fault and self._measuring:
            last = self._latest
            self._publish(
                InsulationSample(
                    t_s=self._loop.time(),
                    resistance_ohm=last.resistance_ohm if last else 0.0,
                    voltage_to_earth_v=last.voltage_to_earth_v if last else 0.0,
                    device_fault=True,
                )
            )

    def _track_self_test(self, test: r.Test) -> None:
        if self._self_test == "requested" and test != r.Test.NONE:
            self._self_test = "running"
        elif self._self_test == "running" and test == r.Test.NONE:
            self._finish_self_test(not self._device_error)

    def _check_self_test_timeout(self) -> None:
        if self._self_test != "idle" and self._loop.time() > self._self_test_deadline_s:
            self._finish_self_test(False)

    def _finish_self_test(self, passed: bool) -> None:
        self._self_test = "idle"
        self._self_test_result = passed
        self._notify()

    def _publish(self, sample: InsulationSample) -> None:
        self._latest = sample
        self._notify()

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()
