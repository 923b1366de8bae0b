"""Stateful test: random vehicle behaviour, station commands, measurements and injected faults driven through the
session runner + supervisor + hardware doubles on a virtual clock; the safety invariants
(evse.safety.invariants) are checked after every step and every 50 ms of simulated time in between.

Budget: MAX_EXAMPLES × STEPS ≥ 10,000 steps per run (issue 3), in well under a minute of wall time.
"""

from __future__ import annotations

import asyncio

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
from evse.session.events import Event, EventBus, FaultRaised, StageChanged
from evse.session.session import Session
from evse.session.settings import SessionSettings
from evse.session.stages import Outcome, Reason, Stage
from tests.safety.watched_session import WatchedSession
from tests.session.doubles import CHARGER, PLUG_LINES, Rig, ScriptedAdapter

MAX_EXAMPLES = 300
STEPS = 50
#: the invariants are also checked this often inside a step (simulated seconds)
#: simulated time every step lets pass (on top of the `time_passes` rule)
STEP_S = 0.3
STATS: dict[str, int] = {"steps": 0, "time_passes": 0, "sessions": 0, "trips": 0, "energy": 0, "plug_line_trips": 0}

SESSION_SETTINGS = SessionSettings(
    authorization_timeout_s=30.0,
    bms_wake_up_timeout_s=20.0,
    parameter_negotiation_timeout_s=20.0,
    energy_transfer_timeout_s=300.0,
    paused_timeout_s=60.0,
)
FAULTS = [
    *["clear"] * 8,
    "over_voltage_small",
    "over_voltage_big",
    "over_current_small",
    "over_current_big",
    "insulation_warning",
    "insulation_fault",
    "imd_silent",
    "welded",
    "stuck_open",
    "estop",
    "power_fault",
    "temperature_derate",
    "temperature_trip",
    "pilot_A",
    "pilot_B",
    "pilot_C",
    "pilot_E",
    "vehicle_opens",
    "vehicle_opens",
    *["plug_pulled"] * 3,
]
BODY_STAGES = [s for s in Stage if s not in (Stage.IDLE, Stage.PAUSED, Stage.FINISHED, Stage.FAULTED)]


class SessionsWithFaults(WatchedSession, RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = new_virtual_loop()
        self.safety = SafetySettings()
        self.rig = Rig()
        self.bus = EventBus()
        self.envelope = Envelope(CHARGER, CableLimits(250, 60, 90))
        self.supervisor = Supervisor(1, self.rig.roles, self.envelope, self.safety, self.bus.publish)
        self.supervisor.attach()
        self.monitor = InvariantMonitor(self.rig.roles, self.envelope, self.supervisor, self.safety)
        self.session: Session | None = None
        self.adapter: ScriptedAdapter | None = None
        self.task: asyncio.Task[Outcome] | None = None
        self.violation: InvariantViolation | None = None
        self.sessions = 0
        self.bus.subscribe(self._count)
        self._background = [
            self.loop.create_task(self.rig.run()),
            self.loop.create_task(self._watch()),
        ]

    # ------------------------------------------------------------------ plumbing
    def _count(self, event: Event) -> None:
        if isinstance(event, StageChanged) and event.stage is Stage.ENERGY_TRANSFER:
            STATS["energy"] += 1
        elif isinstance(event, FaultRaised) and event.code == "plug_line_lost":
            STATS["plug_line_trips"] += 1

    def contactors_welded(self) -> bool:
        return bool(self.rig.contactors.welded)

    def teardown(self) -> None:
        STATS["sessions"] += self.sessions
        STATS["trips"] += self.supervisor.trips
        self._close_loop()

    # ------------------------------------------------------------------ vehicle plugs in
    @initialize()
    def start_clean(self) -> None:
        self._run(0.1)

    @precondition(lambda self: not self.running)
    @rule(
        standard=st.sampled_from(sorted(PLANS)),
        battery_v=st.floats(200, 440),
        vehicle_max_a=st.floats(10, 300),
        request_a=st.floats(0, 300),
        charge_s=st.floats(1, 60),
        fail_at=st.sampled_from([None] * len(BODY_STAGES) * 3 + BODY_STAGES),
        hang_at=st.sampled_from([None] * len(BODY_STAGES) * 3 + BODY_STAGES),
        authorize=st.booleans(),
        skip=st.sampled_from([frozenset()] * 6 + [frozenset({Stage.INSULATION_TEST}), frozenset({Stage.PRE_CHARGE})]),
    )
    def plug_in(
        self,
        standard: str,
        battery_v: float,
        vehicle_max_a: float,
        request_a: float,
        charge_s: float,
        fail_at: Stage | None,
        hang_at: Stage | None,
        authorize: bool,
        skip: frozenset[Stage],
    ) -> None:
        rig = self.rig
        if not rig.lock.locked():  # a new vehicle (an unlocked connector could be unplugged)
            rig.battery_v = battery_v
            rig.vehicle_closed = False
        rig.pilot.cp = CpState.A
        rig.lines.plug(True)  # CHAdeMO connection check active, GB/T CC1 at 4 V
        self.adapter = ScriptedAdapter(
            rig,
            PLANS[standard],
            fail_at=fail_at if fail_at not in (Stage.STOPPING, Stage.UNLOCK) else None,
            hang_at=hang_at,
            charge_s=charge_s,
            request_v=450.0,
            request_a=request_a,
            vehicle_limits=VehicleLimits(max_voltage_v=450.0, max_current_a=vehicle_max_a),
            skip=skip,
            plug_line=PLUG_LINES.get(standard),
        )
        self.session = self.loop.run_until_complete(self._new_session(self.adapter))
        if authorize:
            self.session.authorize("TAG")
        self.task = self.loop.create_task(self.session.run())
        self.sessions += 1
        self._run(0.01)

    async def _new_session(self, adapter: ScriptedAdapter) -> Session:
        return Session(
            connector_id=1,
            adapter=adapter,
            roles=self.rig.roles,
            envelope=self.envelope,
            supervisor=self.supervisor,
            session_settings=SESSION_SETTINGS,
            safety_settings=self.safety,
            publish=self.bus.publish,
        )

    # ------------------------------------------------------------------ time passes
    @rule(seconds=st.sampled_from([0.01, 0.05, 0.2, 0.5, 1.0, 3.0, 10.0]))
    def time_passes(self, seconds: float) -> None:
        self._run(seconds)
        STATS["time_passes"] += 1

    @rule(seconds=st.sampled_from([1.0, 3.0]))
    def more_time_passes(self, seconds: float) -> None:
        self._run(seconds)

    # ------------------------------------------------------------------ station commands
    @precondition(lambda self: self.running)
    @rule(
        command=st.sampled_from(
            [
                "authorize",
                "authorize",
                "user_stop",
                "csms_stop",
                "unplug",
                "shutdown",
                "emergency_stop",
                "pause",
                "resume",
                "resume",
            ]
        )
    )
    def station_command(self, command: str) -> None:
        session = self.session
        assert session is not None
        if command == "authorize":
            session.authorize("TAG")
        elif command == "emergency_stop":
            session.emergency_stop()
        elif command in ("pause", "resume"):
            session.set_station_pause(command == "pause")
        else:
            reasons = {"user_stop": Reason.USER_STOP, "csms_stop": Reason.CSMS_STOP, "unplug": Reason.UNPLUGGED}
            session.request_stop(reasons.get(command, Reason.SHUTDOWN))

    @rule(
        current_a=st.none() | st.floats(0, 200),
        power_w=st.none() | st.floats(0, 80_000),
        share_w=st.none() | st.floats(0, 80_000),
    )
    def limits_change(self, current_a: float | None, power_w: float | None, share_w: float | None) -> None:
        self.envelope.set_csms(current_a, power_w)
        self.envelope.set_station_share_w(share_w)

    # ------------------------------------------------------------------ vehicle behaviour
    @precondition(lambda self: self.adapter is not None)
    @rule(paused=st.booleans(), silent=st.sampled_from([False, False, False, True]), request_a=st.floats(0, 300))
    def vehicle_behaviour(self, paused: bool, silent: bool, request_a: float) -> None:
        assert self.adapter is not None
        self.adapter.pause_requested = paused
        self.adapter.silent = silent
        self.adapter.request_a = request_a

    # ------------------------------------------------------------------ measurements and injected faults
    @rule(fault=st.sampled_from(FAULTS))
    def inject(self, fault: str) -> None:
        rig = self.rig
        if fault == "clear":
            rig.voltage_offset_v = rig.current_offset_a = 0.0
            rig.insulation_ohm = 1e6
            rig.imd.silent = False
            rig.contactors.welded = rig.contactors.stuck_open = False
            rig.power.fault_code = None
            rig.estop.press(False)
            rig.temperatures.set("cable", 25.0)
            if not rig.lines.inputs["connected"]:
                rig.lines.plug(True)
        elif fault == "plug_pulled":
            rig.lines.plug(False)  # the plug line says "not inserted" (the supervisor watches it for CHAdeMO/GB/T)
        elif fault.startswith("over_voltage"):
            rig.voltage_offset_v = 80.0 if fault.endswith("small") else 250.0
        elif fault.startswith("over_current"):
            rig.current_offset_a = 30.0 if fault.endswith("small") else 400.0
        elif fault.startswith("insulation"):
            rig.insulation_ohm = 150e3 if fault.endswith("warning") else 40e3
        elif fault == "imd_silent":
            rig.imd.silent = True
        elif fault == "welded":
            rig.contactors.welded = True
        elif fault == "stuck_open":
            rig.contactors.stuck_open = True
        elif fault == "estop":
            rig.estop.press(True)
        elif fault == "power_fault":
            rig.power.fault_code = "module_overtemperature"
            rig.power.on = False
        elif fault.startswith("temperature"):
            rig.temperatures.set("cable", 80.0 if fault.endswith("derate") else 100.0)
        elif fault.startswith("pilot_"):
            rig.pilot.set(CpState(fault.removeprefix("pilot_")))
        elif fault == "vehicle_opens":
            rig.vehicle_closed = False
        rig.update()

    @precondition(
        lambda self: self.supervisor.energy_active and self.adapter is not None and self.adapter.plug_line is not None
    )
    @rule()
    def plug_pulled_under_load(self) -> None:
        """A CHAdeMO/GB/T plug pulled during energy transfer (the random `plug_pulled` fault may come any time)."""
        self.rig.lines.plug(False)
        self.rig.update()

    # ------------------------------------------------------------------ the invariants
    @invariant()
    def safety_invariants_hold(self) -> None:
        STATS["steps"] += 1
        self._advance_and_check(STEP_S)  # every step lets some simulated time pass, checked every MONITOR_PERIOD_S

    @invariant()
    def a_finished_session_has_an_outcome_naming_a_stage(self) -> None:
        session = self._finished_session()
        if session is not None:
            assert session.outcome is not None and session.outcome.failed == (session.stage is Stage.FAULTED)


SessionsWithFaults.TestCase.settings = settings(
    max_examples=MAX_EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestSessionsWithFaults = SessionsWithFaults.TestCase


def test_zz_the_stateful_run_covered_enough() -> None:
    """Runs after the stateful test in this module: it took ≥ 10,000 steps and exercised sessions and trips."""
    print(STATS)
    if STATS["steps"]:  # (0 when only this test was selected)
        assert STATS["steps"] >= 10_000
        assert STATS["energy"] > 0 and STATS["trips"] > 0
        assert STATS["plug_line_trips"] > 0  # a CHAdeMO/GB/T plug pulled under load was among them
