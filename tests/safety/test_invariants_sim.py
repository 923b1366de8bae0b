"""The stateful invariant test on the simulated hardware of `evse.sim` (plant physics with slew rates, contactor and
lock delays, IMD settling, noise) instead of the instant doubles: the same session runner, supervisor and invariant
monitor, with the vehicles of the built-in profiles and the simulation's own fault catalogue.

The instant-physics run (`test_invariants_stateful.py`) carries the ≥ 10,000-step budget; this one adds
`MAX_EXAMPLES × STEPS` steps on the realistic plant.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from evse.clock import new_virtual_loop
from evse.hardware.roles import CpState
from evse.safety.envelope import CableLimits, Envelope
from evse.safety.invariants import InvariantMonitor, InvariantViolation
from evse.safety.settings import SafetySettings
from evse.safety.supervisor import Supervisor
from evse.session.adapter import PLANS
from evse.session.context import VehicleLimits
from evse.session.events import EventBus
from evse.session.session import Session
from evse.session.stages import Outcome, Reason, Stage
from evse.sim import faults
from evse.sim.profile import builtin_profiles, load_profile, make_battery
from evse.sim.vehicle_plant import PluggedVehicle
from evse.sim.world import SimWorld
from tests.safety.test_invariants_stateful import BODY_STAGES, SESSION_SETTINGS, STATS
from tests.safety.watched_session import WatchedSession
from tests.session.doubles import CHARGER, PLUG_LINES, ScriptedAdapter
from tests.simroles import plant_roles

MAX_EXAMPLES = 150
STEPS = 40
STEP_S = 0.5
#: profiles whose pack fits the 500 V test charger
PROFILES = [name for name in sorted(builtin_profiles()) if make_battery(load_profile(name)).max_voltage_v <= 500]
SIM_FAULTS: list[tuple[str, dict[str, Any]]] = [
    ("insulation_degradation", {"resistance_ohm": 40_000.0, "location": "cable"}),
    ("insulation_degradation", {"resistance_ohm": 150_000.0, "location": "cable"}),
    ("imd_silent", {}),
    ("imd_device_fault", {}),
    ("contactor_welding", {}),
    ("emergency_stop", {}),
    ("power_module_fault", {}),
    ("connector_overtemperature", {"offset_c": 45.0}),
    ("connector_overtemperature", {"offset_c": 80.0}),
    ("lock_stuck", {}),
    ("plug_pulled", {}),
]


class SimVehicle:
    """The scripted adapter's `VehicleSide` on a simulated plugged vehicle."""

    def __init__(self, vehicle: PluggedVehicle) -> None:
        self.vehicle = vehicle

    @property
    def battery_v(self) -> float:
        return self.vehicle.battery.open_circuit_voltage_v()

    def set_cp(self, state: CpState) -> None:
        self.vehicle.set_vehicle_line("cp_state", state.value)

    def set_vehicle_closed(self, closed: bool) -> None:
        if closed:
            self.vehicle.close_vehicle_contactors()
        else:
            self.vehicle.open_vehicle_contactors()


class SimSessionsWithFaults(WatchedSession, RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = new_virtual_loop()
        self.safety = SafetySettings()
        self.bus = EventBus()
        self.loop.run_until_complete(self._build())
        self.session: Session | None = None
        self.task: asyncio.Task[Outcome] | None = None
        self.vehicle: PluggedVehicle | None = None
        self.violation: InvariantViolation | None = None
        self.watch = self.loop.create_task(self._watch())

    async def _build(self) -> None:
        self.world = SimWorld(seed=7)
        plant = self.world.plant(1)
        self.plant = plant
        self.roles = plant_roles(plant, pilot=True)
        self.envelope = Envelope(CHARGER, CableLimits(250, 60, 90))
        self.supervisor = Supervisor(1, self.roles, self.envelope, self.safety, self.bus.publish)
        self.supervisor.attach()
        self.monitor = InvariantMonitor(self.roles, self.envelope, self.supervisor, self.safety)

    def contactors_welded(self) -> bool:
        return bool(self.plant.contactors.welded)

    def _in_loop(self, action: Callable[[], object]) -> None:
        """Run a command inside the loop (the simulated drivers schedule their delays on it)."""

        async def call() -> None:
            action()

        self.loop.run_until_complete(call())

    def teardown(self) -> None:
        STATS["steps_sim"] = STATS.get("steps_sim", 0)
        self._close_loop(before_close=self.world.close)

    @initialize()
    def start(self) -> None:
        self._run(0.1)

    @precondition(lambda self: not self.running)
    @rule(
        profile=st.sampled_from(PROFILES),
        soc_pct=st.floats(10, 90),
        request_a=st.floats(0, 250),
        charge_s=st.floats(1, 60),
        fail_at=st.sampled_from([None] * len(BODY_STAGES) * 3 + BODY_STAGES),
        hang_at=st.sampled_from([None] * len(BODY_STAGES) * 3 + BODY_STAGES),
    )
    def plug_in(
        self,
        profile: str,
        soc_pct: float,
        request_a: float,
        charge_s: float,
        fail_at: Stage | None,
        hang_at: Stage | None,
    ) -> None:
        self.loop.run_until_complete(self._plug(profile, soc_pct, request_a, charge_s, fail_at, hang_at))
        self._run(0.01)

    async def _plug(
        self,
        name: str,
        soc_pct: float,
        request_a: float,
        charge_s: float,
        fail_at: Stage | None,
        hang_at: Stage | None,
    ) -> None:
        if self.vehicle is not None and not self.roles.lock.locked():  # type: ignore[union-attr]
            self.world.unplug(1)
            self.vehicle = None
        if self.vehicle is None:
            profile = load_profile(name)
            battery = make_battery(profile, soc_pct=soc_pct)
            self.vehicle = self.world.plug(1, battery, profile.standard, profile)
        vehicle = self.vehicle
        standard = vehicle.standard
        battery_max_v = vehicle.battery.max_voltage_v
        adapter = ScriptedAdapter(
            SimVehicle(vehicle),
            PLANS[standard],
            fail_at=fail_at if fail_at not in (Stage.STOPPING, Stage.UNLOCK) else None,
            hang_at=hang_at,
            charge_s=charge_s,
            request_v=battery_max_v,
            request_a=request_a,
            vehicle_limits=VehicleLimits(
                max_voltage_v=battery_max_v, max_current_a=vehicle.battery.max_charge_current_a()
            ),
            plug_line=PLUG_LINES.get(standard),
        )
        self.session = Session(
            connector_id=1,
            adapter=adapter,
            roles=self.roles,
            envelope=self.envelope,
            supervisor=self.supervisor,
            session_settings=SESSION_SETTINGS,
            safety_settings=self.safety,
            publish=self.bus.publish,
        )
        self.session.authorize("TAG")
        self.task = asyncio.get_running_loop().create_task(self.session.run())

    @rule(seconds=st.sampled_from([0.05, 0.5, 2.0, 10.0]))
    def time_passes(self, seconds: float) -> None:
        self._run(seconds)

    @precondition(lambda self: self.running)
    @rule(command=st.sampled_from(["user_stop", "csms_stop", "emergency_stop", "pause", "resume"]))
    def station_command(self, command: str) -> None:
        self._in_loop(lambda: self._station_command(command))

    def _station_command(self, command: str) -> None:
        session = self.session
        assert session is not None
        if command == "emergency_stop":
            session.emergency_stop()
        elif command in ("pause", "resume"):
            session.set_station_pause(command == "pause")
        else:
            session.request_stop(Reason.USER_STOP if command == "user_stop" else Reason.CSMS_STOP)

    @rule(current_a=st.none() | st.floats(0, 200), share_w=st.none() | st.floats(0, 80_000))
    def limits_change(self, current_a: float | None, share_w: float | None) -> None:
        def change() -> None:
            self.envelope.set_csms(current_a, None)
            self.envelope.set_station_share_w(share_w)

        self._in_loop(change)

    @rule(index=st.integers(0, len(SIM_FAULTS) - 1), clear_all=st.sampled_from([True, True, False]))
    def fault(self, index: int, clear_all: bool) -> None:
        self._in_loop(lambda: self._fault(index, clear_all))

    def _fault(self, index: int, clear_all: bool) -> None:
        if clear_all:
            for active in faults.active(self.world, 1):
                faults.clear(self.world, 1, active.name)
            return
        name, params = SIM_FAULTS[index]
        with contextlib.suppress(faults.FaultError):
            faults.inject(self.world, 1, name, params)

    @invariant()
    def safety_invariants_hold(self) -> None:
        STATS["steps_sim"] = STATS.get("steps_sim", 0) + 1
        self._advance_and_check(STEP_S)

    @invariant()
    def a_finished_session_has_an_outcome(self) -> None:
        self._finished_session()


SimSessionsWithFaults.TestCase.settings = settings(
    max_examples=MAX_EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestSimSessionsWithFaults = SimSessionsWithFaults.TestCase
