"""The executor the CAN adapters share (`evse.protocols.executor`), on a stand-in stage API: how a step waits, ends
and fails, the closing stages' rule, and notes said once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from evse.protocols.actions import Do, End, Note, Op, Request, StageDone
from evse.protocols.executor import MAX_NOTES, CoreExecutor
from evse.protocols.operations import OpResult
from evse.session.errors import StageFailure, VehicleStop
from evse.session.stages import Reason, Stage

pytestmark = pytest.mark.looptime


class _Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append(("info", event, fields))

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append(("warning", event, fields))


class _Ctx:
    """The parts of the stage API the executor calls here."""

    def __init__(self) -> None:
        self.log = _Log()
        self.lines = None
        self.requests: list[tuple[float, float]] = []
        self.stage = Stage.PARAMETER_NEGOTIATION
        self.unlock_fails = False

    def request(self, voltage_v: float, current_a: float) -> None:
        if current_a > 500:
            raise StageFailure(Reason.SAFETY_TRIP, "refused")
        self.requests.append((voltage_v, current_a))

    def current_stage(self) -> Stage:
        return self.stage

    async def lock_connector(self) -> None:
        await asyncio.sleep(0.2)

    async def unlock_connector(self) -> None:
        await asyncio.sleep(0.1)
        if self.unlock_fails:
            raise StageFailure(Reason.HARDWARE_FAULT, "connector stays locked")


def _executor() -> tuple[CoreExecutor, _Ctx, list[tuple[Op, OpResult]]]:
    done: list[tuple[Op, OpResult]] = []
    executor = CoreExecutor("test", lambda action, result: done.append((action.op, result)))
    ctx = _Ctx()
    executor.ctx = ctx  # type: ignore[assignment]
    executor.open = True
    return executor, ctx, done


async def test_a_step_waits_for_its_stage_done_and_operations_report_back() -> None:
    executor, ctx, done = _executor()
    loop = asyncio.get_running_loop()
    step = loop.create_task(executor.run_step(Stage.BMS_WAKE_UP, lambda: executor.apply([Do(Op.LOCK)])))
    await asyncio.sleep(0.3)
    assert done == [(Op.LOCK, OpResult())] and not step.done()
    executor.apply([StageDone(Stage.PARAMETER_NEGOTIATION)])  # another stage's: not this step's end
    await asyncio.sleep(0)
    assert not step.done()
    executor.apply([Request(400.0, 100.0), StageDone(Stage.BMS_WAKE_UP)])
    await step
    assert ctx.requests == [(400.0, 100.0)] and not executor.interrupted


async def test_an_end_between_steps_is_raised_out_of_the_next_step_but_not_out_of_stopping() -> None:
    executor, _, _ = _executor()
    executor.apply([End(VehicleStop("BST", "soc_target_reached", reason=Reason.COMPLETED))])
    with pytest.raises(VehicleStop):
        await executor.run_step(Stage.PRE_CHARGE, lambda: None)
    stopping = asyncio.get_running_loop().create_task(executor.run_step(Stage.STOPPING, lambda: None))
    await asyncio.sleep(0)
    executor.apply([StageDone(Stage.STOPPING)])
    await stopping


async def test_a_refused_request_ends_the_running_step_with_the_stage_apis_reason() -> None:
    executor, _, _ = _executor()
    with pytest.raises(StageFailure) as failure:
        await executor.run_step(Stage.ENERGY_TRANSFER, lambda: executor.apply([Request(400.0, 900.0)]))
    assert failure.value.reason is Reason.SAFETY_TRIP


async def test_in_the_closing_stages_a_failed_operation_is_logged_and_reported_done() -> None:
    executor, ctx, done = _executor()
    ctx.unlock_fails = True
    loop = asyncio.get_running_loop()
    step = loop.create_task(executor.run_step(Stage.UNLOCK, lambda: executor.apply([Do(Op.UNLOCK)])))
    await asyncio.sleep(0.2)
    assert done == [(Op.UNLOCK, OpResult())] and not step.done()  # the protocol carries on
    assert (
        "warning",
        "test.closing_op_failed",
        {"op": "unlock", "error": "hardware_fault: connector stays locked"},
    ) in (ctx.log.lines)
    executor.apply([End(StageFailure(Reason.TIMEOUT, "late")), StageDone(Stage.UNLOCK)])
    await step  # an End in a closing stage does not fail it either


async def test_each_note_is_said_once_and_at_most_max_notes() -> None:
    executor, ctx, _ = _executor()
    executor.apply([Note("quirk"), Note("quirk"), *(Note(f"n{i}") for i in range(2 * MAX_NOTES))])
    notes = [fields["note"] for level, _, fields in ctx.log.lines if level == "info"]
    assert notes.count("quirk") == 1 and len(notes) == MAX_NOTES
