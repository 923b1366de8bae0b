"""An InfyPower REG-family rectifier module on a CAN bus: answers the V1.13 commands of
`evse.hardware.drivers.infypower.protocol` as the public sources describe a module, with injectable faults.

What it answers (every reply: destination = the controller, source = this module's address, the request's device
number and command, 8 data bytes):

- addressed as one module (device 0x0A, destination = its address) or by the broadcast (destination 0x3F):
  0x03 output reading, 0x04 status, 0x1A on/off, 0x1C this module's own set-point. A broadcast 0x1C gives every
  module the whole current (EVerest's manifest warns of exactly this), so a group must be set module by module.
- commands it does not know, and group-addressed ones (device 0x0B): no answer. Which modules answer a group
  command, and what the current of 0x1B means, is not in the public sources; an emulator that guessed would
  only confirm the driver's guess.

Whether a real module answers set commands (0x1A, 0x1C) is not public either; this one echoes their data, which the
driver only takes as a sign of life. A module that hears nothing from the controller for
`protocol.MODULE_SILENCE_OFF_S` switches itself off, as V1.13 says.

Output model: switched on, the module regulates its output to the set-point and delivers its share of the current
the load draws (`load_a(voltage_v)`, total of the group), limited to its current set-point; off, it reads
0 V / 0 A. Faults: `mute` (no answer at all), `alarm(table, bits)` (status bits as the module reports them),
`module_fault()` (the module trips: fault bit set, output off), `reply_error` (every reply carries that error code).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from evse.can.channel import CanChannel, CanFrame
from evse.hardware.drivers.infypower import protocol as p

#: commands a module answers when addressed alone or by the broadcast
_ANSWERED = frozenset({p.CMD_READ_MODULE_OUTPUT, p.CMD_READ_MODULE_STATUS, p.CMD_SET_ON_OFF, p.CMD_SET_MODULE_OUTPUT})


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
        #: times the module switched itself off because the controller fell silent (a test aid)
        self.silence_offs = 0
        self._silence: asyncio.TimerHandle | None = None
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

    def controller_lost(self) -> None:
        """No frame from the controller for `MODULE_SILENCE_OFF_S`: the module switches its output off."""
        self._silence = None
        if self.on:
            self.silence_offs += 1
        self.on = False

    # ---- protocol
    def _addressed(self, ident: p.InfyId) -> bool:
        if ident.destination == p.BROADCAST_ADDRESS:
            return True
        return ident.device == p.DEVICE_SINGLE and ident.destination == self.address

    def _on_frame(self, frame: CanFrame) -> None:
        if not frame.is_extended_id:
            return
        ident = p.InfyId.decode(frame.arbitration_id)
        if ident.source != p.CONTROLLER_ADDRESS:
            return
        self._controller_heard()
        if not self._addressed(ident) or ident.command not in _ANSWERED:
            return
        self.received[ident.command] = self.received.get(ident.command, 0) + 1
        reply = self._handle(ident, frame.data)
        if reply is None or self.mute:
            return
        out = p.InfyId(self.reply_error, ident.device, ident.command, p.CONTROLLER_ADDRESS, self.address)
        self.channel.send(p.frame(out, reply))

    def _controller_heard(self) -> None:
        # any frame of the controller keeps the module alive (V1.13: "did not receive the message for 10 seconds")
        if self._silence is not None:
            self._silence.cancel()
        self._silence = asyncio.get_running_loop().call_later(p.MODULE_SILENCE_OFF_S, self.controller_lost)

    def _handle(self, ident: p.InfyId, data: bytes) -> bytes | None:
        command = ident.command
        faulted = bool(self.tables[1] & p.T1_MODULE_FAULT)
        if command == p.CMD_SET_ON_OFF:
            self.on = data[:1] == bytes([p.ON]) and not faulted and not self.mute
            return data
        if command == p.CMD_SET_MODULE_OUTPUT:
            self.voltage_set_v, self.current_limit_a = p.decode_set_output(data)
            return data
        if command == p.CMD_READ_MODULE_OUTPUT:
            return p.encode_output_reading(self.output_voltage_v(), self.output_current_a())
        if command == p.CMD_READ_MODULE_STATUS:
            table1 = self.tables[1] | (0 if self.on else p.T1_DC_SIDE_OFF)
            return p.ModuleStatus(self.group, self.temperature_c, self.tables[2], table1, self.tables[0]).encode()
        return None
