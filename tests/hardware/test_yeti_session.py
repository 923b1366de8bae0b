"""A whole simulated CHAdeMO session whose contactors and connector lock are the yeti board driver talking the
board's protocol to an emulated board that drives the simulated plant (`port = "sim"`), and a relay that stops
reporting mid-session."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from evse.clock import VIRTUAL_NOOP_CYCLES
from evse.config.loader import parse_config
from evse.hardware.drivers.emulators.yeti_plant import PlantBackedBoard
from evse.session.stages import Reason, Stage
from evse.sim.cli import simulate
from evse.sim.scenario import parse_scenario
from evse.sim.world import SimWorld, activate

CONFIG = """
[station]
id = "EMU-YETI"
free_vend = true
[[connectors]]
id = 1
standard = "chademo"
max_voltage_v = 500
max_current_a = 125
max_power_w = 50000
[connectors.hardware]
contactors = { driver = "yeti", params = { port = "sim" } }
lock = { driver = "yeti", params = { port = "sim" } }
"""
SCENARIO: dict[str, Any] = {
    "scenario": {"name": "yeti-board", "unplug_after_s": 5, "end_after_s": 400},
    "events": [
        {"at_s": 1, "connector": 1, "plug": "chademo-1.0-40kwh", "soc_pct": 70, "protocol": {"target_soc_pct": 75}}
    ],
}


async def run(monkeypatch: pytest.MonkeyPatch, on_board: Any = None) -> tuple[Any, SimWorld, list[PlantBackedBoard]]:
    boards: list[PlantBackedBoard] = []
    original = PlantBackedBoard.__init__

    def recording(self: PlantBackedBoard, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        boards.append(self)
        if on_board is not None:
            on_board(self)

    monkeypatch.setattr(PlantBackedBoard, "__init__", recording)
    config = parse_config(CONFIG)
    world = SimWorld(config.sim, 7)
    activate(world)
    try:
        (record,) = await simulate(config, parse_scenario(SCENARIO), world, plain=True)
    finally:
        activate(None)
    return record, world, boards


@pytest.mark.looptime(noop_cycles=VIRTUAL_NOOP_CYCLES)
async def test_a_chademo_session_charges_through_the_emulated_board(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    record, world, boards = await run(monkeypatch)
    out = capsys.readouterr().out
    assert record.outcome is not None and record.outcome.stage == Stage.ENERGY_TRANSFER, out
    assert record.outcome.reason in (Reason.COMPLETED, Reason.VEHICLE_STOP), out
    assert record.soc_end_pct is not None and record.soc_end_pct >= 74.5
    # one board for the connector (contactors and lock share it); the roles went over its protocol
    (board,) = boards
    assert board.commands("set_coil_state_request") >= 2 and board.commands("connector_lock") >= 2
    assert board.keep_alives > 100
    plant = world.plant(1)
    assert plant.contactors.closings >= 1 and not plant.contactors.closed and not plant.lock.locked()


@pytest.mark.looptime(noop_cycles=VIRTUAL_NOOP_CYCLES)
async def test_a_board_gone_silent_mid_session_stops_it_safely(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def go_silent_later(board: PlantBackedBoard) -> None:
        # 40 s into the run (charging) the board stops talking: its keep-alive and coil reports are gone
        asyncio.get_running_loop().call_later(40.0, setattr, board, "silent", True)

    record, world, _boards = await run(monkeypatch, go_silent_later)
    out = capsys.readouterr().out
    assert record.outcome is not None and record.outcome.stage == Stage.ENERGY_TRANSFER, out
    assert record.outcome.reason not in (Reason.COMPLETED, Reason.VEHICLE_STOP), out
    # the silent board's coil state is unknown: commanded closed, it reads open, and the supervisor trips
    assert record.outcome.reason == Reason.HARDWARE_FAULT and "contactor_dropped" in record.outcome.detail, out
    plant = world.plant(1)
    assert not plant.power.enabled()
    assert plant.power.measured_voltage_v() < 60.0
    assert not plant.contactors.closed  # the open command still reached the board: only its reports were lost
