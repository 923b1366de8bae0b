"""The core under arbitrary vehicle behaviour: random payloads, k toggles, measurements and stage starts at random
times never crash it, every frame it sends decodes cleanly, and it never asks for current above its offer."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from evse.can.channel import CanFrame
from evse.protocols.chademo import messages as m
from evse.protocols.chademo.actions import Action, Do, End, Measurements, Request, Send, StageDone
from evse.protocols.chademo.codec import ChademoCodec
from evse.protocols.chademo.core import ChademoCore
from evse.protocols.chademo.settings import ChademoSettings
from evse.session.adapter import CHADEMO_PLAN
from evse.session.stages import Stage

codec = ChademoCodec()

event = st.one_of(
    st.tuples(st.just("frame"), st.sampled_from(sorted(m.VEHICLE_IDS | {0x200})), st.binary(min_size=0, max_size=9)),
    st.tuples(st.just("k"), st.booleans(), st.just(b"")),
    st.tuples(st.just("meas"), st.integers(0, 600), st.just(b"")),
    st.tuples(st.just("time"), st.integers(0, 3000), st.just(b"")),
    st.tuples(st.just("next_stage"), st.just(0), st.just(b"")),
    st.tuples(st.just("done"), st.just(0), st.just(b"")),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(event, max_size=80))
def test_core_survives_any_vehicle(events: list[tuple[str, int | bool, bytes]]) -> None:
    core = ChademoCore(ChademoSettings())
    core.set_charger_offer(500, 125)
    stages = [*CHADEMO_PLAN.stages]
    now = 0.0
    pending: list[Do] = []
    actions: list[Action] = []
    for kind, value, data in events:
        if kind == "frame":
            actions += core.on_frame(CanFrame(int(value), data), now)
        elif kind == "k":
            actions += core.on_k(bool(value), now)
        elif kind == "meas":
            core.observe(Measurements(float(value), float(value), float(value) / 10))
        elif kind == "time":
            now += int(value) / 1000
            actions += core.on_time(now)
            deadline = core.next_deadline()
            assert deadline is None or deadline > now - 1e-9  # after a tick nothing is left overdue
        elif kind == "next_stage" and stages:
            actions += core.begin(stages.pop(0), now)
        elif kind == "done" and pending:
            actions += core.done(pending.pop(0).op, now)
        pending += [a for a in actions if isinstance(a, Do)]
        for action in actions:
            if isinstance(action, Send):
                msg = codec.decode(action.frame)
                assert msg is not None and not getattr(msg, "problems", ())
            elif isinstance(action, Request):
                assert 0 <= action.current_a <= 125
        actions = []
    # whatever happened, stopping and unlock still complete with the link dead
    done: list[Stage] = []
    for stage in (Stage.STOPPING, Stage.UNLOCK):
        out = core.begin(stage, now)
        for _ in range(200):
            for action in out:
                if isinstance(action, StageDone):
                    done.append(action.stage)
            ops = [a for a in out if isinstance(a, Do)]
            if stage in done or any(isinstance(a, End) for a in out):
                break
            now += 0.05
            out = [x for op in ops for x in core.done(op.op, now)] + core.on_time(now)
    assert Stage.STOPPING in done
