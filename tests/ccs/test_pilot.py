"""Control-pilot logic for CCS DC (sans I/O) and the adapter's pilot steps on the virtual clock."""

from __future__ import annotations

from typing import Any

import pytest

from evse.hardware.roles import CpState
from evse.protocols.ccs.adapter import CcsAdapter
from evse.protocols.ccs.bridge import SeccBridge
from evse.protocols.ccs.pilot import (
    C_TO_B_POWER_OFF_S,
    PWM_OFF_IN_C_S,
    PilotLogic,
    PilotMode,
    PowerOffRequired,
    SetPwm,
    SetStateF,
    VehicleGone,
    WakeUpDone,
)
from evse.protocols.ccs.settings import CcsSettings
from evse.session.errors import StageFailure
from evse.session.stages import Reason, Stage
from tests.ccs.fakes import FakeBattery, FakeContext, FakePlant


def test_digital_communication_is_5_percent_pwm_and_end_turns_it_off() -> None:
    logic = PilotLogic()
    assert logic.begin_communication(0.0) == [SetPwm(5.0)]
    assert logic.end(1.0) == [SetPwm(None)]
    assert logic.mode is PilotMode.IDLE


def test_legacy_wake_up_is_an_f_step_then_5_percent_again() -> None:
    logic = PilotLogic(wake_up_f_s=4.0)
    logic.begin_communication(0.0)
    assert logic.wake_up(20.0) == [SetStateF()]
    assert logic.tick(23.9) == []
    assert logic.tick(24.0) == [SetPwm(5.0), WakeUpDone()]
    assert logic.mode is PilotMode.DIGITAL


def test_c_to_b_while_energy_flows_requires_power_off_within_100_ms() -> None:
    logic = PilotLogic()
    logic.begin_communication(0.0)
    logic.observe(CpState.B, 0.0)
    logic.observe(CpState.C, 1.0)
    logic.set_energy_flowing(True)
    (action,) = logic.observe(CpState.B, 10.0)
    assert isinstance(action, PowerOffRequired) and action.deadline_s == pytest.approx(10.0 + C_TO_B_POWER_OFF_S)
    logic.set_energy_flowing(False)
    logic.observe(CpState.C, 11.0)
    assert logic.observe(CpState.B, 12.0) == []  # no energy: B is just the end of charging


def test_pwm_off_but_vehicle_stays_in_c_forces_power_off_after_6_s() -> None:
    logic = PilotLogic()
    logic.begin_communication(0.0)
    logic.observe(CpState.C, 1.0)
    logic.end(2.0)
    assert logic.tick(2.0 + PWM_OFF_IN_C_S - 0.01) == []
    (action,) = logic.tick(2.0 + PWM_OFF_IN_C_S)
    assert isinstance(action, PowerOffRequired)


@pytest.mark.parametrize("state", [CpState.A, CpState.E, CpState.DIODE_FAULT])
def test_unplug_short_or_missing_diode_means_the_vehicle_is_gone(state: CpState) -> None:
    logic = PilotLogic()
    logic.begin_communication(0.0)
    logic.observe(CpState.C, 0.5)
    logic.set_energy_flowing(True)
    actions = logic.observe(state, 1.0)
    assert VehicleGone(state) in actions
    assert any(isinstance(a, PowerOffRequired) and a.deadline_s == 1.0 for a in actions)


def test_our_own_f_step_is_not_mistaken_for_a_fault() -> None:
    logic = PilotLogic()
    logic.begin_communication(0.0)
    logic.observe(CpState.B, 0.0)
    logic.wake_up(1.0)
    assert logic.observe(CpState.E, 1.1) == []  # some pilot front ends read F as E


def test_a_fault_drives_state_f() -> None:
    assert PilotLogic().fault(0.0) == [SetStateF()]


class FakePilot:
    def __init__(self) -> None:
        self.cp = CpState.B
        self.pwm: list[float | None] = []
        self.f_steps = 0
        self.listeners: list[Any] = []

    def state(self) -> CpState:
        return self.cp

    def high_voltage_v(self) -> float:
        return 9.0

    def set_pwm(self, duty_pct: float | None) -> None:
        self.pwm.append(duty_pct)

    def set_state_f(self) -> None:
        self.f_steps += 1

    def proximity_ohm(self) -> float | None:
        return 1500.0

    def add_listener(self, listener: Any) -> None:
        self.listeners.append(listener)


@pytest.mark.looptime
async def test_adapter_tries_a_legacy_wake_up_before_the_wake_up_stage_fails() -> None:
    settings = CcsSettings(communication_setup_timeout_s=20.0, legacy_wake_up_attempts=1, legacy_wake_up_f_s=4.0)
    ctx = FakeContext(FakePlant(FakeBattery(2.0, 50.0, 320, 400, 100)))
    ctx.pilot = FakePilot()
    adapter = CcsAdapter(settings, SeccBridge(settings))
    await adapter.open(ctx)
    await adapter.run_stage(Stage.CONNECTION_DETECTION, ctx)
    started = ctx.now()
    with pytest.raises(StageFailure) as failure:
        await adapter.run_stage(Stage.BMS_WAKE_UP, ctx)
    assert failure.value.reason is Reason.TIMEOUT and "SessionSetupReq" in failure.value.detail
    assert ctx.now() - started == pytest.approx(20.0 + 4.0 + 20.0)
    assert ctx.pilot.pwm == [5.0, 5.0] and ctx.pilot.f_steps == 1
    await adapter.run_stage(Stage.UNLOCK, ctx)
    assert ctx.pilot.pwm[-1] is None
    await adapter.close()
