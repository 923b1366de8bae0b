"""A CCS session through the real session runner, stage API, supervisor and simulated hardware (the sim world's
plant with its pilot, IMD, power module and contactors), with the simulated CCS car of a profile driving the
iso15118 EVCC over the veth pair: the full stack the simulator runs."""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass
from typing import Any

import pytest

from evse.protocols.ccs.adapter import CcsAdapter
from evse.protocols.ccs.bridge import SeccBridge
from evse.protocols.ccs.link import Phase
from evse.protocols.ccs.netns import VethLink
from evse.protocols.ccs.secc import Secc
from evse.protocols.ccs.settings import CcsSettings
from evse.safety.envelope import CableLimits, ChargerLimits, Envelope
from evse.safety.invariants import InvariantMonitor, InvariantViolation
from evse.safety.settings import SafetySettings
from evse.safety.supervisor import Supervisor
from evse.session.events import Event, EventBus, InsulationMeasured, SessionEnded, VehicleIdentified
from evse.session.session import Session
from evse.session.settings import SessionSettings
from evse.session.stages import Outcome, OutcomeKind, Reason, Stage
from evse.sim.faults import inject
from evse.sim.interfaces import VehicleProfile
from evse.sim.profile import load_profile, make_battery, with_overrides
from evse.sim.vehicles import create_vehicle
from evse.sim.world import SimWorld
from tests.simroles import plant_roles

pytestmark = pytest.mark.netns

CHARGER = ChargerLimits(max_voltage_v=920, min_voltage_v=150, max_current_a=200, min_current_a=0, max_power_w=150_000)
#: a small pack (96s1p × 4 Ah ≈ 1.4 kWh) just below the car's 80 % target: a charge of a few seconds
SMALL_PACK = {"cells_parallel": 1, "cell_capacity_ah": 4.0, "soc_pct": 79.6}


PROFILES = ["ccs-400v-77kwh", "ccs-800v-77kwh"]
LATE_AUTHORIZATION_S = 4.0
#: run name → (profile, injected sim fault or None)
RUNS: dict[str, tuple[str, tuple[str, dict[str, Any]] | None, float]] = {
    **{name: (name, None, 0.0) for name in PROFILES},
    "cable-insulation-fault": (
        "ccs-400v-77kwh",
        ("insulation_degradation", {"resistance_ohm": 40_000.0, "location": "cable"}),
        0.0,
    ),
    #: the RFID card is presented 4 s after plug-in: the EV waits with EVSEProcessing=Ongoing meanwhile
    "late-authorization": ("ccs-800v-77kwh", None, LATE_AUTHORIZATION_S),
}


@dataclass
class SimRun:
    outcome: Outcome
    soc_pct: float
    events: list[Event]
    adapter: CcsAdapter
    profile: VehicleProfile
    authorized_at_s: float


@pytest.fixture(scope="module")
def sim_runs(netns_ok: None) -> dict[str, SimRun | BaseException]:
    """Both profile cars, side by side on their own veth pairs (a fresh event loop; real time)."""

    async def all_runs() -> dict[str, SimRun | BaseException]:
        links = [VethLink.create(f"ccsim{os.getpid() % 1000}{i}") for i in range(len(RUNS))]
        try:
            results = await asyncio.gather(
                *(_run(link, *spec) for link, spec in zip(links, RUNS.values(), strict=True)), return_exceptions=True
            )
            return dict(zip(RUNS, results, strict=True))
        finally:
            for link in links:
                link.close()

    return asyncio.run(all_runs())


async def _run(
    veth: VethLink, profile_name: str, fault: tuple[str, dict[str, Any]] | None, authorize_after_s: float
) -> SimRun:
    world = SimWorld(seed=1)
    plant = world.plant(1)
    if fault is not None:
        inject(world, 1, *fault)
    roles = plant_roles(plant, lines=False, pilot=True)
    events: list[Event] = []
    bus = EventBus()
    bus.subscribe(events.append)
    # lenient vehicle-silence limit: several EVCCs and their JVM round trips share two loaded cores here
    safety = SafetySettings(vehicle_message_timeout_s=4.0)
    envelope = Envelope(CHARGER, CableLimits(200, 60, 90))
    supervisor = Supervisor(1, roles, envelope, safety, bus.publish)
    supervisor.attach()
    # the EXI codec's JVM shares two cores with the rest of the suite: a lenient silence limit for the test
    settings = CcsSettings(current_demand_silence_s=3.0)
    bridge = SeccBridge(settings)
    secc = Secc(settings, veth.secc_iface, bridge)
    await secc.start()
    adapter = CcsAdapter(settings, bridge, secc)
    profile = with_overrides(load_profile(profile_name), SMALL_PACK, {})
    plugged = world.plug(1, make_battery(profile), "ccs", profile)
    world.vehicle_links[1] = veth
    vehicle = create_vehicle(profile, plugged, world.vehicle_link(1, "ccs"))
    session = Session(
        connector_id=1,
        adapter=adapter,
        roles=roles,
        envelope=envelope,
        supervisor=supervisor,
        session_settings=SessionSettings(),
        safety_settings=safety,
        publish=bus.publish,
    )
    monitor = InvariantMonitor(roles, envelope, supervisor, safety)
    violations: list[InvariantViolation] = []

    async def watch() -> None:
        # the safety invariants (evse.safety.invariants) checked every 20 ms through the whole session
        while True:
            await asyncio.sleep(0.02)
            try:
                monitor.check(asyncio.get_running_loop().time(), None if session.done.is_set() else session.ctx)
                monitor.check_record(session.ctx.record)
            except InvariantViolation as violation:
                violations.append(violation)

    car = asyncio.ensure_future(vehicle.run())  # type: ignore[attr-defined]
    watchdog = asyncio.ensure_future(watch())
    loop = asyncio.get_running_loop()
    authorized_at_s: list[float] = []

    def present_card() -> None:
        authorized_at_s.append(loop.time())
        session.authorize("TAG")

    loop.call_later(authorize_after_s, present_card)
    try:
        async with asyncio.timeout(45):
            outcome = await session.run()
    finally:
        watchdog.cancel()
        vehicle.stop()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await car
        await secc.stop()
        world.close()
    assert violations == [], violations[0]
    return SimRun(outcome, plugged.battery.soc_pct, events, adapter, profile, authorized_at_s[0])


@pytest.mark.parametrize("profile_name", PROFILES)
def test_profile_car_charges_to_its_target_through_the_real_session(
    sim_runs: dict[str, SimRun | BaseException], profile_name: str
) -> None:
    run = sim_runs[profile_name]
    if isinstance(run, BaseException):
        raise run
    outcome, events, adapter, profile = run.outcome, run.events, run.adapter, run.profile
    assert (outcome.kind, outcome.stage, outcome.reason) == (
        OutcomeKind.COMPLETED,
        Stage.ENERGY_TRANSFER,
        Reason.COMPLETED,
    ), outcome.summary()
    assert run.soc_pct >= 80
    identified = [e for e in events if isinstance(e, VehicleIdentified)]
    assert identified and identified[0].identity["evcc_id"].upper() == profile.protocol["evcc_id"]
    insulation = [e for e in events if isinstance(e, InsulationMeasured)]
    expected_test_v = (
        min(profile.protocol["max_voltage_v"] + 50, 500)
        if profile.protocol["max_voltage_v"] <= 500
        else (min(1.1 * profile.protocol["max_voltage_v"], CHARGER.max_voltage_v))
    )
    assert insulation and insulation[-1].passed and insulation[-1].test_voltage_v == pytest.approx(expected_test_v)
    assert adapter.link is not None and adapter.link.reached(Phase.SESSION_STOP)


def test_cable_insulation_fault_fails_cable_check_with_the_real_imd(
    sim_runs: dict[str, SimRun | BaseException],
) -> None:
    run = sim_runs["cable-insulation-fault"]
    if isinstance(run, BaseException):
        raise run
    assert (run.outcome.kind, run.outcome.stage, run.outcome.reason) == (
        OutcomeKind.FAILED,
        Stage.INSULATION_TEST,
        Reason.INSULATION_FAULT,
    ), run.outcome.summary()
    measured = [e for e in run.events if isinstance(e, InsulationMeasured)]
    assert measured and not measured[-1].passed
    assert run.adapter.link is not None and not run.adapter.link.reached(Phase.PRE_CHARGE)


def test_late_external_identification_holds_the_ev_then_charges(sim_runs: dict[str, SimRun | BaseException]) -> None:
    run = sim_runs["late-authorization"]
    if isinstance(run, BaseException):
        raise run
    assert run.outcome.kind is OutcomeKind.COMPLETED, run.outcome.summary()
    link = run.adapter.link
    assert link is not None
    # the EV asked for authorization before the card was there, and was held (Ongoing) until it was
    assert link.phase_t_s[Phase.AUTHORIZATION] < run.authorized_at_s < link.phase_t_s[Phase.CHARGE_PARAMETER_DISCOVERY]
    (ended,) = [e for e in run.events if isinstance(e, SessionEnded)]
    assert ended.stage_durations_s[Stage.AUTHORIZATION] > 0.5
