"""Simulated signal lines: the control pilot with proximity (CCS) and the CHAdeMO / GB/T auxiliary lines.

The vehicle side sets its inputs through the plant (`set_vehicle_line`); the charger reads voltages with noise
and with the offset of a worn contact (a fault that shifts CP / CC1 towards the edge of their windows).
Input changes are pushed to listeners on the next loop pass, like an interrupt from the control board.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evse.hardware.roles import CpState, Listener
from evse.sim.hardware.listeners import Listeners
from evse.sim.settings import SimSignalSettings

if TYPE_CHECKING:
    from evse.sim.plant import ConnectorPlant

#: nominal CP high level per state the vehicle presents (IEC 61851-1 Table A.4; see iec61851-ccs.md)
CP_NOMINAL_V: dict[str, float] = {"A": 12.0, "B": 9.0, "C": 6.0, "D": 3.0, "E": 0.0}
#: CP level the EVSE drives for state F (IEC 61851-1)
CP_STATE_F_V = -12.0
#: GB/T 18487.1 detection point 1: gun inserted and latched
CC1_CONNECTED_V = 4.0
OUTPUT_LINES = ("d1", "d2", "aux_12v", "aux_24v")
INPUT_LINES = ("k", "connected", "cc1")


class SimControlPilot:
    """`ControlPilot` of one simulated connector."""

    def __init__(self, plant: ConnectorPlant, settings: SimSignalSettings) -> None:
        self._plant = plant
        self.settings = settings
        self.listeners = Listeners()
        self.duty_pct: float | None = None
        self.state_f = False
        self.vehicle_state = "A"
        self.plugged = False
        self.worn_offset_v = 0.0
        self.diode_fault = False

    # ---- ControlPilot
    def high_voltage_v(self) -> float:
        if self.state_f:
            return CP_STATE_F_V
        nominal = CP_NOMINAL_V.get(self.vehicle_state, 12.0) if self.plugged else 12.0
        offset = self.worn_offset_v if self.plugged else 0.0
        return nominal + offset + self._plant.rng.gauss(0.0, self.settings.cp_noise_v)

    def state(self) -> CpState:
        if self.state_f:
            return CpState.F
        if self.diode_fault and self.plugged and self.duty_pct is not None:
            return CpState.DIODE_FAULT
        level = self.high_voltage_v()
        window = self.settings.cp_window_v
        for name, nominal in CP_NOMINAL_V.items():
            if abs(level - nominal) <= window:
                return CpState(name)
        # outside every decision window: the EVSE cannot tell the state; treat it as a CP fault (E)
        return CpState.E

    def set_pwm(self, duty_pct: float | None) -> None:
        self.state_f = False
        changed = duty_pct != self.duty_pct
        self.duty_pct = duty_pct
        if changed:
            self._plant.charger_output_changed()

    def set_state_f(self) -> None:
        self.state_f = True
        self.duty_pct = None
        self._plant.charger_output_changed()

    def proximity_ohm(self) -> float | None:
        return self.settings.proximity_ohm if self.plugged else None

    def add_listener(self, listener: Listener) -> None:
        self.listeners.add(listener)

    # ---- vehicle side
    def set_vehicle_state(self, state: str) -> None:
        if state not in CP_NOMINAL_V:
            raise ValueError(f"CP state {state!r}: a vehicle presents one of {', '.join(CP_NOMINAL_V)}")
        if state != self.vehicle_state:
            self.vehicle_state = state
            self.listeners.notify_soon()


class SimVehicleLines:
    """`VehicleLines` of one simulated connector: d1/d2/aux outputs, k/connected/CC1 inputs."""

    def __init__(self, plant: ConnectorPlant, settings: SimSignalSettings) -> None:
        self._plant = plant
        self.settings = settings
        self.listeners = Listeners()
        self.outputs: dict[str, bool] = dict.fromkeys(OUTPUT_LINES, False)
        self.k = False
        self.connected = False
        self.cc1_v = settings.cc1_unplugged_v
        self.worn_offset_v = 0.0

    # ---- VehicleLines
    def set_output(self, line: str, on: bool) -> None:
        if line not in self.outputs:
            raise ValueError(f"unknown output line {line!r}: use one of {', '.join(OUTPUT_LINES)}")
        if self.outputs[line] != on:
            self.outputs[line] = on
            self._plant.charger_output_changed()

    def output(self, line: str) -> bool:
        if line not in self.outputs:
            raise ValueError(f"unknown output line {line!r}: use one of {', '.join(OUTPUT_LINES)}")
        return self.outputs[line]

    def input_active(self, line: str) -> bool:
        if line == "k":
            return self.k
        if line == "connected":
            return self.connected
        raise ValueError(f"unknown input line {line!r}: boolean inputs are k and connected")

    def input_voltage_v(self, line: str) -> float:
        if line != "cc1":
            raise ValueError(f"unknown voltage input {line!r}: the only one is cc1")
        return self.cc1_v + self.worn_offset_v + self._plant.rng.gauss(0.0, self.settings.cp_noise_v)

    def add_listener(self, listener: Listener) -> None:
        self.listeners.add(listener)

    # ---- vehicle side
    def set_input(self, line: str, value: bool | float) -> None:
        if line == "k":
            changed = self.k != bool(value)
            self.k = bool(value)
        elif line == "connected":
            changed = self.connected != bool(value)
            self.connected = bool(value)
        elif line == "cc1":
            changed = self.cc1_v != float(value)
            self.cc1_v = float(value)
        else:
            raise ValueError(f"unknown input line {line!r}: use one of {', '.join(INPUT_LINES)}")
        if changed:
            self.listeners.notify_soon()
