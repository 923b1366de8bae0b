"""An emulated Yeti-family board whose relays, lock and CP are the simulated plant's: a whole simulated session
runs through the real board driver and its serial protocol (over an in-process pipe), while the physics stays in
`evse.sim`. Selected with `port = "sim"` on the `yeti` drivers:

    contactors = { driver = "yeti", params = { port = "sim" } }
    lock = { driver = "yeti", params = { port = "sim" } }

The board's connector `channel` is the station connector's plant: a coil request switches the plant's contactors
(their mirror contacts, with the plant's delays and welding, are what the board reports), lock commands move the
plant's lock, PWM commands drive the plant's CP generator and the CP/PP the plant's vehicle presents are reported.
"""

from __future__ import annotations

from evse.hardware.drivers.emulators.yeti import YetiBoardEmulator
from evse.hardware.drivers.yeti import messages as m
from evse.hardware.drivers.yeti.board_roles import PP_OHM
from evse.hardware.drivers.yeti.link import Transport
from evse.hardware.roles import CpState
from evse.sim.plant import ConnectorPlant

_CP = {
    CpState.A: m.CpState.STATE_A,
    CpState.B: m.CpState.STATE_B,
    CpState.C: m.CpState.STATE_C,
    CpState.D: m.CpState.STATE_D,
    CpState.E: m.CpState.STATE_E,
    CpState.F: m.CpState.STATE_F,
}


class PlantBackedBoard(YetiBoardEmulator):
    def __init__(self, transport: Transport, plant: ConnectorPlant, channel: int = 1) -> None:
        # the plant has its own contactor and lock delays: the board adds none
        super().__init__(transport, relay_delay_s=0.0, lock_delay_s=0.0)
        self.plant = plant
        self.channel = channel

    def apply_coil(self, connector: int, coil: m.CoilType, on: bool) -> None:
        super().apply_coil(connector, coil, on)
        if connector == self.channel:
            if on:
                self.plant.contactors.close()
            else:
                self.plant.contactors.open()

    def coil_closed(self, connector: int, coil: m.CoilType) -> bool:
        if connector == self.channel:
            return self.plant.contactors.feedback_closed()
        return super().coil_closed(connector, coil)

    def apply_lock(self, connector: int, locked: bool) -> None:
        if connector != self.channel:
            super().apply_lock(connector, locked)
        elif locked:
            self.plant.lock.lock()
        else:
            self.plant.lock.unlock()

    def lock_reading(self, connector: int) -> m.LockState:
        if connector != self.channel:
            return super().lock_reading(connector)
        return m.LockState.LOCKED if self.plant.lock.locked() else m.LockState.UNLOCKED

    def apply_pwm(self, connector: int, duty_e2: int) -> None:
        super().apply_pwm(connector, duty_e2)
        if connector != self.channel:
            return
        if duty_e2 == m.PWM_STEADY_F:
            self.plant.pilot.set_state_f()
        else:
            self.plant.pilot.set_pwm(None if duty_e2 >= m.PWM_STEADY_X1 else duty_e2 / 100)

    def cp_reading(self, connector: int) -> tuple[m.CpState, float]:
        if connector != self.channel:
            return super().cp_reading(connector)
        pilot = self.plant.pilot
        state = pilot.state()
        diode_fault = state == CpState.DIODE_FAULT
        self.connectors[connector].errors["diode_fault"] = diode_fault
        return _CP.get(state, m.CpState.STATE_C if diode_fault else m.CpState.STATE_E), pilot.high_voltage_v()

    def pp_reading(self, connector: int) -> m.PpState:
        if connector != self.channel:
            return super().pp_reading(connector)
        ohm = self.plant.pilot.proximity_ohm()
        if ohm is None:
            return m.PpState.STATE_NC
        return min(PP_OHM, key=lambda pp: abs(PP_OHM[pp] - ohm))
