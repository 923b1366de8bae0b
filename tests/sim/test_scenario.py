"""Scenario files: parsing with clear errors, and the runner playing them against the station's events."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from evse.clock import VIRTUAL_NOOP_CYCLES
from evse.session.events import EventBus, SessionEnded, SessionStarted, StageChanged
from evse.session.stages import Outcome, Reason, Stage
from evse.sim.runner import ScenarioRunner
from evse.sim.scenario import ScenarioError, load_scenario, parse_scenario
from evse.sim.view import LiveView, summary
from evse.sim.world import SimWorld

DEMO = Path(__file__).resolve().parents[2] / "config" / "scenarios" / "demo.toml"


def test_demo_scenario_loads() -> None:
    scenario = load_scenario(DEMO)
    assert scenario.connectors() == {1, 2, 3}
    assert {e.action for e in scenario.events} >= {"plug", "fault"}
    plug = next(e for e in scenario.events if e.action == "plug" and e.connector_id == 1)
    assert plug.profile is not None and plug.profile.battery["soc_pct"] == 10


@pytest.mark.parametrize(
    ("events", "needle"),
    [
        ([], "has no [[events]]"),
        ([{"at_s": 0, "connector": 1}], "exactly one action"),
        ([{"at_s": 0, "connector": 1, "plug": "x", "unplug": True}], "exactly one action"),
        ([{"connector": 1, "unplug": True}], "either at_s"),
        ([{"at_s": 0, "on_stage": "charging", "connector": 1, "unplug": True}], "not a stage"),
        ([{"at_s": 0, "connector": 1, "plug": "no-such-car"}], "no vehicle profile named"),
        ([{"at_s": 0, "connector": 1, "plug": "gbt-2015-60kwh", "soc_pct": "half"}], "battery.soc_pct"),
        ([{"at_s": 0, "connector": 1, "stop": "now"}], "use user_stop"),
        ([{"at_s": 0, "unplug": True}], "needs connector"),
        ([{"at_s": 0, "connector": 1, "unplug": True, "colour": 1}], "unknown key(s) colour"),
        ([{"at_s": "soon", "connector": 1, "unplug": True}], "must be a number"),
    ],
)
def test_broken_scenarios_say_what_to_fix(events: list[dict[str, Any]], needle: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario({"scenario": {"name": "t"}, "events": events}, source="t.toml")
    assert needle in str(err.value) and "t.toml" in str(err.value)


def test_missing_file_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="does not exist"):
        load_scenario(tmp_path / "nope.toml")


def scenario(**head: Any) -> Any:
    return parse_scenario(
        {
            "scenario": {"name": "t", **head},
            "events": [
                {"at_s": 1, "connector": 2, "plug": "chademo-0.9-24kwh"},
                {
                    "connector": 2,
                    "on_stage": "energy_transfer",
                    "after_s": 5,
                    "fault": "connector_overtemperature",
                    "params": {"offset_c": 30},
                },
            ],
        }
    )


@pytest.mark.looptime(noop_cycles=VIRTUAL_NOOP_CYCLES)
async def test_runner_plays_events_on_time_and_on_stage() -> None:
    world, bus = SimWorld(seed=3), EventBus()
    world.plant(2)
    runner = ScenarioRunner(world, scenario(unplug_after_s=10), bus)
    notes: list[tuple[float, int, str]] = []
    runner.notes.append(lambda t, c, text: notes.append((t, c, text)))
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(1.5)
    assert world.plant(2).vehicle is not None and world.plant(2).lines.input_active("connected")
    t = asyncio.get_running_loop().time()
    bus.publish(SessionStarted(connector_id=2, session_id="s1", t_s=t, standard="chademo"))
    bus.publish(StageChanged(connector_id=2, session_id="s1", t_s=t, stage=Stage.ENERGY_TRANSFER, previous=Stage.IDLE))
    await asyncio.sleep(4.9)
    assert world.plant(2).temperatures.offsets_c["dc_plus"] == 0.0
    await asyncio.sleep(0.2)
    assert world.plant(2).temperatures.offsets_c["dc_plus"] == 30.0
    outcome = Outcome.of(Stage.ENERGY_TRANSFER, Reason.COMPLETED)
    t = asyncio.get_running_loop().time()
    durations = {Stage.CONNECTION_DETECTION: 1.0, Stage.ENERGY_TRANSFER: 5.0}
    bus.publish(
        SessionEnded(
            connector_id=2, session_id="s1", t_s=t, outcome=outcome, stage_durations_s=durations, energy_wh=1500
        )
    )
    records = await asyncio.wait_for(task, 60)
    assert world.plant(2).vehicle is None  # unplugged 10 s after the end, then the scenario was over
    assert asyncio.get_running_loop().time() == pytest.approx(t + 10, abs=0.01)
    (record,) = records
    assert record.outcome == outcome and record.energy_wh == 1500 and record.faults == ["connector_overtemperature"]
    assert any("fault injected: connector_overtemperature" in n[2] for n in notes)
    table = summary(records)
    assert "completed" in table and "1.50 kWh" in table and "| 1 | 1.0 |" in table and "2 chademo" in table


@pytest.mark.looptime(noop_cycles=VIRTUAL_NOOP_CYCLES)
async def test_runner_ends_at_its_time_limit_and_reports_a_missing_outcome() -> None:
    world, bus = SimWorld(seed=3), EventBus()
    runner = ScenarioRunner(world, scenario(end_after_s=100), bus)
    records = await runner.run()
    assert asyncio.get_running_loop().time() == pytest.approx(100, abs=0.01)
    assert records[0].outcome is None and "no outcome" in summary(records)


@pytest.mark.looptime(noop_cycles=VIRTUAL_NOOP_CYCLES)
async def test_plain_view_prints_lines_without_escape_codes() -> None:
    import io

    world, bus = SimWorld(seed=3), EventBus()
    out = io.StringIO()
    runner = ScenarioRunner(world, scenario(end_after_s=20), bus)
    view = LiveView(runner, world, out, tty=False, progress_every_s=5)
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(2)
    t = asyncio.get_running_loop().time()
    bus.publish(StageChanged(connector_id=2, session_id="s", t_s=t, stage=Stage.BMS_WAKE_UP, previous=Stage.IDLE))
    bus.publish(SessionStarted(connector_id=2, session_id="s", t_s=t, standard="chademo"))
    for _ in range(10):
        await asyncio.sleep(1)
        view.tick()
    await task
    text = out.getvalue()
    assert "\x1b" not in text
    assert "connector 2: idle → bms_wake_up" in text and "plugged in: CHAdeMO 0.9" in text
    progress = [line for line in text.splitlines() if "bms_wake_up" in line and "%" in line and " kW" in line]
    assert progress and "CHAdeMO 0.9" in progress[0]


@pytest.mark.looptime(noop_cycles=VIRTUAL_NOOP_CYCLES)
async def test_terminal_view_redraws_in_place() -> None:
    import io

    world, bus = SimWorld(seed=3), EventBus()
    out = io.StringIO()
    runner = ScenarioRunner(world, scenario(end_after_s=5), bus)
    view = LiveView(runner, world, out, tty=True)
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(2)
    view.draw()
    view.draw()
    await task
    text = out.getvalue()
    assert "\x1b[" in text and "F\x1b[J" in text  # cursor up + clear: the second frame replaces the first
    assert "evse sim — t" in text and "CHAdeMO 0.9" in text
