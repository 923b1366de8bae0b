"""SIGTERM while a simulated vehicle charges: the daemon's stop ends the session safely (current ramped down,
contactors open, output discharged) within the shutdown bound and exits 0. The real station from the
configuration, the simulated vehicle it names (`connectors[].vehicle`), on the virtual clock."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from evse.config.loader import parse_config
from evse.daemon import wiring
from evse.daemon.exitcodes import EXIT_OK
from evse.daemon.lifecycle import Lifecycle
from evse.daemon.sdnotify import Notifier
from evse.session.events import ConnectorStatusChanged, Event, SessionEnded
from evse.session.stages import OutcomeKind, Reason
from evse.sim.world import current_world

pytestmark = pytest.mark.looptime

CONFIG = """
[station]
state_dir = "{state}"
free_vend = true
[[connectors]]
id = 1
standard = "chademo"
max_current_a = 100
vehicle = "chademo-1.0-40kwh"
[ocpp]
enabled = false
"""


async def test_sigterm_mid_charge_ends_the_session_safely_within_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the station and the configured simulated vehicle: no API port, no store thread
    monkeypatch.setattr(wiring, "UPPER_SERVICES", (wiring.sim_vehicles_service,))
    loop = asyncio.get_running_loop()
    config = parse_config(CONFIG.format(state=tmp_path))
    stop = asyncio.Event()
    composed = wiring.build(config, loop, lambda _code: stop.set())
    events: list[Event] = []
    composed.bus.subscribe(events.append)
    life = Lifecycle(
        safe_state=composed.safe_state,
        services=composed.services,
        stop_order=composed.stop_order,
        settings=config.daemon,
        notifier=Notifier(address=""),
        status=composed.status,
    )
    task = asyncio.create_task(life.run(stop))
    await asyncio.sleep(1)
    assert [s.name for s in composed.services] == ["station", "sim-vehicles"]

    def charging() -> bool:
        return any(isinstance(e, ConnectorStatusChanged) and e.status == "Charging" for e in events)

    for _ in range(600):
        if charging():
            break
        await asyncio.sleep(0.5)
    assert charging(), [type(e).__name__ for e in events][-20:]
    await asyncio.sleep(5)
    roles = composed.station.connectors[1].spec.roles
    assert roles.contactors.feedback_closed() and roles.power.enabled()

    stop.set()  # what the SIGTERM handler does
    t0 = loop.time()
    code = await task
    assert code == EXIT_OK
    assert loop.time() - t0 <= config.daemon.shutdown_timeout_s
    (ended,) = [e for e in events if isinstance(e, SessionEnded)]
    assert ended.outcome.kind == OutcomeKind.STOPPED_BY_STATION and ended.outcome.reason == Reason.SHUTDOWN
    assert not roles.contactors.feedback_closed()
    assert not roles.power.enabled()
    assert roles.power.measured_voltage_v() < 60.0
    world = current_world()
    assert world is not None and world.plants[1].vehicle is None  # unplugged after the station stopped
