"""InfyPower module emulators whose output is the simulated plant's power stage: the whole simulated session runs
through the real InfyPower driver and CAN protocol, while the physics (battery, cable, contactors) stays in
`evse.sim`.

Selected in the configuration with `interface = "sim"` on the `infypower` driver:

    power_module = { driver = "infypower", params = { interface = "sim", group = 1, modules = [1, 2] } }

Every module forwards its commands to the connector's `SimPowerModule` (the driver sends each module the same
voltage and its share of the current, so each module's set-point times the group size is the plant's: idempotent)
and reports its share of the plant's measured output. A module that hears nothing from the controller for 10 s
switches off, here too.
"""

from __future__ import annotations

from evse.can.channel import CanChannel
from evse.hardware.drivers.emulators.infypower import InfyModuleEmulator
from evse.hardware.drivers.infypower import protocol as p
from evse.sim.hardware.power import SimPowerModule


class PlantBackedModule(InfyModuleEmulator):
    def __init__(self, channel: CanChannel, address: int, group: int, power: SimPowerModule, group_size: int) -> None:
        super().__init__(channel, address, group, group_size=group_size)
        self.power = power
        power.add_listener(lambda: None)  # keeps the plant ticking while nothing else listens to it

    def module_fault(self) -> None:
        super().module_fault()
        self.power.discharge()

    def output_voltage_v(self) -> float:
        return self.power.measured_voltage_v()

    def output_current_a(self) -> float:
        return self.power.measured_current_a() / max(self.group_size, 1)

    def controller_lost(self) -> None:
        was_on = self.on
        super().controller_lost()
        if was_on:
            self.power.discharge()

    def _handle(self, ident: p.InfyId, data: bytes) -> bytes | None:
        reply = super()._handle(ident, data)
        if ident.command == p.CMD_SET_ON_OFF:
            if self.on:
                self.power.enable()
            else:
                # a real module bleeds its output capacitors when switched off: the plant's discharge path
                self.power.discharge()
        elif ident.command == p.CMD_SET_MODULE_OUTPUT:
            voltage_v, share_a = p.decode_set_output(data)
            self.power.set_target(voltage_v, share_a * max(self.group_size, 1))
        return reply
