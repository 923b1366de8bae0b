"""The yeti board driver against an emulated board driving the simulated plant (`port = "sim"`): the CP/PP path,
and a whole simulated CHAdeMO session with the contactors and lock on the board, one where the board falls
silent mid-session."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from evse.clock import VIRTUAL_NOOP_CYCLES
from evse.config.loader import parse_config
from evse.hardware.drivers.emulators.yeti_plant import PlantBackedBoard
from evse.hardware.registry import DriverContext, create
from evse.hardware.roles import CpState
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


@pytest.mark.looptime
async def test_the_pilot_path_through_the_emulated_board_on_the_plant() -> None:
    world = SimWorld(None, 3)
    context = DriverContext(1, "ccs", {"sim.world": world})
    pilot = create("pilot", "yeti", {"port": "sim"}, context=context)
    contactors = create("contactors", "yeti", {"port": "sim"}, context=context)
    plant = world.plant(1)
    await asyncio.sleep(1.0)
    assert pilot.link.alive and len(context.shared["yeti.emulated"]) == 1  # one board for both roles
    pilot.set_pwm(None)
    await asyncio.sleep(0.2)
    assert plant.pilot.duty_pct is None and not plant.pilot.state_f and pilot.state() == CpState.A
    plant.pilot.plugged = True
    plant.pilot.set_vehicle_state("B")
    await asyncio.sleep(0.2)
    assert pilot.state() == CpState.B and pilot.proximity_ohm() == 1500.0
    pilot.set_pwm(5.0)
    plant.pilot.set_vehicle_state("C")
    await asyncio.sleep(0.5)
    assert plant.pilot.duty_pct == 5.0 and pilot.state() == CpState.C
    assert abs(pilot.high_voltage_v() - 6.0) < 0.5  # the plant's CP level, through the telemetry
    contactors.close()
    await asyncio.sleep(1.0)
    assert plant.contactors.closed and contactors.feedback_closed()
    assert abs(contactors.vehicle_side_voltage_v() - plant.inlet_voltage_v) < 1.0  # the plant's (noisy) sense
    contactors.open()
    plant.pilot.diode_fault = True
    await asyncio.sleep(1.0)
    assert not plant.contactors.closed and not contactors.feedback_closed()
    assert pilot.state() == CpState.DIODE_FAULT
    pilot.set_state_f()
    await asyncio.sleep(0.2)
    assert plant.pilot.state_f and pilot.state() == CpState.F
    pilot.shutdown()
    plant.close()
