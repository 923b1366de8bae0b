"""An InfyPower rectifier module on a CAN bus: answers the commands of `evse.hardware.drivers.infypower.protocol`
as a module does, with injectable faults.

Output model: switched on, the module regulates its output to the set-point and delivers its share of the current
the load draws (`load_a(voltage_v)`, total of the group), limited to its share of the current limit; off, it reads
0 V / 0 A. Faults: `mute` (no answer at all), `alarm(table, bits)` (status bits as the module reports them),
`module_fault()` (the module trips: fault bit set, output off), `reply_error` (every reply carries that error code).
"""

from __future__ import annotations

from collections.abc import Callable

from evse.can.channel import CanChannel, CanFrame
from evse.hardware.drivers.infypower import protocol as p


class InfyModuleEmulator:
    def __init__(
        self,
        channel: CanChannel,
        address: int,
        group: int,
        *,
        group_size: int = 1,
        max_voltage_v: float = 1000.0,
        max_current_a: float = 100.0,
        temperature_c: int = 35,
        load_a: Callable[[float], float] | None = None,
    ) -> None:
        self.channel = channel
        self.address = address
        self.group = group
        self.group_size = group_size
        self.max_voltage_v = max_voltage_v
        self.max_current_a = max_current_a
        self.temperature_c = temperature_c
        self.load_a = load_a or (lambda _voltage_v: 0.0)
        self.on = False
        self.voltage_set_v = 0.0
        self.current_limit_a = 0.0
        self.mute = False
        self.reply_error = p.ERROR_NORMAL
        self.tables = [0, 0, 0]
        #: commands received, by command number (a test aid)
        self.received: dict[int, int] = {}
        channel.set_receiver(self._on_frame)

    # ---- fault injection
    def alarm(self, table: int, bits: int) -> None:
        self.tables[table] |= bits

    def clear_alarms(self) -> None:
        self.tables = [0, 0, 0]

    def module_fault(self) -> None:
        self.alarm(1, p.T1_MODULE_FAULT)
        self.on = False

    # ---- the module's view of its output
    def output_voltage_v(self) -> float:
        return min(self.voltage_set_v, self.max_voltage_v) if self.on else 0.0

    def output_current_a(self) -> float:
        if not self.on:
            return 0.0
        share = self.load_a(self.output_voltage_v()) / max(self.group_size, 1)
        return max(0.0, min(share, self.current_limit_a, self.max_current_a))

    # ---- protocol
    def _addressed(self, ident: p.InfyId) -> bool:
        if ident.destination == p.BROADCAST_ADDRESS:
            return True
        if ident.device == p.DEVICE_GROUP:
            return ident.destination == self.group
        return ident.device == p.DEVICE_SINGLE and ident.destination == self.address

    def _on_frame(self, frame: CanFrame) -> None:
        if not frame.is_extended_id:
            return
        ident = p.InfyId.decode(frame.arbitration_id)
        if ident.source != p.CONTROLLER_ADDRESS or not self._addressed(ident):
            return
        self.received[ident.command] = self.received.get(ident.command, 0) + 1
        reply = self._handle(ident, frame.data)
        if reply is None or self.mute:
            return
        out = p.InfyId(self.reply_error, ident.device, ident.command, p.CONTROLLER_ADDRESS, self.address)
        self.channel.send(p.frame(out, reply))

    def _handle(self, ident: p.InfyId, data: bytes) -> bytes | None:
        command = ident.command
        faulted = bool(self.tables[1] & p.T1_MODULE_FAULT)
        if command == p.CMD_SET_ON_OFF:
            self.on = data[0] == p.ON and not faulted and not self.mute
            return data
        if command in (p.CMD_SET_SYSTEM_OUTPUT, p.CMD_SET_MODULE_OUTPUT):
            voltage_v, current_a = p.decode_set_output(data)
            self.voltage_set_v = voltage_v
            # a group set-point carries the group's total current: each module takes its share (§3.5)
            self.current_limit_a = current_a / self.group_size if command == p.CMD_SET_SYSTEM_OUTPUT else current_a
            return data
        if command == p.CMD_READ_MODULE_OUTPUT:
            return p.encode_output_reading(self.output_voltage_v(), self.output_current_a())
        if command == p.CMD_READ_MODULE_STATUS:
            table1 = self.tables[1] | (0 if self.on else p.T1_MODULE_OFF)
            return p.ModuleStatus(self.group, self.temperature_c, self.tables[2], table1, self.tables[0]).encode()
        return None
