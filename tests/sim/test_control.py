"""The simulator seam of the local API, over the simulated world."""

from __future__ import annotations

import pytest

from evse.api.sim import SimControl, SimControlError
from evse.clock import VIRTUAL_NOOP_CYCLES
from evse.sim.control import WorldSimControl
from evse.sim.world import SimWorld

pytestmark = pytest.mark.looptime(noop_cycles=VIRTUAL_NOOP_CYCLES)


async def test_plug_fault_unplug_through_the_seam(world: SimWorld) -> None:
    world.plant(2)
    control: SimControl = WorldSimControl(world)
    assert "chademo-1.0-40kwh" in control.profiles()
    assert any(f["name"] == "bms_silence" and f["params"] == {} for f in control.fault_catalogue())
    await control.plug(2, "chademo-1.0-40kwh", soc_pct=55)
    plugged = world.plant(2).vehicle
    assert plugged is not None and plugged.battery.soc_pct == 55
    control.inject_fault(2, "lock_stuck", {})
    assert control.active_faults(2) == [{"name": "lock_stuck", "params": {}}]
    assert control.clear_fault(2, "lock_stuck") and not control.clear_fault(2, "lock_stuck")
    await control.unplug(2)
    assert world.plant(2).vehicle is None


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        ("plug9", "not a simulated connector"),
        ("plug_bad", "no vehicle profile named"),
        ("unplug", "no vehicle plugged in"),
        ("fault", "unknown fault"),
    ],
)
async def test_errors_are_sim_control_errors(world: SimWorld, call: str, needle: str) -> None:
    world.plant(1)
    control = WorldSimControl(world)
    with pytest.raises(SimControlError, match=needle):
        if call == "plug9":
            await control.plug(9, "ccs-400v-77kwh")
        elif call == "plug_bad":
            await control.plug(1, "hovercraft")
        elif call == "unplug":
            await control.unplug(1)
        else:
            control.inject_fault(1, "gremlins", {})
