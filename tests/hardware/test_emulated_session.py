"""A whole simulated charging session with the power stage served by the InfyPower driver talking CAN to module
emulators that drive the simulated plant (`interface = "sim"`), compared with the plain simulated power module."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from evse.clock import VIRTUAL_NOOP_CYCLES
from evse.config.loader import parse_config
from evse.hardware.drivers.emulators.plant import PlantBackedModule
from evse.hardware.drivers.infypower import protocol as p
from evse.session.stages import Reason, Stage
from evse.sim.cli import simulate
from evse.sim.scenario import parse_scenario
from evse.sim.world import SimWorld, activate

CONFIG = """
[station]
id = "EMU-1"
free_vend = true
[[connectors]]
id = 1
standard = "chademo"
max_voltage_v = 500
max_current_a = 125
max_power_w = 50000
{power}
"""
INFYPOWER = (
    "[connectors.hardware]\n"
    'power_module = { driver = "infypower", params = { interface = "sim", channel = "modules", group = 1, '
    "modules = [1, 2] } }"
)
SCENARIO: dict[str, Any] = {
    "scenario": {"name": "emulated", "unplug_after_s": 5, "end_after_s": 400},
    "events": [
        {"at_s": 1, "connector": 1, "plug": "chademo-1.0-40kwh", "soc_pct": 70, "protocol": {"target_soc_pct": 75}}
    ],
}


async def run(power: str) -> tuple[Any, SimWorld]:
    config = parse_config(CONFIG.format(power=power))
    world = SimWorld(config.sim, 7)
    activate(world)
    try:
        records = await simulate(config, parse_scenario(SCENARIO), world, plain=True)
    finally:
        activate(None)  # as `evse sim` does: later tests must not find this world
    return records, world


@pytest.mark.looptime(noop_cycles=VIRTUAL_NOOP_CYCLES)
async def test_a_session_charges_through_emulated_infypower_modules(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    modules: list[PlantBackedModule] = []
    original = PlantBackedModule.__init__

    def recording(self: PlantBackedModule, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        modules.append(self)

    monkeypatch.setattr(PlantBackedModule, "__init__", recording)
    (record,), _world = await run(INFYPOWER)
    out = capsys.readouterr().out
    assert record.outcome is not None and record.outcome.stage == Stage.ENERGY_TRANSFER, out
    # the car stops itself at its target SOC (CHAdeMO: charging-enabled cleared) — the normal end of a session
    assert record.outcome.reason in (Reason.COMPLETED, Reason.VEHICLE_STOP), out
    assert record.soc_end_pct is not None and record.soc_end_pct >= 74.5
    assert record.energy_wh > 1000
    # the power went through the InfyPower protocol: two modules, set-points, on and off, every reading over CAN
    assert [m.address for m in modules] == [1, 2]
    for module in modules:
        assert module.received[p.CMD_SET_MODULE_OUTPUT] > 100 and module.received[p.CMD_SET_ON_OFF] >= 2
        assert module.received[p.CMD_READ_MODULE_OUTPUT] > 1000
        assert not module.on


@pytest.mark.looptime(noop_cycles=VIRTUAL_NOOP_CYCLES)
async def test_a_module_fault_mid_session_stops_it_safely(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    modules: list[PlantBackedModule] = []
    original = PlantBackedModule.__init__

    def recording(self: PlantBackedModule, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        modules.append(self)
        if self.address == 2:
            # 30 s into the run the module overheats (its alarm bit, as the real module reports it)
            asyncio.get_running_loop().call_later(30.0, self.alarm, 1, p.T1_OVER_TEMPERATURE)

    monkeypatch.setattr(PlantBackedModule, "__init__", recording)
    (record,), world = await run(INFYPOWER)
    out = capsys.readouterr().out
    assert record.outcome is not None and record.outcome.stage == Stage.ENERGY_TRANSFER, out
    assert record.outcome.reason not in (Reason.COMPLETED, Reason.VEHICLE_STOP), out
    assert "power_module_fault" in out or "module_overtemperature" in out, out
    assert not any(m.on for m in modules)
    assert world.plant(1).power.measured_voltage_v() < 60.0
