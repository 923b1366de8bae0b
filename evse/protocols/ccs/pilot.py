"""Control-pilot logic for CCS DC (IEC 61851-1 Annex A, IEC 61851-23, ISO 15118-3), sans I/O.

`PilotLogic` is told what the session wants (`begin_communication`, `wake_up`, `fault`, `end`), what the pilot
reads (`observe(state)`), and the time (`tick`); it answers with actions for the `ControlPilot` role (`SetPwm`,
`SetStateF`) and with findings the adapter acts on (`PowerOffRequired`, `VehicleGone`, `WakeUpDone`). The
adapter applies them through `ctx.pilot`; the tests drive it on a plain clock.

Rules it implements (iec61851-ccs.md, "CP timing"):
* digital communication: 5 % PWM from the wake-up stage on; PWM off (steady +12 V) at the end;
* legacy wake-up: when the EV does not start communicating, state F for `wake_up_f_s` (≥ 3 s; 4 s default)
  and then 5 % again — an E/F step that restarts a sleeping EV communication controller;
* C/D → B while energy flows: power off within 100 ms (the supervisor trips; this reports the deadline);
* PWM off but the vehicle stays in C: force power off after 6 s;
* state E (CP shorted to PE), a missing diode or A (unplugged): the vehicle is gone or the pilot is faulty;
* a fault on our side: state F (EVSE not available) until `end`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from evse.hardware.roles import CpState

#: 5 % duty = digital communication required (IEC 61851-1 A.2.3)
DIGITAL_DUTY_PCT = 5.0
#: C/D → B: power off within (IEC 61851-23, iec61851-ccs.md)
C_TO_B_POWER_OFF_S = 0.1
#: PWM off but the vehicle stays in C: force power off after (IEC 61851-1)
PWM_OFF_IN_C_S = 6.0
#: legacy wake-up: the F step lasts at least 3 s (IEC 61851-1 A.5); we use 4 s
DEFAULT_WAKE_UP_F_S = 4.0


class PilotMode(StrEnum):
    IDLE = "idle"  # steady +12 V, no PWM
    DIGITAL = "digital"  # 5 % PWM
    WAKE_UP = "wake_up"  # state F of the legacy wake-up
    FAULT = "fault"  # state F: EVSE not available


@dataclass(frozen=True, slots=True)
class SetPwm:
    duty_pct: float | None


@dataclass(frozen=True, slots=True)
class SetStateF:
    pass


@dataclass(frozen=True, slots=True)
class PowerOffRequired:
    """Energy must stop by `deadline_s` (the supervisor's trip path does it; the adapter records why)."""

    reason: str
    deadline_s: float


@dataclass(frozen=True, slots=True)
class VehicleGone:
    state: CpState


@dataclass(frozen=True, slots=True)
class WakeUpDone:
    pass


PilotAction = SetPwm | SetStateF | PowerOffRequired | VehicleGone | WakeUpDone


@dataclass
class PilotLogic:
    wake_up_f_s: float = DEFAULT_WAKE_UP_F_S
    c_to_b_power_off_s: float = C_TO_B_POWER_OFF_S
    mode: PilotMode = PilotMode.IDLE
    state: CpState = CpState.A
    energy_flowing: bool = False
    deadline_s: float | None = None
    _pwm_off_in_c_since_s: float | None = None

    def begin_communication(self, now_s: float) -> list[PilotAction]:
        self.mode, self.deadline_s = PilotMode.DIGITAL, None
        return [SetPwm(DIGITAL_DUTY_PCT)]

    def wake_up(self, now_s: float) -> list[PilotAction]:
        """Legacy wake-up: state F now, 5 % again after `wake_up_f_s` (then `WakeUpDone`)."""
        if self.mode is PilotMode.FAULT:
            return []
        self.mode, self.deadline_s = PilotMode.WAKE_UP, now_s + self.wake_up_f_s
        return [SetStateF()]

    def fault(self, now_s: float) -> list[PilotAction]:
        self.mode, self.deadline_s = PilotMode.FAULT, None
        return [SetStateF()]

    def end(self, now_s: float) -> list[PilotAction]:
        self.mode, self.deadline_s, self.energy_flowing = PilotMode.IDLE, None, False
        if self.state in (CpState.C, CpState.D):
            self._pwm_off_in_c_since_s = now_s
            self.deadline_s = now_s + PWM_OFF_IN_C_S
        return [SetPwm(None)]

    def set_energy_flowing(self, flowing: bool) -> None:
        self.energy_flowing = flowing

    def observe(self, state: CpState, now_s: float) -> list[PilotAction]:
        previous, self.state = self.state, state
        if state == previous:
            return []
        actions: list[PilotAction] = []
        if self.energy_flowing and previous in (CpState.C, CpState.D) and state is CpState.B:
            actions.append(PowerOffRequired("vehicle left state C (C → B)", now_s + self.c_to_b_power_off_s))
        if state in (CpState.A, CpState.E, CpState.DIODE_FAULT) and self.mode is not PilotMode.WAKE_UP:
            # during our own F step the reading is ours, not the vehicle's
            if self.energy_flowing:
                actions.append(PowerOffRequired(f"control pilot in state {state.value}", now_s))
            actions.append(VehicleGone(state))
        if state not in (CpState.C, CpState.D):
            self._pwm_off_in_c_since_s = None
            if self.mode is PilotMode.IDLE:
                self.deadline_s = None
        return actions

    def tick(self, now_s: float) -> list[PilotAction]:
        if self.deadline_s is None or now_s < self.deadline_s:
            return []
        if self.mode is PilotMode.WAKE_UP:
            self.mode, self.deadline_s = PilotMode.DIGITAL, None
            return [SetPwm(DIGITAL_DUTY_PCT), WakeUpDone()]
        if self.mode is PilotMode.IDLE and self._pwm_off_in_c_since_s is not None:
            self.deadline_s, self._pwm_off_in_c_since_s = None, None
            return [PowerOffRequired(f"vehicle stayed in C {PWM_OFF_IN_C_S:g} s after PWM off", now_s)]
        return []
