"""A long GB/T session on the virtual clock: tens of thousands of cyclic frames must neither stall virtual time
(a timer that fires a hair before its deadline and re-arms the same instant) nor drift."""

from __future__ import annotations

import asyncio
import faulthandler
import time
from collections.abc import Iterator

import pytest

from evse.session.stages import OutcomeKind
from tests.gbt.simrig import GbtRig

pytestmark = pytest.mark.looptime

WALL_LIMIT_S = 120


@pytest.fixture
def wall_clock_guard() -> Iterator[None]:
    """A stalled virtual clock spins the loop forever at one instant, where no loop timeout can fire (and asyncio
    swallows exceptions raised in callbacks): past the limit, faulthandler dumps every thread's stack and ends the
    run, so CI fails with the evidence instead of hanging."""
    faulthandler.dump_traceback_later(WALL_LIMIT_S, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


async def test_a_30_minute_session_runs_to_its_target_and_time_keeps_moving(wall_clock_guard: None) -> None:
    rig = GbtRig(battery={"soc_pct": 50})
    loop = asyncio.get_running_loop()
    t0_virtual, t0_wall = loop.time(), time.perf_counter()
    # a stalled virtual clock would never reach the outcome: bound the wall time the run may take
    outcome = await asyncio.wait_for(rig.run(), timeout=3 * 3600)
    assert outcome.kind is OutcomeKind.COMPLETED, outcome.summary()
    assert rig.plugged.battery.soc_pct >= 80
    simulated_s = loop.time() - t0_virtual
    assert simulated_s > 600  # 50 → 80 % of a 60 kWh pack at ≤ 60 kW takes well over ten minutes
    assert time.perf_counter() - t0_wall < WALL_LIMIT_S


async def test_the_session_reports_the_cc1_level_at_plug_in_and_a_worn_contact_shifts_it() -> None:
    from evse.session.events import PilotQuality
    from evse.sim import faults

    healthy = GbtRig(battery={"soc_pct": 79})
    await healthy.run()
    worn = GbtRig(battery={"soc_pct": 79})
    faults.inject(worn.world, 1, "worn_pilot_contact", {"offset_v": 0.8})
    await worn.run()
    (good,) = [e for e in healthy.events if isinstance(e, PilotQuality)]
    (bad,) = [e for e in worn.events if isinstance(e, PilotQuality)]
    assert good.line == bad.line == "cc1" and good.nominal_v == 4.0
    assert abs(good.voltage_v - 4.0) < 0.3
    assert bad.voltage_v - good.voltage_v > 0.5
