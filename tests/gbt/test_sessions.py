"""Full GB/T sessions in simulation: the real session runner and stage API, the simulated plant and the simulated
GB/T BMS, on the virtual clock — both editions, both TP behaviours, every stop path and the BMS's faults."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import pytest

from evse.protocols.gbt import messages as m
from evse.protocols.gbt.ids import BMS_ADDRESS, CHARGER_ADDRESS, parse_id
from evse.protocols.gbt.settings import GbtSettings
from evse.session.events import InsulationMeasured, LimitsNegotiated, VehicleIdentified
from evse.session.stages import OutcomeKind, Reason, Stage
from evse.sim import faults
from tests.gbt.simrig import GbtRig

pytestmark = pytest.mark.looptime

HANDSHAKE = [
    Stage.CONNECTION_DETECTION,
    Stage.AUTHORIZATION,
    Stage.BMS_WAKE_UP,
    Stage.INSULATION_TEST,
    Stage.PARAMETER_NEGOTIATION,
    Stage.PRE_CHARGE,
    Stage.CONTACTOR_CLOSURE,
    Stage.ENERGY_TRANSFER,
]


def assert_safe_end(rig: GbtRig) -> None:
    """Whatever ended the session: K1/K2 open, output discharged, aux supply off, connector unlocked."""
    assert not rig.plant.contactors.feedback_closed()
    assert rig.plant.power.measured_voltage_v() < 60
    assert rig.plant.lock.locked() == (rig.plant.inlet_voltage_v >= 60)
    assert not rig.plant.lines.output("aux_12v") and not rig.plant.lines.output("aux_24v")
    assert rig.session.stage in (Stage.FINISHED, Stage.FAULTED)


def stages(rig: GbtRig) -> list[Stage]:
    return [v.stage for v in rig.session.stage_log.visits]


def insulation_voltage(rig: GbtRig) -> float:
    return next(e.test_voltage_v for e in rig.events if isinstance(e, InsulationMeasured))


async def when_charging(rig: GbtRig, after_s: float, action: Callable[[], object]) -> None:
    await rig.charging.wait()
    await asyncio.sleep(after_s)
    action()


async def test_full_session_2015_edition() -> None:
    rig = GbtRig(battery={"soc_pct": 78})
    outcome = await rig.run()
    assert outcome.kind is OutcomeKind.COMPLETED and outcome.vehicle_reason == "soc_target_reached"
    assert stages(rig) == [*HANDSHAKE, Stage.STOPPING, Stage.UNLOCK, Stage.FINISHED]
    ctx = rig.session.ctx
    assert ctx.protocol_version == "GB/T 27930-2015 V1.1"
    assert ctx.identity["vin"] == "LGXCE4CB0N0000001" and ctx.identity["brm_length"] == "49"
    assert insulation_voltage(rig) == 460.0  # the BHM voltage, inside the charger's range
    limits = next(e for e in rig.events if isinstance(e, LimitsNegotiated))
    assert limits.vehicle_max_voltage_v == 459.9 and 0 < limits.vehicle_max_current_a <= 250  # from BCP
    assert any(isinstance(e, VehicleIdentified) and e.identity["vin"] == "LGXCE4CB0N0000001" for e in rig.events)
    assert ctx.vehicle.soc_pct is not None and ctx.vehicle.soc_pct >= 79  # BCS keeps the status current
    assert rig.plugged.battery.soc_pct >= 80 and rig.plant.meter.energy_wh() > 500
    # CCS every 50 ms on an absolute schedule, the BMS's stop answered with CST (BMS stopped), then CSD
    ccs_times = [f.timestamp_s for f in rig.frames if parse_id(f.arbitration_id).pgn == m.Pgn.CCS]
    gaps = [b - a for a, b in itertools.pairwise(ccs_times)]
    assert len(ccs_times) > 100 and all(abs(g - 0.05) < 1e-6 for g in gaps)
    cst = rig.messages("CST", CHARGER_ADDRESS)
    assert cst and isinstance(cst[0], m.Cst) and cst[0].active() == ("bms_stopped",)
    assert rig.messages("BSD", BMS_ADDRESS) and rig.messages("CSD", CHARGER_ADDRESS)
    # the handshake trace holds every frame of the handshake, both directions, as candump lines
    traces = rig.traces()
    assert {t.direction for t in traces} == {"rx", "tx"}
    assert any("1CEC56F4#10" in t.text for t in traces)  # the BMS's RTS for BRM
    assert any("1801F456#AA" in t.text for t in traces)  # CRM 0xAA
    assert all(o <= 5.0 for o in rig.session.ctx.record.normal_opening_currents_a)
    assert_safe_end(rig)


async def test_full_session_2011_edition_without_bhm() -> None:
    rig = GbtRig(profile="gbt-2011-57kwh", battery={"soc_pct": 79})
    outcome = await rig.run()
    assert outcome.kind is OutcomeKind.COMPLETED
    assert rig.session.ctx.identity["brm_length"] == "41" and rig.session.ctx.identity["no_bhm"] == "true"
    assert rig.session.ctx.protocol_version == "GB/T 27930-2011 V1.0"
    assert insulation_voltage(rig) == GbtSettings().legacy_test_voltage_v
    assert not rig.messages("BHM")
    assert_safe_end(rig)


async def test_all_at_once_bms() -> None:
    rig = GbtRig(battery={"soc_pct": 79}, protocol={"tp_mode": "all_at_once", "tp_packet_interval_s": 0.0})
    outcome = await rig.run()
    assert outcome.kind is OutcomeKind.COMPLETED
    assert rig.session.ctx.identity["vin"] == "LGXCE4CB0N0000001"


async def test_24v_retry_wakes_a_24v_vehicle() -> None:
    rig = GbtRig(battery={"soc_pct": 79}, protocol={"aux_voltage": 24}, settings=GbtSettings(aux_24v_retry=True))
    outcome = await rig.run()
    assert outcome.kind is OutcomeKind.COMPLETED
    assert insulation_voltage(rig) == 460.0  # woke on 24 V and sent BHM


async def test_unanswered_wake_up_ends_with_brm_timeout_after_rehandshakes() -> None:
    rig = GbtRig(protocol={"aux_voltage": 24})  # only 12 V offered: the BMS never wakes
    outcome = await rig.run()
    assert outcome.failed and outcome.stage is Stage.PARAMETER_NEGOTIATION and outcome.reason is Reason.TIMEOUT
    assert outcome.detail == "BRM not received within 5 s (3 re-handshakes)"
    cems = [c for c in rig.messages("CEM", CHARGER_ADDRESS) if isinstance(c, m.Cem)]
    assert cems and all(c.active() == ("brm_timeout",) for c in cems)
    assert_safe_end(rig)


async def test_bhm_never_sent_falls_back_to_legacy_test_voltage() -> None:
    rig = GbtRig(battery={"soc_pct": 79})
    rig.vehicle.inject("no_bhm")
    outcome = await rig.run()
    assert outcome.kind is OutcomeKind.COMPLETED and insulation_voltage(rig) == 500.0


async def test_truncated_brm_times_out() -> None:
    rig = GbtRig(settings=GbtSettings(rehandshake_attempts=1))
    rig.vehicle.inject("brm_truncated")
    outcome = await rig.run()
    assert outcome.stage is Stage.PARAMETER_NEGOTIATION and outcome.reason is Reason.TIMEOUT
    assert "BRM not received" in outcome.detail
    assert_safe_end(rig)


async def test_tp_abort_is_survived_by_the_bms_repeating_brm() -> None:
    rig = GbtRig(battery={"soc_pct": 79})
    rig.vehicle.inject("tp_abort")
    outcome = await rig.run()
    assert outcome.kind is OutcomeKind.COMPLETED
    aborts = [f for f in rig.frames if f.arbitration_id == 0x1CEC56F4 and f.data[0] == 0xFF]
    assert len(aborts) == 1


async def test_bcl_silence_ends_with_communication_lost() -> None:
    rig = GbtRig()
    task = rig.start()
    await when_charging(rig, 2.0, lambda: faults.inject(rig.world, 1, "vehicle.bcl_silence"))
    outcome = await task
    assert outcome.stage is Stage.ENERGY_TRANSFER and outcome.reason is Reason.COMMUNICATION_LOST
    assert outcome.detail == "BCL not received for 1 s"
    assert any(isinstance(c, m.Cem) and c.active() == ("bcl_timeout",) for c in rig.messages("CEM"))
    assert_safe_end(rig)


async def test_bms_silence_while_charging() -> None:
    rig = GbtRig()
    task = rig.start()
    await when_charging(rig, 1.0, lambda: faults.inject(rig.world, 1, "bms_silence"))
    outcome = await task
    assert outcome.reason is Reason.COMMUNICATION_LOST and "not received" in outcome.detail
    assert_safe_end(rig)


async def test_bsm_permit_toggling_pauses_and_resumes() -> None:
    rig = GbtRig(battery={"soc_pct": 79.7})
    task = rig.start()
    await when_charging(rig, 1.0, lambda: rig.vehicle.inject("bsm_permit_toggle", period_s=2.0))
    outcome = await task
    assert outcome.kind is OutcomeKind.COMPLETED
    assert Stage.PAUSED in stages(rig)
    permits = {c.permitted for c in rig.messages("CCS") if isinstance(c, m.Ccs)}
    assert permits == {m.CCS_ALLOWED, m.CCS_PAUSED}


@pytest.mark.parametrize("reason", m.Bst.NAMES)
async def test_bst_with_each_reason(reason: str) -> None:
    rig = GbtRig()
    task = rig.start()
    await when_charging(rig, 1.0, lambda: rig.vehicle.inject("bst", reason=reason))
    outcome = await task
    assert outcome.stage is Stage.ENERGY_TRANSFER and outcome.vehicle_reason == reason
    if reason in ("soc_target_reached", "total_voltage_reached", "cell_voltage_reached"):
        assert outcome.kind is OutcomeKind.COMPLETED
    elif reason == "charger_stopped":
        assert outcome.kind is OutcomeKind.STOPPED_BY_VEHICLE
    else:
        assert outcome.reason is Reason.VEHICLE_FAULT and outcome.failed
    cst = rig.messages("CST", CHARGER_ADDRESS)
    assert isinstance(cst[0], m.Cst) and cst[0].bms_stopped == m.STATUS_SET
    assert rig.messages("CSD", CHARGER_ADDRESS)  # the stop exchange completed
    assert_safe_end(rig)


async def test_driver_stop_from_the_car() -> None:
    rig = GbtRig()
    task = rig.start()
    await when_charging(rig, 1.0, lambda: faults.inject(rig.world, 1, "vehicle_stop"))
    outcome = await task
    assert outcome.kind is OutcomeKind.STOPPED_BY_VEHICLE and outcome.vehicle_reason == "unspecified"


async def test_vehicle_side_insulation_fault_reported_in_bsm() -> None:
    rig = GbtRig()
    task = rig.start()
    await when_charging(rig, 1.0, lambda: rig.vehicle.inject("insulation_fault"))
    outcome = await task
    assert outcome.reason is Reason.VEHICLE_FAULT and outcome.vehicle_reason == "bsm:insulation"
    cst = rig.messages("CST", CHARGER_ADDRESS)
    assert isinstance(cst[0], m.Cst) and cst[0].fault_stop == m.STATUS_SET
    assert_safe_end(rig)


async def test_insulation_fault_at_the_test_stops_before_recognition() -> None:
    rig = GbtRig()
    faults.inject(rig.world, 1, "insulation_degradation", {"resistance_ohm": 20_000.0, "location": "cable"})
    outcome = await rig.run()
    assert outcome.stage is Stage.INSULATION_TEST and outcome.reason is Reason.INSULATION_FAULT
    assert not rig.messages("CRM")  # never got to recognition
    assert_safe_end(rig)


async def test_user_stop_while_charging() -> None:
    rig = GbtRig()
    task = rig.start()
    await when_charging(rig, 2.0, lambda: rig.session.request_stop(Reason.USER_STOP))
    outcome = await task
    assert outcome.kind is OutcomeKind.STOPPED_BY_USER
    cst = rig.messages("CST", CHARGER_ADDRESS)
    assert isinstance(cst[0], m.Cst) and cst[0].active() == ("manual_stop",)
    bst = rig.messages("BST", BMS_ADDRESS)
    assert isinstance(bst[0], m.Bst) and bst[0].active() == ("charger_stopped",)
    assert rig.messages("CSD", CHARGER_ADDRESS)
    assert all(o <= 5.0 for o in rig.session.ctx.record.normal_opening_currents_a)
    assert_safe_end(rig)


async def test_stop_with_a_dead_link_reports_bst_and_bsd_timeouts() -> None:
    rig = GbtRig()
    task = rig.start()

    def stop_and_mute() -> None:
        faults.inject(rig.world, 1, "bms_silence")
        rig.session.request_stop(Reason.USER_STOP)

    await when_charging(rig, 1.0, stop_and_mute)
    outcome = await task
    assert outcome.kind is OutcomeKind.STOPPED_BY_USER
    reported = {name for c in rig.messages("CEM") if isinstance(c, m.Cem) for name in c.active()}
    assert reported == {"bst_timeout", "bsd_timeout"}
    assert not rig.messages("CSD")
    stopping = next(v for v in rig.session.stage_log.visits if v.stage is Stage.STOPPING)
    assert stopping.duration_s is not None and 14.9 < stopping.duration_s < 16  # BST 5 s + BSD 10 s
    assert_safe_end(rig)


async def test_bro_ready_never_comes() -> None:
    rig = GbtRig(settings=GbtSettings(bro_ready_timeout_s=10.0, rehandshake_attempts=0))
    rig.vehicle.inject("contactor_never_closes")
    outcome = await rig.run()
    assert outcome.stage is Stage.PARAMETER_NEGOTIATION and outcome.reason is Reason.TIMEOUT
    assert outcome.detail == "BRO 0xAA not received within 10 s"
    assert any(isinstance(c, m.Cem) and c.active() == ("bro_timeout",) for c in rig.messages("CEM"))
    assert_safe_end(rig)


async def test_plug_pulled_during_energy_transfer_trips_at_once() -> None:
    from evse.session.events import FaultRaised

    rig = GbtRig()
    task = rig.start()
    injected: list[float] = []

    def pull() -> None:
        injected.append(asyncio.get_running_loop().time())
        faults.inject(rig.world, 1, "plug_pulled")  # CC1 to the gun-released level (6 V)

    await when_charging(rig, 2.0, pull)
    outcome = await task
    assert (outcome.kind, outcome.stage, outcome.reason) == (
        OutcomeKind.FAILED,
        Stage.ENERGY_TRANSFER,
        Reason.SAFETY_TRIP,
    )
    assert outcome.detail.startswith("plug_line_lost: plug left the inlet during energy transfer: cc1 at 6.")
    (fault,) = [e for e in rig.events if isinstance(e, FaultRaised)]
    assert fault.code == "plug_line_lost" and fault.t_s == injected[0]  # in the listener call, no time passed
    assert_safe_end(rig)
