"""`PowerModule` over InfyPower rectifier modules: several modules in parallel as one group per connector.

Commands go to the group (device 0x0B, destination = group number) so every module of the connector takes the
same voltage and its share of the current at once; readings and status are read per module (each module answers
a group read with its own address as source). A poll task on loop time reads them every `poll_interval_s` and
re-sends the set-point while on, so a module that restarted picks it up again.

Faults (`fault()`): the most severe alarm bit of any module (`protocol.FAULT_BITS`), a module silent for
`silent_timeout_s` (`module_communication_lost`) or a module bus that refuses frames (`module_bus_error`).
`discharge()`: InfyPower modules bleed their output themselves when switched off (their discharge circuit is
monitored: status bit `T0_DISCHARGE_ABNORMAL`), so it switches the group off.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from evse.can.channel import CanChannel, CanError, CanFrame
from evse.hardware.drivers.infypower import protocol as p
from evse.hardware.drivers.settings import InfyPowerSettings
from evse.hardware.roles import Listener, PowerCapabilities

#: our fault code when the module bus refuses to send (bus-off, interface down)
BUS_ERROR = "module_bus_error"


@dataclass(slots=True)
class ModuleState:
    address: int
    voltage_v: float = 0.0
    current_a: float = 0.0
    status: p.ModuleStatus | None = None
    last_reply_s: float | None = None


class InfyPowerGroup:
    """One connector's group of InfyPower modules on a module bus (`CanChannel`, shared with other groups)."""

    def __init__(self, channel: CanChannel, settings: InfyPowerSettings) -> None:
        self.channel = channel
        self.settings = settings
        self.modules = {address: ModuleState(address) for address in settings.modules}
        self._listeners: list[Listener] = []
        self._on = False
        self._voltage_set_v = 0.0
        self._current_set_a = 0.0
        self._bus_error = False
        self._loop = asyncio.get_running_loop()
        self._started_s = self._loop.time()
        self._task = self._loop.create_task(self._poll(), name=f"infypower-group-{settings.group}")

    # ---- frames from the bus (called by the owner of the channel, see `ModuleBus`)
    def owns(self, frame: CanFrame) -> bool:
        ident = p.InfyId.decode(frame.arbitration_id)
        return ident.destination == p.CONTROLLER_ADDRESS and ident.source in self.modules

    def on_frame(self, frame: CanFrame) -> None:
        ident = p.InfyId.decode(frame.arbitration_id)
        module = self.modules.get(ident.source)
        if module is None or ident.destination != p.CONTROLLER_ADDRESS:
            return
        module.last_reply_s = self._loop.time()
        if ident.error_code != p.ERROR_NORMAL:
            return  # a refused command still proves the module is alive; the next refresh retries
        if ident.command == p.CMD_READ_MODULE_OUTPUT:
            module.voltage_v, module.current_a = p.decode_output_reading(frame.data)
            self._notify()
        elif ident.command == p.CMD_READ_MODULE_STATUS:
            module.status = p.ModuleStatus.decode(frame.data)
            if module.status.fault_code() is not None:
                self._notify()

    # ---- PowerModule
    def capabilities(self) -> PowerCapabilities:
        s = self.settings
        n = len(self.modules)
        return PowerCapabilities(
            max_voltage_v=s.module_max_voltage_v,
            min_voltage_v=s.module_min_voltage_v,
            max_current_a=s.module_max_current_a * n,
            min_current_a=0.0,
            max_power_w=s.module_max_power_w * n,
        )

    def set_target(self, voltage_v: float, current_a: float) -> None:
        caps = self.capabilities()
        self._voltage_set_v = min(max(voltage_v, 0.0), caps.max_voltage_v)
        current = min(max(current_a, 0.0), caps.max_current_a)
        if self._voltage_set_v > 0:
            current = min(current, caps.max_power_w / self._voltage_set_v)
        self._current_set_a = current
        self._send_setpoint()

    def enable(self) -> None:
        if self.fault() is not None:
            return  # a faulted group stays off until its fault clears
        self._on = True
        self._send_setpoint()
        self._send(p.CMD_SET_ON_OFF, bytes([p.ON]))

    def disable(self) -> None:
        self._on = False
        self._send(p.CMD_SET_ON_OFF, bytes([p.OFF]))

    def enabled(self) -> bool:
        return self._on and self.fault() is None

    def measured_voltage_v(self) -> float:
        # modules in parallel share one output: the highest reading is the output (a module off reads ~0)
        return max((m.voltage_v for m in self.modules.values()), default=0.0)

    def measured_current_a(self) -> float:
        return sum(m.current_a for m in self.modules.values())

    def fault(self) -> str | None:
        if self._bus_error:
            return BUS_ERROR
        now = self._loop.time()
        for module in self.modules.values():
            since = module.last_reply_s if module.last_reply_s is not None else self._started_s
            if now - since > self.settings.silent_timeout_s:
                return p.MODULE_SILENT
            if module.status is not None and (code := module.status.fault_code()) is not None:
                return code
        return None

    def discharge(self) -> None:
        self.disable()

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def shutdown(self) -> None:
        """Stop the background task and release the port (drivers with a task all have `shutdown()`)."""
        self._task.cancel()

    # ---- internals
    def _send(self, command: int, data: bytes = b"") -> None:
        try:
            self.channel.send(p.request(command, self.settings.group, group=True, data=data))
        except CanError:
            self._bus_error = True
            self._on = False
            self._notify()
        else:
            self._bus_error = False

    def _send_setpoint(self) -> None:
        self._send(p.CMD_SET_SYSTEM_OUTPUT, p.encode_set_output(self._voltage_set_v, self._current_set_a))

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    async def _poll(self) -> None:
        was_faulted = False
        while True:
            if self._on:
                self._send_setpoint()
            self._send(p.CMD_READ_MODULE_OUTPUT)
            self._send(p.CMD_READ_MODULE_STATUS)
            await asyncio.sleep(self.settings.poll_interval_s)
            faulted = self.fault() is not None
            if faulted and self._on:
                # a module that faulted is off by itself; make the group's command say so too
                self.disable()
            if faulted != was_faulted:
                self._notify()
            was_faulted = faulted
