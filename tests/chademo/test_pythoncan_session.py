"""The hardware path: the real session and the CHAdeMO adapter on a `PythonCanChannel`, the simulated car on
another, over python-can's `virtual` interface (python-can's reader threads, real time). The handshake runs to
the lock; a user stop then ends it. Bounded to a few seconds of real time."""

from __future__ import annotations

import asyncio
import itertools

from evse.can.pythoncan import PythonCanChannel
from evse.session.stages import OutcomeKind, Reason, Stage
from tests.chademo.simrig import ChademoRig

_names = itertools.count()


async def test_handshake_and_stop_over_python_can_virtual() -> None:
    name = f"evse-chademo-hil-{next(_names)}"
    charger = PythonCanChannel.open("virtual", name)
    vehicle = PythonCanChannel.open("virtual", name)
    rig = ChademoRig(battery={"soc_pct": 40}, link=(charger, vehicle))
    task = asyncio.get_running_loop().create_task(rig.run())
    try:
        async with asyncio.timeout(5.0):
            while rig.session.stage is not Stage.INSULATION_TEST:  # noqa: ASYNC110 - real-time poll, bounded
                await asyncio.sleep(0.01)
        assert rig.plant.lock.locked() and rig.plant.lines.output("d1")
        assert rig.session.ctx.protocol_version == "1.0"
        rig.session.request_stop(Reason.USER_STOP)
        async with asyncio.timeout(5.0):
            outcome = await task
    finally:
        task.cancel()
        charger.close()
        vehicle.close()
    assert outcome.kind is OutcomeKind.STOPPED_BY_USER and outcome.stage is Stage.INSULATION_TEST
    assert charger.frames_received > 10 and charger.frames_sent > 10 and charger.error_frames == 0
    assert not rig.plant.lock.locked() and not rig.plant.lines.output("d1")
