"""Carries out what a sans-I/O CAN core returns, through the session's stage API: the half of an adapter that the
CHAdeMO and GB/T adapters share (each keeps only its own inputs, frames and protocol-specific actions).

Theory of operation
-------------------
* **Stage steps.** `run_step(stage, begin)` opens a step (a future), calls `begin()` — the adapter hands the core's
  answer to `begin(stage)` to `apply` — and waits until the core says `StageDone(stage)` or `End(error)`. An `End`
  that comes between steps (the session is busy elsewhere) is kept and raised out of the next step, unless that
  step is STOPPING or UNLOCK: those always run.
* **Actions** are carried out inside the call that delivered the input: lines, requests, pause, limits, identity,
  notes (each distinct note once per session, at most `MAX_NOTES`: a quirk repeats in every frame), stage done /
  end, and `Do(op)` — a power-path operation started as a task (`evse.protocols.operations`); its result goes back
  through `on_op_done(action, result)`. Anything else is the protocol's own and goes to `on_other(action)`.
* **Failures.** A `SessionEnd` from the stage API (an operation, a request) ends the running step with the stage
  API's own reason. Operations still running when a step fails are cancelled: none may race the stop sequence.
  In STOPPING and UNLOCK nothing ends the step: a failed operation is logged and reported done, so the protocol
  carries its stop sequence through (stop frames, lines off); the session runner then makes sure of the power path
  itself and records what is still wrong (a welded contactor, a connector that cannot unlock).
* **Trace.** `trace(direction, frame, channel_name)` records a candump line during the handshake stages and
  stopping (the energy-transfer loop would flood the session's trace).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from evse.can.channel import CanFrame
from evse.protocols.actions import Do, End, Identify, Note, Pause, Request, SetLimits, SetLine, StageDone
from evse.protocols.operations import OpResult, perform
from evse.session.errors import SessionEnd
from evse.session.stages import HANDSHAKE_STAGES, Stage

if TYPE_CHECKING:
    from evse.session.context import StageContext

#: stages whose frames go into the handshake trace
TRACED_STAGES = HANDSHAKE_STAGES | {Stage.STOPPING}
#: stages that always run to their end (adapter.py rules)
CLOSING_STAGES = (Stage.STOPPING, Stage.UNLOCK)
#: distinct notes logged per session (a misbehaving vehicle must not flood the log)
MAX_NOTES = 50

OpDone = Callable[[Do, OpResult], None]


class CoreExecutor:
    """An adapter's executor, one session at a time (`reset` starts the next); `protocol` names its log events
    ("chademo", "gbt")."""

    def __init__(
        self,
        protocol: str,
        on_op_done: OpDone,
        on_other: Callable[[object], None] | None = None,
    ) -> None:
        self.protocol = protocol
        self.on_op_done = on_op_done
        self.on_other = on_other
        self.ctx: StageContext | None = None
        #: False once the adapter closed: late operation results are dropped
        self.open = False
        #: the last step was cancelled from outside (station stop, trip, stage timeout), not ended by the core
        self.interrupted = False
        self.pending_end: SessionEnd | None = None
        self._waiting: asyncio.Future[None] | None = None
        self._waiting_stage: Stage | None = None
        self._ops: set[asyncio.Task[None]] = set()
        self._noted: set[str] = set()

    def reset(self) -> None:
        """A fresh session on the same adapter."""
        self.cancel_ops()
        self.pending_end = None
        self.interrupted = False
        self._noted.clear()

    # ------------------------------------------------------------------ stage steps
    async def run_step(self, stage: Stage, begin: Callable[[], None]) -> None:
        if self.pending_end is not None and stage not in CLOSING_STAGES:
            raise self.pending_end
        if stage in CLOSING_STAGES:
            self.cancel_ops()
        self._waiting = asyncio.get_running_loop().create_future()
        self._waiting_stage = stage
        self.interrupted = True
        try:
            begin()
            await self._waiting
            self.interrupted = False
        except SessionEnd:
            self.interrupted = False
            raise
        finally:
            self._waiting = None
            self._waiting_stage = None

    def end(self, error: SessionEnd) -> None:
        """End the running step with `error`, or the next one if no step is running."""
        waiting = self._waiting
        if waiting is None or waiting.done():
            self.pending_end = self.pending_end or error
            return
        if self._waiting_stage in CLOSING_STAGES:
            self.warn("end_while_closing", error=str(error))
            return
        self.cancel_ops()  # no power-path operation of a failed stage may race the stop sequence
        waiting.set_exception(error)

    # ------------------------------------------------------------------ actions
    def apply(self, actions: list[object]) -> None:
        ctx = self.ctx
        if ctx is None:
            return
        for action in actions:
            match action:
                case Request(voltage_v, current_a):
                    try:
                        ctx.request(voltage_v, current_a)
                    except SessionEnd as exc:
                        self.end(exc)
                case SetLine(line, on):
                    if ctx.lines is not None:
                        ctx.lines.set_output(line, on)
                case Pause(paused):
                    ctx.pause(paused)
                case Do():
                    self.start_op(action)
                case SetLimits(limits):
                    ctx.set_vehicle_limits(limits)
                case Identify(version, identity):
                    ctx.identify(version, identity)
                case StageDone(stage):
                    waiting = self._waiting
                    if waiting is not None and not waiting.done() and stage is self._waiting_stage:
                        waiting.set_result(None)
                case End(error):
                    self.end(error)
                case Note(text):
                    if text not in self._noted and len(self._noted) < MAX_NOTES:
                        self._noted.add(text)
                        ctx.log.info(self.protocol, note=text)
                case _:
                    if self.on_other is not None:
                        self.on_other(action)

    # ------------------------------------------------------------------ power-path operations
    def start_op(self, action: Do) -> None:
        task = asyncio.get_running_loop().create_task(self._run_op(action), name=f"{self.protocol}-{action.op.value}")
        self._ops.add(task)
        task.add_done_callback(self._ops.discard)

    async def _run_op(self, action: Do) -> None:
        ctx = self.ctx
        assert ctx is not None
        try:
            result = await perform(ctx, action)
        except SessionEnd as exc:
            if self._waiting_stage not in CLOSING_STAGES:
                self.end(exc)
                return
            self.warn("closing_op_failed", op=action.op.value, error=str(exc))
            result = OpResult()
        if self.open:
            self.on_op_done(action, result)

    def cancel_ops(self) -> None:
        for task in list(self._ops):
            task.cancel()
        self._ops.clear()

    # ------------------------------------------------------------------ trace and log
    def trace(self, direction: str, frame: CanFrame, channel_name: str) -> None:
        ctx = self.ctx
        if ctx is not None and ctx.current_stage() in TRACED_STAGES:
            ctx.trace(direction, "can", frame.candump(channel_name))

    def warn(self, event: str, **fields: object) -> None:
        if self.ctx is not None:
            self.ctx.log.warning(f"{self.protocol}.{event}", **fields)
