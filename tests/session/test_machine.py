"""The session machine: one table derived from each standard's plan; illegal moves are refused."""

from __future__ import annotations

import pytest
from transitions import MachineError

from evse.session.adapter import CCS_PLAN, CHADEMO_PLAN, GBT_PLAN, PLANS, Plan
from evse.session.machine import ADVANCE, BEGIN, END, FAULT, FINISH, PAUSE, RESUME, SessionMachine, plan_stages
from evse.session.stages import Stage


@pytest.mark.parametrize("plan", list(PLANS.values()), ids=list(PLANS))
def test_happy_path_walks_the_plan_in_order(plan: Plan) -> None:
    machine = SessionMachine(plan)
    seen = [machine.fire(BEGIN)]
    while machine.stage is not Stage.UNLOCK:
        seen.append(machine.fire(ADVANCE))
    assert tuple(seen) == plan.stages
    assert machine.fire(FINISH) is Stage.FINISHED and machine.ended


def test_plans_differ_only_in_order() -> None:
    gbt, ccs = plan_stages(GBT_PLAN), plan_stages(CCS_PLAN)
    assert gbt.index(Stage.INSULATION_TEST) < gbt.index(Stage.PARAMETER_NEGOTIATION)
    assert ccs.index(Stage.INSULATION_TEST) > ccs.index(Stage.PARAMETER_NEGOTIATION)
    assert Stage.PRE_CHARGE not in plan_stages(CHADEMO_PLAN)


def test_failure_from_any_stage_goes_through_stopping_and_unlock_to_faulted() -> None:
    for index in range(len(GBT_PLAN.stages) - 2):
        machine = SessionMachine(GBT_PLAN)
        machine.fire(BEGIN)
        for _ in range(index):
            machine.fire(ADVANCE)
        assert machine.fire(END) is Stage.STOPPING
        assert machine.fire(ADVANCE) is Stage.UNLOCK
        assert machine.fire(FAULT) is Stage.FAULTED


def test_pause_only_from_energy_transfer() -> None:
    machine = SessionMachine(CHADEMO_PLAN)
    machine.fire(BEGIN)
    assert not machine.can(PAUSE)
    with pytest.raises(MachineError):
        machine.fire(PAUSE)
    while machine.stage is not Stage.ENERGY_TRANSFER:
        machine.fire(ADVANCE)
    assert machine.fire(PAUSE) is Stage.PAUSED
    assert not machine.can(ADVANCE)
    assert machine.fire(RESUME) is Stage.ENERGY_TRANSFER
    machine.fire(PAUSE)
    assert machine.fire(END) is Stage.STOPPING


def test_no_skipping_and_no_way_back_from_the_end() -> None:
    machine = SessionMachine(CCS_PLAN)
    with pytest.raises(MachineError):
        machine.fire(ADVANCE)  # idle is left only by begin
    machine.fire(BEGIN)
    with pytest.raises(MachineError):
        machine.fire(FINISH)  # finished only from unlock
    machine.fire(END)
    with pytest.raises(MachineError):
        machine.fire(END)  # stopping cannot be re-entered
    machine.fire(ADVANCE)
    machine.fire(FINISH)
    for trigger in (BEGIN, ADVANCE, END, PAUSE, FAULT):
        assert not machine.can(trigger)
