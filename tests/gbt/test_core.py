"""The GB/T charger core fed frame by frame (sans-I/O): no loop, no hardware, made-up times."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evse.can.channel import CanFrame, InLoopBus
from evse.hardware.registry import DriverError
from evse.protocols.gbt import messages as m
from evse.protocols.gbt.actions import (
    Do,
    End,
    Identify,
    Measurements,
    Op,
    Output,
    Pause,
    Request,
    SetLine,
    StageDone,
)
from evse.protocols.gbt.adapter import GbtAdapter, connector_adapters
from evse.protocols.gbt.codec import decode, encode
from evse.protocols.gbt.core import GbtCore
from evse.protocols.gbt.ids import BMS_ADDRESS, CHARGER_ADDRESS, Pgn, frame_id, parse_id
from evse.protocols.gbt.settings import GbtSettings
from evse.protocols.gbt.transport import Transport
from evse.protocols.gbt.wire import GbtMessage
from evse.session.context import ChargerOffer
from evse.session.errors import StageFailure
from evse.session.stages import Reason, Stage

OFFER = ChargerOffer(max_voltage_v=750, min_voltage_v=200, max_current_a=250, min_current_a=0, max_power_w=60_000)
BRM = m.Brm(
    battery_type=3,
    rated_capacity_ah=150,
    rated_voltage_v=400,
    production_year=2022,
    production_month=1,
    production_day=2,
    ownership=1,
    vin="LTEST000000000001",
    software_version="0102030405060708",
)
BCP = m.Bcp(
    max_cell_voltage_v=3.65,
    max_charge_current_a=200,
    nominal_energy_kwh=60,
    max_total_voltage_v=460,
    max_temperature_c=55,
    soc_pct=50,
    pack_voltage_v=400,
)


def bms(message: GbtMessage, source: int = BMS_ADDRESS, destination: int = CHARGER_ADDRESS) -> CanFrame:
    return CanFrame(frame_id(message.PGN, source, destination), encode(message), True)


def sent(out: Output, name: str) -> list[GbtMessage]:
    return [
        decode(parse_id(f.arbitration_id).pgn, f.data)
        for f in out.frames
        if parse_id(f.arbitration_id).pgn == Pgn[name]
    ]


def done(out: Output, stage: Stage) -> bool:
    return StageDone(stage) in out.actions


def ended(out: Output) -> StageFailure | None:
    ends = [a.error for a in out.actions if isinstance(a, End)]
    return ends[0] if ends and isinstance(ends[0], StageFailure) else None


def tp_send(core: GbtCore, message: GbtMessage, now: float) -> Output:
    """The BMS sends `message` via TP, one packet per CTS; returns what the charger answered overall."""
    sender = Transport(BMS_ADDRESS, CHARGER_ADDRESS)
    total = Output()
    pending = sender.send(message.PGN, encode(message), now, max_packets_per_cts=1).frames
    while pending:
        answer = core.feed(pending.pop(0), now)
        total.extend(answer)
        for frame in answer.frames:
            pending.extend(sender.feed(frame, now).frames)
    return total


def to_negotiation(settings: GbtSettings | None = None) -> GbtCore:
    core = GbtCore(settings)
    core.set_charger_offer(OFFER)
    core.on_cc1(4.0, 0.0)
    assert done(core.begin(Stage.CONNECTION_DETECTION, 0.0), Stage.CONNECTION_DETECTION) is False
    assert done(core.poll(1.0), Stage.CONNECTION_DETECTION)
    core.begin(Stage.BMS_WAKE_UP, 1.0)
    out = core.done(Op.LOCK, 1.1)
    assert sent(out, "CHM") == [m.Chm()]
    assert done(core.feed(bms(m.Bhm(max_charge_voltage_v=800)), 1.2), Stage.BMS_WAKE_UP)
    out = core.begin(Stage.INSULATION_TEST, 1.2)
    assert Do(Op.INSULATION_TEST, voltage_v=750) in out.actions  # BHM 800 V clamped to the charger's 750 V
    assert done(core.done(Op.INSULATION_TEST, 5.0), Stage.INSULATION_TEST)
    out = core.begin(Stage.PARAMETER_NEGOTIATION, 5.0)
    assert sent(out, "CRM") == [m.Crm(recognition=0x00, charger_number=1)]
    return core


def test_cc1_debounce_restarts_on_a_glitch() -> None:
    core = GbtCore()
    core.begin(Stage.CONNECTION_DETECTION, 0.0)
    core.on_cc1(4.0, 0.0)
    core.on_cc1(6.0, 0.5)
    core.on_cc1(4.1, 0.6)
    assert not done(core.poll(1.0), Stage.CONNECTION_DETECTION)
    assert core.next_deadline() == 1.6 and done(core.poll(1.6), Stage.CONNECTION_DETECTION)


def test_cyclic_frames_keep_their_grid() -> None:
    core = GbtCore()
    core.begin(Stage.BMS_WAKE_UP, 0.0)
    core.done(Op.LOCK, 0.0)
    times = []
    now = 0.0
    for _ in range(12):
        now = core.next_deadline() or 0.0
        if sent(core.poll(now + 0.013), "CHM"):  # every poll 13 ms late
            times.append(now)
    assert times[:4] == [0.25, 0.5, 0.75, 1.0]  # lateness never accumulates


def test_recognition_and_configuration() -> None:
    core = to_negotiation()
    out = tp_send(core, BRM, 5.1)
    crm = sent(out, "CRM")
    assert crm and isinstance(crm[0], m.Crm) and crm[0].recognised  # CRM 0xAA at once
    identify = [a for a in out.actions if isinstance(a, Identify)]
    assert identify[0].protocol_version == "GB/T 27930-2015 V1.1" and identify[0].identity["vin"] == BRM.vin
    assert not any(isinstance(a, Identify) for a in tp_send(core, BRM, 5.2).actions)  # a repeat is accepted quietly
    out = tp_send(core, BCP, 5.3)
    assert sent(out, "CML") == [
        m.Cml(max_output_voltage_v=750, min_output_voltage_v=200, max_output_current_a=250, min_output_current_a=0)
    ]
    assert sent(out, "CTS")
    assert not done(core.feed(bms(m.Bro(ready=0x00)), 5.4), Stage.PARAMETER_NEGOTIATION)
    assert done(core.feed(bms(m.Bro(ready=0xAA)), 9.0), Stage.PARAMETER_NEGOTIATION)


def test_frames_from_other_ecus_are_ignored() -> None:
    core = to_negotiation()
    stranger = bms(m.Bro(ready=0xAA), source=0xB5)  # another controller to the charger
    to_someone_else = bms(m.Bro(ready=0xAA), destination=0xA0)  # the BMS to another ECU
    assert core.feed(stranger, 5.1) == Output() and core.feed(to_someone_else, 5.1) == Output()
    assert core.ignored_frames == 2


def test_bcp_timeout_sends_cem_then_rehandshakes() -> None:
    core = to_negotiation(GbtSettings(rehandshake_attempts=1))
    tp_send(core, BRM, 5.1)
    out = core.poll(10.1)
    assert sent(out, "CEM") == [m.Cem(bcp_timeout=1)]
    out = core.poll(11.1)  # CEM for 1 s, then recognition again
    assert sent(out, "CRM") == [m.Crm(recognition=0x00, charger_number=1)]
    tp_send(core, BRM, 11.2)
    failure = ended(core.poll(16.2))
    assert failure is not None and failure.reason is Reason.TIMEOUT
    assert failure.detail == "BCP not received within 5 s (1 re-handshakes)"


def test_first_bro_within_5_s() -> None:
    core = to_negotiation(GbtSettings(rehandshake_attempts=0))
    tp_send(core, BRM, 5.1)
    tp_send(core, BCP, 5.2)
    failure = ended(core.poll(10.2))
    assert failure is not None and failure.detail == "BRO not received within 5 s"


def test_bhm_below_the_charger_minimum_is_incompatible() -> None:
    core = GbtCore()
    core.set_charger_offer(OFFER)
    core.begin(Stage.BMS_WAKE_UP, 0.0)
    core.done(Op.LOCK, 0.0)
    core.feed(bms(m.Bhm(max_charge_voltage_v=150)), 0.1)
    failure = ended(core.begin(Stage.INSULATION_TEST, 0.2))
    assert failure is not None and failure.reason is Reason.VEHICLE_INCOMPATIBLE and "150 V" in failure.detail


def pre_charge(core: GbtCore, inlet_v: float, now: float) -> Output:
    tp_send(core, BRM, now)
    tp_send(core, BCP, now)
    core.feed(bms(m.Bro(ready=0xAA)), now)
    core.observe(Measurements(inlet_voltage_v=inlet_v))
    return core.begin(Stage.PRE_CHARGE, now)


def test_pack_voltage_must_agree_with_bcp() -> None:
    core = to_negotiation()
    out = pre_charge(core, 400.0 * 1.04, 6.0)
    assert Do(Op.PRECHARGE, voltage_v=416.0, tolerance_v=10.0, current_a=2.0) in out.actions
    core = to_negotiation()
    assert ended(pre_charge(core, 400.0 * 1.06, 6.0)) is None  # the vehicle's contactors may still be closing
    failure = ended(core.poll(8.0))
    assert failure is not None and failure.reason is Reason.PRECHARGE_FAILED and "5 %" in failure.detail


def test_charging_follows_bcl_within_cml_and_ignores_untrusted_values() -> None:
    core = to_negotiation()
    pre_charge(core, 400.0, 6.0)
    core.done(Op.PRECHARGE, 7.0)
    core.begin(Stage.CONTACTOR_CLOSURE, 7.0)
    out = core.done(Op.CLOSE_CONTACTORS, 7.1)
    assert sent(out, "CRO") == [m.Cro(ready=0xAA)]
    core.feed(bms(m.Bcl(voltage_demand_v=450, current_demand_a=300)), 7.2)
    assert done(
        tp_send(core, m.Bcs(measured_voltage_v=400, measured_current_a=0, soc_pct=50), 7.25), Stage.CONTACTOR_CLOSURE
    )
    out = core.begin(Stage.ENERGY_TRANSFER, 7.3)
    assert Request(450, 250) in out.actions and sent(out, "CCS")  # 300 A clamped to the 250 A CML offer
    bad = CanFrame(frame_id(Pgn.BCL, BMS_ADDRESS, CHARGER_ADDRESS), bytes.fromhex("FFFFA00F02"), True)
    assert not any(isinstance(a, Request) for a in core.feed(bad, 7.35).actions)
    # BCL silence: 1 s after the last good BCL
    failure = ended(core.poll(8.3))
    assert (
        failure is not None
        and failure.reason is Reason.COMMUNICATION_LOST
        and failure.detail == "BCL not received for 1 s"
    )


def test_ccs_keeps_its_schedule_during_a_bcs_transfer() -> None:
    core = to_negotiation()
    pre_charge(core, 400.0, 6.0)
    core.done(Op.PRECHARGE, 7.0)
    core.begin(Stage.CONTACTOR_CLOSURE, 7.0)
    core.done(Op.CLOSE_CONTACTORS, 7.0)
    core.feed(bms(m.Bcl(voltage_demand_v=450, current_demand_a=100)), 7.0)
    tp_send(core, m.Bcs(measured_voltage_v=400, measured_current_a=0, soc_pct=50), 7.0)
    core.begin(Stage.ENERGY_TRANSFER, 7.0)
    sender = Transport(BMS_ADDRESS, CHARGER_ADDRESS)
    rts = sender.send(Pgn.BCS, encode(m.Bcs(measured_voltage_v=400, measured_current_a=99, soc_pct=51)), 7.01)
    cts = core.feed(rts.frames[0], 7.01).frames
    packets = sender.feed(cts[0], 7.01).frames
    assert sent(core.poll(7.05), "CCS")  # a transfer is open, the CCS still goes out on time
    for i, packet in enumerate(packets):
        core.feed(packet, 7.06 + i * 0.01)
    assert sent(core.poll(7.10), "CCS")


def test_bro_withdrawn_during_pre_charge_stops() -> None:
    core = to_negotiation()
    pre_charge(core, 400.0, 6.0)
    failure = ended(core.feed(bms(m.Bro(ready=0x00)), 6.5))
    assert failure is not None and failure.reason is Reason.VEHICLE_FAULT and "BRO went back to 0x00" in failure.detail


def charging(core: GbtCore, now: float) -> None:
    pre_charge(core, 400.0, now)
    core.done(Op.PRECHARGE, now)
    core.begin(Stage.CONTACTOR_CLOSURE, now)
    core.done(Op.CLOSE_CONTACTORS, now)
    core.feed(bms(m.Bcl(voltage_demand_v=450, current_demand_a=100)), now)
    tp_send(core, m.Bcs(measured_voltage_v=400, measured_current_a=0, soc_pct=50), now)
    core.begin(Stage.ENERGY_TRANSFER, now)


def test_bcs_and_bsm_silence_end_the_session() -> None:
    core = to_negotiation()
    charging(core, 6.0)
    for t in range(1, 10):  # BCL keeps coming, BCS and BSM do not
        core.feed(bms(m.Bcl(voltage_demand_v=450, current_demand_a=100)), 6.0 + t * 0.5)
    failure = ended(core.poll(11.0))
    assert failure is not None and failure.reason is Reason.COMMUNICATION_LOST
    assert failure.detail in ("BCS not received for 5 s", "BSM not received for 5 s")
    assert sent(core.poll(11.0), "CEM") or core.cyclic.active("CEM")


def test_demand_must_follow_cro_ready() -> None:
    core = to_negotiation()
    pre_charge(core, 400.0, 6.0)
    core.done(Op.PRECHARGE, 6.5)
    core.begin(Stage.CONTACTOR_CLOSURE, 6.5)
    core.done(Op.CLOSE_CONTACTORS, 6.6)
    core.feed(bms(m.Bcl(voltage_demand_v=450, current_demand_a=100)), 6.7)
    failure = ended(core.poll(11.6))
    assert failure is not None and failure.reason is Reason.TIMEOUT
    assert failure.detail == "BCS not received within 5 s of CRO 0xAA"


def test_bsm_fault_code_and_permit() -> None:
    core = to_negotiation()
    charging(core, 6.0)
    out = core.feed(bms(m.Bsm(charge_permit=m.BSM_FORBID)), 6.1)
    assert Pause(paused=True) in out.actions
    ccs = [c for c in sent(core.poll(6.15), "CCS") if isinstance(c, m.Ccs)]
    assert ccs and ccs[0].permitted == m.CCS_PAUSED
    failure = ended(core.feed(bms(m.Bsm(over_temperature=1)), 6.2))
    assert (
        failure is not None
        and failure.reason is Reason.VEHICLE_FAULT
        and failure.vehicle_reason == "bsm:over_temperature"
    )


def test_cts_carries_local_time_updated_in_place() -> None:
    core = to_negotiation()
    core.calendar = lambda t: dt.datetime(2026, 11, 24, 12, 0, 0) + dt.timedelta(seconds=t)
    tp_send(core, BRM, 5.1)
    out = tp_send(core, BCP, 5.2)
    assert sent(out, "CTS") == [m.Cts(time=dt.datetime(2026, 11, 24, 12, 0, 5))]
    assert sent(core.poll(5.7), "CTS") == [m.Cts(time=dt.datetime(2026, 11, 24, 12, 0, 5))]
    assert sent(core.poll(6.2), "CTS") == [m.Cts(time=dt.datetime(2026, 11, 24, 12, 0, 6))]


_PGNS = [p.value for p in Pgn] + [0xEC00, 0xEB00]


@settings(max_examples=150, deadline=None)
@given(
    frames=st.lists(
        st.tuples(st.sampled_from(_PGNS), st.sampled_from([BMS_ADDRESS, 0xB5]), st.binary(max_size=8)), max_size=40
    ),
    stage=st.sampled_from([Stage.PARAMETER_NEGOTIATION, Stage.ENERGY_TRANSFER]),
)
def test_arbitrary_bms_frames_never_crash_the_core(frames: list[tuple[int, int, bytes]], stage: Stage) -> None:
    core = to_negotiation()
    if stage is Stage.ENERGY_TRANSFER:
        charging(core, 6.0)
    now = 6.0
    for pgn, source, data in frames:
        now += 0.01
        core.feed(CanFrame(frame_id(pgn, source, CHARGER_ADDRESS, 6), data, True), now)
        core.poll(now)
    core.begin(Stage.STOPPING, now + 0.1, Reason.USER_STOP)
    core.poll(now + 30.0)


def test_station_factory_makes_a_fresh_adapter_per_session() -> None:
    settings = GbtSettings(bhm_timeout_s=7.0)
    context = SimpleNamespace(roles=SimpleNamespace(can=InLoopBus().attach()), config=SimpleNamespace(gbt=settings))
    connector = connector_adapters(context)
    first, second = connector.new_adapter(), connector.new_adapter()
    assert isinstance(first, GbtAdapter) and first is not second and first.settings is settings
    no_link = SimpleNamespace(roles=SimpleNamespace(can=None), connector=SimpleNamespace(id=3))
    with pytest.raises(DriverError, match="connector 3: GB/T needs a CAN vehicle link"):
        connector_adapters(no_link)


def test_late_bst_during_unlock_does_not_disturb_it() -> None:
    core = to_negotiation()
    charging(core, 6.0)
    core.begin(Stage.STOPPING, 7.0, Reason.USER_STOP)
    core.feed(bms(m.Bst(charger_stopped=1)), 7.1)
    core.feed(
        bms(
            m.Bsd(
                soc_pct=60, min_cell_voltage_v=3.3, max_cell_voltage_v=3.4, min_temperature_c=20, max_temperature_c=25
            )
        ),
        7.2,
    )
    core.done(Op.OPEN_CONTACTORS, 7.5)
    assert done(core.poll(8.3), Stage.STOPPING)
    core.begin(Stage.UNLOCK, 8.3)
    assert ended(core.feed(bms(m.Bst(soc_target_reached=1)), 8.4)) is None
    core.observe(Measurements(output_voltage_v=20.0, inlet_voltage_v=70.0))  # the cable still bleeding
    assert core.done(Op.DISCHARGE, 8.5).actions == []
    core.observe(Measurements(output_voltage_v=20.0, inlet_voltage_v=50.0))
    out = core.poll(8.6)
    assert Do(Op.UNLOCK) in out.actions and SetLine("aux_12v", False) in out.actions
