"""The session state machine: which stage may follow which — the table, nothing else.

Rules (everything that affects the session's stage lives here, h11-style):
* One machine class for every standard. A standard contributes only its `Plan` (evse.session.adapter): the
  order of its stages. The table below is derived from the plan, so there is no copy of the machine per standard.
* The machine knows stages, not CAN ids or EXI, and it runs nothing. It is the *state table and validator*: the
  session runner (evse.session.session) performs each stage's step in its own asyncio task and then fires the
  trigger that moves the machine on. No stage step, trip or timer ever runs inside a `transitions` callback
  (transitions 0.9.3's AsyncMachine swallows CancelledError and cancels running on_enter coroutines).
* An illegal move raises `transitions.MachineError`: a bug in the runner, never a vehicle's doing.

Theory of operation — triggers:
* `begin`    idle → the plan's first stage (a vehicle was plugged in)
* `advance`  a stage → the next stage of the plan (its step completed), up to unlock
* `pause` / `resume`   energy transfer ⇄ paused (vehicle or station suspends delivery)
* `end`      any stage before stopping (and paused, and idle) → stopping: a failure, a trip or a stop request.
  Stopping and unlock run after every session, whatever ended it.
* `finish` / `fault`   unlock → finished (normal outcome) or faulted (failed outcome).
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

from transitions import Machine

from evse.session.adapter import Plan
from evse.session.stages import Stage

BEGIN = "begin"
ADVANCE = "advance"
PAUSE = "pause"
RESUME = "resume"
END = "end"
FINISH = "finish"
FAULT = "fault"

# the runner publishes every stage change as an event; transitions' own per-callback INFO lines are noise
logging.getLogger("transitions").setLevel(logging.WARNING)

_CLOSING = (Stage.STOPPING, Stage.UNLOCK)
_TERMINAL = (Stage.FINISHED, Stage.FAULTED)


def plan_stages(plan: Plan) -> tuple[Stage, ...]:
    """The plan's stages with the closing pair (stopping, unlock) guaranteed at the end, in order."""
    body = tuple(s for s in plan.stages if s not in _CLOSING and s not in _TERMINAL and s is not Stage.IDLE)
    return (*body, *_CLOSING)


def states(plan: Plan) -> list[str]:
    """Every state the machine of `plan` can be in."""
    stages = plan_stages(plan)
    out = [Stage.IDLE, *stages]
    if Stage.ENERGY_TRANSFER in stages:
        out.append(Stage.PAUSED)
    out.extend(_TERMINAL)
    return [s.value for s in out]


def transition_table(plan: Plan) -> list[dict[str, Any]]:
    """The transitions of `plan` as rows (trigger, source, dest) — the single source of the machine and the
    diagram."""
    stages = plan_stages(plan)
    rows: list[dict[str, Any]] = [{"trigger": BEGIN, "source": Stage.IDLE.value, "dest": stages[0].value}]
    for here, after in itertools.pairwise(stages):
        rows.append({"trigger": ADVANCE, "source": here.value, "dest": after.value})
    ending = [Stage.IDLE, *(s for s in stages if s not in _CLOSING)]
    if Stage.ENERGY_TRANSFER in stages:
        rows.append({"trigger": PAUSE, "source": Stage.ENERGY_TRANSFER.value, "dest": Stage.PAUSED.value})
        rows.append({"trigger": RESUME, "source": Stage.PAUSED.value, "dest": Stage.ENERGY_TRANSFER.value})
        ending.append(Stage.PAUSED)
    rows.append({"trigger": END, "source": [s.value for s in ending], "dest": Stage.STOPPING.value})
    rows.append({"trigger": FINISH, "source": Stage.UNLOCK.value, "dest": Stage.FINISHED.value})
    rows.append({"trigger": FAULT, "source": Stage.UNLOCK.value, "dest": Stage.FAULTED.value})
    return rows


class _Model:
    """The object transitions keeps the state on (transitions sets `state` on it)."""

    state: str


class SessionMachine:
    """The stage of one session, moved only along `transition_table(plan)`."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._model = _Model()
        self._fsm = Machine(
            model=self._model,
            states=states(plan),
            transitions=transition_table(plan),
            initial=Stage.IDLE.value,
            auto_transitions=False,
            ignore_invalid_triggers=False,
        )

    @property
    def stage(self) -> Stage:
        return Stage(self._model.state)

    def fire(self, trigger: str) -> Stage:
        """Move the machine by `trigger`; returns the new stage. Raises `MachineError` on an illegal move."""
        self._fsm.events[trigger].trigger(self._model)
        return self.stage

    def can(self, trigger: str) -> bool:
        event = self._fsm.events.get(trigger)
        return event is not None and self.stage.value in event.transitions

    @property
    def ended(self) -> bool:
        return self.stage in _TERMINAL
