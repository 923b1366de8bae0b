"""Any fault at any moment of a simulated CHAdeMO session ends it safely and in bounded time: whatever is injected
and whenever, the session reaches FINISHED or FAULTED, the output contactors are open, the power module is off and
the output discharged, d1/d2 are off, and the connector is unlocked unless the car keeps its pack on the inlet."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evse.protocols.chademo import messages as m
from evse.session.stages import Reason, Stage
from evse.sim import faults
from tests.chademo.simrig import ChademoRig

#: the longest a stop may take after its cause: ramp-down, welding detection give-up (10 s), d2→d1, discharge
MAX_STOP_S = 30.0

FAULTS: dict[str, Callable[[ChademoRig], object]] = {
    "release_k": lambda rig: rig.vehicle.inject("release_k"),
    "disable_charging": lambda rig: rig.vehicle.inject("disable_charging"),
    "shift_lever": lambda rig: rig.vehicle.inject("shift_lever"),
    "stop_request": lambda rig: rig.vehicle.inject("stop_request"),
    "charging_system_fault": lambda rig: rig.vehicle.inject("charging_system_fault"),
    "silence": lambda rig: rig.vehicle.inject("silence"),
    "fault_flag": lambda rig: rig.vehicle.inject("fault_flag", flag=m.FAULT_FLAGS[3]),
    "user_stop": lambda rig: rig.session.request_stop(Reason.USER_STOP),
    "csms_stop": lambda rig: rig.session.request_stop(Reason.CSMS_STOP),
    "emergency_stop": lambda rig: rig.session.emergency_stop("test"),
    "plug_pulled": lambda rig: faults.inject(rig.world, 1, "plug_pulled"),
}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fault=st.sampled_from(sorted(FAULTS)), at_s=st.floats(0.0, 25.0), protocol=st.sampled_from([1, 2, 3]))
def test_any_fault_at_any_time_ends_safely(fault: str, at_s: float, protocol: int) -> None:
    async def scenario() -> None:
        rig = ChademoRig(battery={"soc_pct": 40}, protocol={"protocol_number": protocol})
        loop = asyncio.get_running_loop()
        injected: list[float] = []

        def inject() -> None:
            if rig.session.stage not in (Stage.STOPPING, Stage.UNLOCK, Stage.FINISHED, Stage.FAULTED):
                injected.append(loop.time())
                FAULTS[fault](rig)

        loop.call_later(at_s, inject)
        outcome = await asyncio.wait_for(rig.run(), timeout=at_s + 60.0)
        assert injected, "the fault came after the session ended"
        assert rig.session.stage is (Stage.FAULTED if outcome.failed else Stage.FINISHED)
        assert loop.time() - injected[0] <= MAX_STOP_S
        assert not rig.plant.contactors.feedback_closed()
        assert not rig.plant.power.enabled()
        assert rig.plant.power.measured_voltage_v() < 60
        assert not rig.plant.lines.output("d1") and not rig.plant.lines.output("d2")
        assert rig.plant.lock.locked() == (rig.plant.inlet_voltage_v >= 60)

    from evse import clock

    clock.run(scenario, virtual=True)
