"""The session runner through a scripted adapter on fake hardware (virtual clock)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from evse.session.adapter import PLANS
from evse.session.context import StageContext
from evse.session.events import (
    InsulationMeasured,
    LimitChanged,
    LimitsNegotiated,
    MeterSample,
    SessionEnded,
    SessionStarted,
    StageChanged,
    VehicleIdentified,
)
from evse.session.settings import SessionSettings
from evse.session.stages import OutcomeKind, Reason, Stage
from tests.session.doubles import Harness

pytestmark = pytest.mark.looptime


@pytest.mark.parametrize("standard", sorted(PLANS))
async def test_a_session_runs_through_every_stage_of_its_plan(standard: str) -> None:
    async with Harness(standard) as h:
        session = h.new_session()
        session.authorize("TAG1")
        outcome = await session.run()
    assert outcome.kind is OutcomeKind.STOPPED_BY_VEHICLE, outcome.summary()
    assert outcome.stage is Stage.ENERGY_TRANSFER and outcome.vehicle_reason == "soc_target"
    assert tuple(h.adapter.stages_run) == PLANS[standard].stages
    assert session.stage is Stage.FINISHED
    visited = [e.stage for e in h.of(StageChanged)]  # type: ignore[attr-defined]
    assert visited == [*PLANS[standard].stages, Stage.FINISHED]
    durations = session.stage_log.durations_s()
    assert durations[Stage.ENERGY_TRANSFER] == pytest.approx(10.0, abs=0.5)
    assert h.adapter.opened == h.adapter.closed == 1
    assert len(h.of(SessionStarted)) == len(h.of(SessionEnded)) == 1
    assert h.of(LimitsNegotiated) and h.of(VehicleIdentified) and h.of(LimitChanged)
    insulation = h.of(InsulationMeasured)
    assert len(insulation) == 1 and insulation[0].passed  # type: ignore[attr-defined]
    # the power path is left safe
    assert not h.rig.contactors.fb and not h.rig.power.on and not h.rig.lock.locked()
    # a normal stop opened only at ≤ 5 A, never under load
    assert h.rig.contactors.openings and max(h.rig.contactors.openings) <= 5.0
    assert h.supervisor.openings_under_load == 0


async def test_meter_samples_at_1_hz_with_requested_and_delivered_current() -> None:
    async with Harness("gbt", charge_s=12.0, request_a=150.0) as h:
        session = h.new_session()
        session.authorize("TAG1")
        await session.run()
    samples = h.of(MeterSample)
    assert 10 <= len(samples) <= 13
    ts = [s.t_s for s in samples]
    assert all(b - a == pytest.approx(1.0, abs=0.01) for a, b in itertools.pairwise(ts))
    last = samples[-1]
    assert last.requested_current_a == 150.0  # type: ignore[attr-defined]
    # the vehicle asked for 150 A; the envelope's charger power 60 kW binds at ~357 V → ~168 A, so the vehicle binds
    assert last.offered_current_a == pytest.approx(150.0)  # type: ignore[attr-defined]
    assert last.current_a == pytest.approx(150.0, abs=1)  # type: ignore[attr-defined]
    ended = h.of(SessionEnded)[0]
    assert ended.energy_wh > 0  # type: ignore[attr-defined]


async def test_current_is_ramped_at_the_configured_rate() -> None:
    seen: list[tuple[float, float]] = []
    async with Harness(
        "chademo",
        charge_s=8.0,
        request_a=150.0,
        on_energy_tick=lambda ctx, t: seen.append((t, ctx.setpoint().current_a)),
    ) as h:
        session = h.new_session()
        session.authorize("TAG1")
        await session.run()
    # 25 A/s: 150 A is reached after ~6 s, never sooner
    for t, current_a in seen:
        assert current_a <= 25.0 * t + 25.0 * 0.11
    assert seen[-1][1] == pytest.approx(150.0)


@pytest.mark.parametrize("standard", sorted(PLANS))
async def test_every_failure_names_its_stage(standard: str) -> None:
    for stage in PLANS[standard].stages:
        if stage in (Stage.STOPPING, Stage.UNLOCK):
            continue
        async with Harness(standard, fail_at=stage) as h:
            session = h.new_session()
            session.authorize("TAG1")
            outcome = await session.run()
        assert outcome.failed and outcome.stage is stage and outcome.reason is Reason.VEHICLE_FAULT, outcome
        assert session.stage is Stage.FAULTED
        assert Stage.STOPPING in h.adapter.stages_run and Stage.UNLOCK in h.adapter.stages_run
        assert not h.rig.contactors.fb and not h.rig.power.on and not h.rig.lock.locked()


async def test_stage_timeout_fails_that_stage() -> None:
    settings = SessionSettings(parameter_negotiation_timeout_s=7.0)
    async with Harness("ccs", hang_at=Stage.PARAMETER_NEGOTIATION, session_settings=settings) as h:
        session = h.new_session()
        session.authorize("TAG1")
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        outcome = await session.run()
    assert (outcome.stage, outcome.reason) == (Stage.PARAMETER_NEGOTIATION, Reason.TIMEOUT)
    assert session.stage_log.durations_s()[Stage.PARAMETER_NEGOTIATION] == pytest.approx(7.0, abs=0.01)
    assert loop.time() - t0 < 30


async def test_session_waits_for_authorization_and_times_out_with_the_rejection() -> None:
    settings = SessionSettings(authorization_timeout_s=20.0)
    async with Harness("gbt", session_settings=settings) as h:
        session = h.new_session()
        session.authorization_rejected("BAD", "Invalid")
        outcome = await session.run()
    assert (outcome.stage, outcome.reason) == (Stage.AUTHORIZATION, Reason.AUTHORIZATION_REJECTED)
    assert Stage.AUTHORIZATION not in h.adapter.stages_run[:-2]  # the adapter step never started


async def test_late_authorization_lets_the_session_continue() -> None:
    async with Harness("ccs", charge_s=2.0) as h:
        session = h.new_session()
        loop = asyncio.get_running_loop()
        loop.call_later(30.0, session.authorize, "TAG1")
        outcome = await session.run()
    assert outcome.kind is OutcomeKind.STOPPED_BY_VEHICLE
    assert session.stage_log.durations_s()[Stage.AUTHORIZATION] == pytest.approx(30.0, abs=0.1)


async def test_station_stop_cancels_energy_transfer_then_stops_cleanly() -> None:
    async with Harness("ccs", charge_s=1000.0) as h:
        session = h.new_session()
        session.authorize("TAG1")
        task = asyncio.ensure_future(session.run())
        await h.reached(Stage.ENERGY_TRANSFER)
        await asyncio.sleep(10.0)
        session.request_stop(Reason.CSMS_STOP)
        outcome = await task
    assert outcome.kind is OutcomeKind.STOPPED_BY_CSMS and outcome.stage is Stage.ENERGY_TRANSFER
    assert h.adapter.stop_reason_seen is Reason.CSMS_STOP
    assert max(h.rig.contactors.openings) <= 5.0 and h.supervisor.openings_under_load == 0
    assert session.stage is Stage.FINISHED


async def test_stop_during_handshake_cancels_the_current_step() -> None:
    async with Harness("gbt", hang_at=Stage.BMS_WAKE_UP) as h:
        session = h.new_session()
        session.authorize("TAG1")
        loop = asyncio.get_running_loop()
        loop.call_later(3.0, session.request_stop, Reason.UNPLUGGED)
        outcome = await session.run()
    assert (outcome.stage, outcome.reason) == (Stage.BMS_WAKE_UP, Reason.UNPLUGGED)
    assert session.stage is Stage.FINISHED


async def test_over_voltage_trips_directly_and_the_session_ends_faulted() -> None:
    def inject(ctx: object, t: float) -> None:
        if t > 5.0:
            h.rig.voltage_offset_v = 300.0  # 650 V+ output on a 450 V negotiated session: Table 103 → 550 V

    async with Harness("gbt", charge_s=20.0, on_energy_tick=inject) as h:
        session = h.new_session()
        session.authorize("TAG1")
        outcome = await session.run()
    assert outcome.failed and outcome.reason is Reason.SAFETY_TRIP and outcome.stage is Stage.ENERGY_TRANSFER
    assert "emergency_over_voltage" in outcome.detail
    assert h.supervisor.openings_under_load == 1
    assert session.stage is Stage.FAULTED


async def test_insulation_fault_fails_the_insulation_test_with_evidence() -> None:
    async with Harness("ccs") as h:
        h.rig.insulation_ohm = 40_000.0
        session = h.new_session()
        session.authorize("TAG1")
        outcome = await session.run()
    assert (outcome.stage, outcome.reason) == (Stage.INSULATION_TEST, Reason.INSULATION_FAULT)
    assert "40 kΩ at 500 V" in outcome.detail
    assert not h.rig.contactors.fb and h.rig.power.v < 60
    assert [e.passed for e in h.of(InsulationMeasured)] == [False]  # type: ignore[attr-defined]


async def test_imd_gap_is_a_device_fault_not_an_insulation_fault() -> None:
    async with Harness("gbt") as h:
        h.rig.imd.silent = True
        session = h.new_session()
        session.authorize("TAG1")
        outcome = await session.run()
    assert (outcome.stage, outcome.reason) == (Stage.INSULATION_TEST, Reason.HARDWARE_FAULT)
    assert "no sample" in outcome.detail


async def test_welded_contactor_is_reported_in_stopping() -> None:
    def weld(ctx: object, t: float) -> None:
        h.rig.contactors.welded = True

    async with Harness("chademo", charge_s=3.0, on_energy_tick=weld) as h:
        session = h.new_session()
        session.authorize("TAG1")
        outcome = await session.run()
    assert outcome.failed and outcome.stage is Stage.STOPPING and outcome.reason is Reason.HARDWARE_FAULT
    assert "welded" in outcome.detail
    assert h.supervisor.persistent_fault() == "contactor_welded"
    assert h.rig.lock.locked()  # 350 V behind a welded contactor: the connector stays locked


async def test_emergency_stop_command() -> None:
    async with Harness("ccs", charge_s=100.0) as h:
        session = h.new_session()
        session.authorize("TAG1")
        task = asyncio.ensure_future(session.run())
        await h.reached(Stage.ENERGY_TRANSFER)
        await asyncio.sleep(5)
        h.rig.estop.press()
        outcome = await task
    assert (outcome.reason, outcome.stage) == (Reason.EMERGENCY_STOP, Stage.ENERGY_TRANSFER)
    assert h.supervisor.persistent_fault() == "emergency_stop"


async def test_vehicle_pause_moves_to_paused_and_holds_zero_current() -> None:
    def pause(ctx: StageContext, t: float) -> None:
        ctx.pause(5.0 <= t < 9.0)
        if 6.0 <= t < 9.0:
            assert ctx.setpoint().current_a == 0.0

    async with Harness("gbt", charge_s=12.0, on_energy_tick=pause) as h:
        session = h.new_session()
        session.authorize("TAG1")
        outcome = await session.run()
    assert outcome.kind is OutcomeKind.STOPPED_BY_VEHICLE and outcome.stage is Stage.ENERGY_TRANSFER
    assert session.stage_log.durations_s()[Stage.PAUSED] == pytest.approx(4.0, abs=0.2)


async def test_envelope_change_applies_at_once() -> None:
    def limit(ctx: StageContext, t: float) -> None:
        if 8.0 <= t < 8.05:
            h.envelope.set_csms(30.0, None)
            assert h.rig.power.target_a <= 30.0  # written inside the call, not on the next tick

    async with Harness("ccs", charge_s=10.0, on_energy_tick=limit) as h:
        session = h.new_session()
        session.authorize("TAG1")
        await session.run()
    sources = [e.source for e in h.of(LimitChanged)]  # type: ignore[attr-defined]
    assert "csms" in sources


@pytest.mark.looptime(start=31.87)
async def test_a_wait_whose_deadline_lands_a_float_residue_past_the_clock_ends() -> None:
    """31.87 + 0.5 = 32.370000000000005 while the virtual clock stops at 32.37: the remaining 7e-15 s is no time
    at all. Sleeping it fired at once without moving the clock, forever (found by the stateful invariant test)."""
    import faulthandler

    faulthandler.dump_traceback_later(60, exit=True)  # a regression spins at one instant: fail, don't hang
    try:
        async with Harness("gbt") as h:
            session = h.new_session()
            loop = asyncio.get_running_loop()
            start = loop.time()
            assert start == 31.87
            assert not await session.ctx._wait(lambda: False, 0.5)
            assert loop.time() == pytest.approx(32.37, abs=1e-6)
    finally:
        faulthandler.cancel_dump_traceback_later()
