"""`PowerModule` over InfyPower REG-family rectifier modules: several modules in parallel as one group per connector.

Every command goes to each module by its address (device 0x0A), the way EVerest's field-used V1.13 driver does
(InfyCanDevice.cpp: `switch_on_off`, `set_voltage_current`, `poll_status_handler`): the set-point is command 0x1C
with this module's share of the current (the total divided by the number of modules), on/off is 0x1A, readings
are 0x03 and status 0x04. The group commands (device 0x0B) are left alone: which modules answer them and whether
the current of 0x1B is the group's total is not in any public source, and a wrong guess there would multiply the
output current.

A poll task on loop time reads every module every `poll_interval_s` and re-sends the set-point while on: a module
switches itself off after 10 s without a frame from the controller (`protocol.MODULE_SILENCE_OFF_S`), and a module
that restarted picks the set-point up again. The modules are commanded off when the task starts.

Faults (`fault()`): the most severe alarm bit of any module (`protocol.FAULT_BITS`), a module silent for
`silent_timeout_s` (`module_communication_lost`), a module reporting another group number than the configured one
(`module_group_mismatch`: its group dial is wrong) or a module bus that refuses frames (`module_bus_error`).
`discharge()`: InfyPower modules bleed their output themselves when switched off (their discharge circuit is
monitored: status bit `T0_DISCHARGE_ABNORMAL`), so it switches the modules off.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from evse.can.channel import CanChannel, CanError, CanFrame
from evse.hardware.drivers.infypower import protocol as p
from evse.hardware.drivers.settings import InfyPowerSettings
from evse.hardware.roles import Listener, PowerCapabilities

log = logging.getLogger(__name__)

#: our fault code when the module bus refuses to send (bus-off, interface down)
BUS_ERROR = "module_bus_error"


@dataclass(slots=True)
class ModuleState:
    address: int
    voltage_v: float = 0.0
    current_a: float = 0.0
    status: p.ModuleStatus | None = None
    last_reply_s: float | None = None
    group_reported: bool = False


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
            if module.status.group != self.settings.group and not module.group_reported:
                module.group_reported = True
                log.error(
                    "InfyPower module %d reports group %d, the configuration gives its connector group %d: set the "
                    "module's group dial to %d or fix `group` in the configuration",
                    module.address,
                    module.status.group,
                    self.settings.group,
                    self.settings.group,
                )
            if module.status.fault_code() is not None or module.status.group != self.settings.group:
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
        self._send_setpoints()

    def enable(self) -> None:
        if self.fault() is not None:
            return  # a faulted group stays off until its fault clears
        self._on = True
        self._send_setpoints()
        self._send_each(p.CMD_SET_ON_OFF, bytes([p.ON]))

    def disable(self) -> None:
        self._on = False
        self._send_each(p.CMD_SET_ON_OFF, bytes([p.OFF]))

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
            if module.status is not None:
                if (code := module.status.fault_code()) is not None:
                    return code
                if module.status.group != self.settings.group:
                    return p.GROUP_MISMATCH
        return None

    def discharge(self) -> None:
        self.disable()

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def shutdown(self) -> None:
        """Stop the background task and release the port (drivers with a task all have `shutdown()`)."""
        self._task.cancel()

    # ---- internals
    def _send_each(self, command: int, data: bytes = b"") -> None:
        for address in self.modules:
            self._send(address, command, data)

    def _send(self, address: int, command: int, data: bytes = b"") -> None:
        try:
            self.channel.send(p.request(command, address, group=False, data=data))
        except CanError:
            self._bus_error = True
            self._on = False
            self._notify()
        else:
            self._bus_error = False

    def _send_setpoints(self) -> None:
        # each module regulates its own share: modules in parallel then add up to the group's current
        share_a = self._current_set_a / len(self.modules)
        self._send_each(p.CMD_SET_MODULE_OUTPUT, p.encode_set_output(self._voltage_set_v, share_a))

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    async def _poll(self) -> None:
        if not self._on:
            self._send_each(p.CMD_SET_ON_OFF, bytes([p.OFF]))  # a restarted controller finds its modules off
        was_faulted = False
        while True:
            if self._on:
                self._send_setpoints()
            self._send_each(p.CMD_READ_MODULE_OUTPUT)
            self._send_each(p.CMD_READ_MODULE_STATUS)
            await asyncio.sleep(self.settings.poll_interval_s)
            faulted = self.fault() is not None
            if faulted and self._on:
                # a module that faulted is off by itself; make the group's command say so too
                self.disable()
            if faulted != was_faulted:
                self._notify()
            was_faulted = faulted
