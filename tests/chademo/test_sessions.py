"""Full CHAdeMO sessions in simulation: the real session runner and stage API, the simulated plant and the
simulated CHAdeMO vehicle, on the virtual clock — one per protocol version and one per stop path."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from evse.protocols.chademo import messages as m
from evse.protocols.chademo.codec import ChademoCodec
from evse.session.stages import OutcomeKind, Reason, Stage
from tests.chademo.simrig import ChademoRig

pytestmark = pytest.mark.looptime

codec = ChademoCodec()


def decoded(rig: ChademoRig, ident: int) -> list[Any]:
    return [codec.decode(f) for f in rig.frames if f.arbitration_id == ident]


def assert_safe_end(rig: ChademoRig) -> None:
    """Whatever ended the session: contactors open, output discharged, connector unlocked, d1/d2 off."""
    assert not rig.plant.contactors.feedback_closed()
    assert rig.plant.power.measured_voltage_v() < 60
    # the connector unlocks only when no part of it is live: a silent car may keep its contactors closed
    assert rig.plant.lock.locked() == (rig.plant.inlet_voltage_v >= 60)
    assert not rig.plant.lines.output("d1") and not rig.plant.lines.output("d2")
    assert rig.session.stage in (Stage.FINISHED, Stage.FAULTED)


async def when_charging(rig: ChademoRig, after_s: float, action: Callable[[], object]) -> None:
    while rig.session.stage is not Stage.ENERGY_TRANSFER:  # noqa: ASYNC110 - polls on the virtual clock
        await asyncio.sleep(0.05)
    await asyncio.sleep(after_s)
    action()


@pytest.mark.parametrize(
    ("profile", "protocol", "label"),
    [
        ("chademo-0.9-24kwh", {}, "0.9"),
        ("chademo-1.0-40kwh", {}, "1.0"),
        ("chademo-1.0-40kwh", {"protocol_number": 3}, "2.0"),
    ],
)
async def test_full_session_to_target_soc(profile: str, protocol: dict[str, Any], label: str) -> None:
    rig = ChademoRig(profile=profile, battery={"soc_pct": 77}, protocol=protocol)
    outcome = await rig.run()
    assert outcome.kind is OutcomeKind.COMPLETED and outcome.vehicle_reason == "charging_enabled_cleared"
    assert rig.plugged.battery.soc_pct >= 80
    assert rig.session.ctx.protocol_version == label
    assert rig.session.ctx.identity["vehicle_signature"]
    stages = [v.stage for v in rig.session.stage_log.visits]
    assert stages == [
        Stage.CONNECTION_DETECTION,
        Stage.AUTHORIZATION,
        Stage.BMS_WAKE_UP,
        Stage.PARAMETER_NEGOTIATION,
        Stage.INSULATION_TEST,
        Stage.CONTACTOR_CLOSURE,
        Stage.ENERGY_TRANSFER,
        Stage.STOPPING,
        Stage.UNLOCK,
        Stage.FINISHED,
    ]
    statuses = decoded(rig, m.ID_CHARGER_STATUS)
    assert any(s.charging for s in statuses) and statuses[-1].stop_control and not statuses[-1].charging
    assert all(s.protocol_number == {"0.9": 1, "1.0": 2, "2.0": 3}[label] for s in statuses[20:])
    assert bool(decoded(rig, m.ID_CHARGER_EXTENDED)) == (label == "2.0")
    # a normal stop opens the contactors at ≤ 5 A
    assert all(i <= 5.0 for i in rig.session.ctx.record.normal_opening_currents_a)
    assert rig.plant.meter.energy_wh() > 100
    assert_safe_end(rig)


async def test_handshake_frames_are_traced_in_candump_format() -> None:
    rig = ChademoRig(battery={"soc_pct": 79})
    await rig.run()
    traces = rig.traces()
    rx = [t for t in traces if t.direction == "rx"]
    tx = [t for t in traces if t.direction == "tx"]
    assert rx and tx
    assert any(" 102#" in t.text for t in rx) and any(" 109#" in t.text for t in tx)
    assert all(t.kind == "can" and t.text.startswith("(") for t in traces)


async def _stop_path(rig: ChademoRig, after_s: float, action: Callable[[], object]) -> Any:
    task = asyncio.get_running_loop().create_task(when_charging(rig, after_s, action))
    outcome = await rig.run()
    task.cancel()
    assert_safe_end(rig)
    return outcome


@pytest.mark.parametrize(
    ("fault", "params", "kind", "reason", "vehicle_reason"),
    [
        ("release_k", {}, OutcomeKind.STOPPED_BY_VEHICLE, Reason.VEHICLE_STOP, "k_released"),
        ("disable_charging", {}, OutcomeKind.COMPLETED, Reason.COMPLETED, "charging_enabled_cleared"),
        ("shift_lever", {}, OutcomeKind.STOPPED_BY_VEHICLE, Reason.VEHICLE_STOP, "shift_lever_not_park"),
        ("stop_request", {}, OutcomeKind.STOPPED_BY_VEHICLE, Reason.VEHICLE_STOP, "normal_stop_request"),
        ("charging_system_fault", {}, OutcomeKind.FAILED, Reason.VEHICLE_FAULT, "charging_system_fault"),
    ]
    + [("fault_flag", {"flag": f}, OutcomeKind.FAILED, Reason.VEHICLE_FAULT, f) for f in m.FAULT_FLAGS],
)
async def test_vehicle_stop_paths(
    fault: str, params: dict[str, Any], kind: OutcomeKind, reason: Reason, vehicle_reason: str
) -> None:
    rig = ChademoRig(battery={"soc_pct": 30})
    outcome = await _stop_path(rig, 5.0, lambda: rig.vehicle.inject(fault, **params))
    assert (outcome.kind, outcome.stage, outcome.reason) == (kind, Stage.ENERGY_TRANSFER, reason)
    assert outcome.vehicle_reason == vehicle_reason


async def test_comms_loss_is_detected_within_the_configured_time() -> None:
    rig = ChademoRig(battery={"soc_pct": 30})
    injected: list[float] = []

    def silence() -> None:
        injected.append(asyncio.get_running_loop().time())
        rig.vehicle.inject("silence")

    outcome = await _stop_path(rig, 5.0, silence)
    assert (outcome.kind, outcome.stage, outcome.reason) == (
        OutcomeKind.FAILED,
        Stage.ENERGY_TRANSFER,
        Reason.COMMUNICATION_LOST,
    )
    # the silent car never opened its contactors: its pack is on the inlet, so the connector stays locked
    assert rig.plugged.vehicle_contactors_closed() and rig.plant.lock.locked()
    stopping = next(v for v in rig.session.stage_log.visits if v.stage is Stage.STOPPING)
    last_rx = max(f.timestamp_s for f in rig.frames if f.arbitration_id in m.VEHICLE_IDS)
    assert last_rx <= injected[0]
    assert stopping.entered_s - last_rx == pytest.approx(1.0, abs=1e-6)  # 1 s after the last vehicle frame


@pytest.mark.parametrize("reason", [Reason.USER_STOP, Reason.CSMS_STOP])
async def test_station_stop(reason: Reason) -> None:
    rig = ChademoRig(battery={"soc_pct": 30})
    outcome = await _stop_path(rig, 5.0, lambda: rig.session.request_stop(reason))
    assert outcome.reason is reason and outcome.stage is Stage.ENERGY_TRANSFER
    statuses = decoded(rig, m.ID_CHARGER_STATUS)
    assert statuses[-1].stop_control and not statuses[-1].charger_malfunction
    # the vehicle saw the stop flag and opened its contactor after the current fell
    assert not rig.plugged.vehicle_contactors_closed()


async def test_charger_fault_reports_malfunction() -> None:
    rig = ChademoRig(battery={"soc_pct": 30})
    outcome = await _stop_path(rig, 5.0, lambda: rig.session.emergency_stop("test"))
    assert outcome.failed and outcome.reason is Reason.EMERGENCY_STOP
    assert any(s.charger_malfunction for s in decoded(rig, m.ID_CHARGER_STATUS))


async def test_remaining_time_zero_stops() -> None:
    rig = ChademoRig(battery={"soc_pct": 30}, protocol={"max_charging_time_min": 1})
    outcome = await rig.run()
    assert outcome.vehicle_reason == "max_charging_time" and outcome.stage is Stage.ENERGY_TRANSFER
    energy = next(v for v in rig.session.stage_log.visits if v.stage is Stage.ENERGY_TRANSFER)
    assert energy.duration_s is not None and 59 <= energy.duration_s <= 61
    assert_safe_end(rig)


async def test_over_voltage_at_vehicle_max_battery_voltage() -> None:
    # a car declaring 380 V max whose pack already sits above it: the charger must stop at once
    rig = ChademoRig(battery={"soc_pct": 90}, protocol={"max_battery_voltage_v": 380, "target_voltage_v": 375})
    outcome = await rig.run()
    assert outcome.failed and outcome.reason is Reason.SAFETY_TRIP
    assert "at or above the vehicle's maximum" in outcome.detail
    assert_safe_end(rig)


async def test_contactor_never_closes_times_out_in_contactor_closure() -> None:
    rig = ChademoRig(battery={"soc_pct": 30})
    rig.vehicle.inject("contactor_never_closes")
    outcome = await rig.run()
    assert (outcome.stage, outcome.reason) == (Stage.CONTACTOR_CLOSURE, Reason.TIMEOUT)
    assert "contactor closed after d2" in outcome.detail
    assert_safe_end(rig)


async def test_request_above_advertised_current_never_exceeds_it() -> None:
    rig = ChademoRig(battery={"soc_pct": 30})
    rig.vehicle.inject("over_request", amps=60)
    peak: list[float] = []

    async def watch() -> None:
        while True:
            peak.append(rig.plant.current_a)
            await asyncio.sleep(0.1)

    watcher = asyncio.get_running_loop().create_task(watch())
    outcome = await _stop_path(rig, 20.0, lambda: rig.session.request_stop(Reason.USER_STOP))
    watcher.cancel()
    assert outcome.reason is Reason.USER_STOP
    assert max(r.current_request_a for r in decoded(rig, m.ID_VEHICLE_CONTROL)) > 125
    assert max(peak) <= 125 * 1.02


async def test_incompatible_vehicle_fails_in_parameter_negotiation() -> None:
    rig = ChademoRig(protocol={"max_battery_voltage_v": 600, "target_voltage_v": 550})
    outcome = await rig.run()
    assert (outcome.stage, outcome.reason) == (Stage.PARAMETER_NEGOTIATION, Reason.VEHICLE_INCOMPATIBLE)
    assert any(s.battery_incompatible for s in decoded(rig, m.ID_CHARGER_STATUS))
    assert_safe_end(rig)


async def test_charged_rate_reference_quirk_and_nonstandard_current_byte() -> None:
    rig = ChademoRig(
        battery={"soc_pct": 79}, protocol={"charged_rate_reference_before_k": 240, "nonstandard_max_current_a": 110}
    )
    outcome = await rig.run()
    assert outcome.kind is OutcomeKind.COMPLETED
    assert {f.charged_rate_reference for f in decoded(rig, m.ID_VEHICLE_BATTERY_LIMITS)} == {240, 100}


async def test_cyclic_frames_keep_the_100ms_grid_for_a_whole_session() -> None:
    rig = ChademoRig(battery={"soc_pct": 78})
    await rig.run()
    cap = [f.timestamp_s for f in rig.frames if f.arbitration_id == m.ID_CHARGER_CAPABILITY]
    status = [f.timestamp_s for f in rig.frames if f.arbitration_id == m.ID_CHARGER_STATUS]
    assert len(cap) > 100
    t0 = cap[0]
    for n, t in enumerate(cap):
        assert t == pytest.approx(t0 + 0.1 * n, abs=1e-6)  # no drift, no burst, no gap
    assert status == cap  # 0x109 in the same cycle as 0x108
    order = [f.arbitration_id for f in rig.frames if f.arbitration_id in (0x108, 0x109)]
    assert order[:6] == [0x108, 0x109] * 3
    first_vehicle = next(f.timestamp_s for f in rig.frames if f.arbitration_id in m.VEHICLE_IDS)
    assert t0 == pytest.approx(first_vehicle, abs=1e-6)  # from the first received vehicle frame


async def test_one_adapter_serves_consecutive_sessions() -> None:
    first = ChademoRig(battery={"soc_pct": 79})
    assert (await first.run()).kind is OutcomeKind.COMPLETED
    second = ChademoRig(battery={"soc_pct": 79})
    # the station may keep its adapter per connector: reuse the first one on the second rig's channel
    first.adapter.channel = second.charger_channel
    second.session.adapter = first.adapter
    outcome = await second.run()
    assert outcome.kind is OutcomeKind.COMPLETED and outcome.vehicle_reason == "charging_enabled_cleared"
    assert_safe_end(second)


async def test_plug_pulled_during_energy_transfer_trips_at_once() -> None:
    from evse.session.events import FaultRaised
    from evse.sim import faults

    rig = ChademoRig(battery={"soc_pct": 30})
    injected: list[float] = []

    def pull() -> None:
        injected.append(asyncio.get_running_loop().time())
        faults.inject(rig.world, 1, "plug_pulled")  # the connection check goes inactive

    outcome = await _stop_path(rig, 3.0, pull)
    assert (outcome.kind, outcome.stage, outcome.reason) == (
        OutcomeKind.FAILED,
        Stage.ENERGY_TRANSFER,
        Reason.SAFETY_TRIP,
    )
    assert outcome.detail == "plug_line_lost: plug left the inlet during energy transfer: connected line inactive"
    (fault,) = [e for e in rig.events if isinstance(e, FaultRaised)]
    assert fault.code == "plug_line_lost" and fault.t_s == injected[0]  # in the listener call, no time passed


async def test_plug_pulled_before_charging_ends_the_session_unplugged() -> None:
    from evse.sim import faults

    rig = ChademoRig(battery={"soc_pct": 30})
    loop = asyncio.get_running_loop()

    def pull_in_negotiation() -> None:
        if rig.session.stage is Stage.PARAMETER_NEGOTIATION:
            faults.inject(rig.world, 1, "plug_pulled")
        else:
            loop.call_later(0.05, pull_in_negotiation)

    loop.call_soon(pull_in_negotiation)
    outcome = await rig.run()
    assert (outcome.kind, outcome.reason) == (OutcomeKind.STOPPED_BY_STATION, Reason.UNPLUGGED)
    assert outcome.stage is Stage.PARAMETER_NEGOTIATION
    assert_safe_end(rig)


async def test_a_failed_operation_in_stopping_still_ends_the_protocol() -> None:
    """A welded contactor fails the opening; the stop sequence goes on (d2, then d1 off) and the runner records the
    weld — the shared executor's rule for the closing stages."""
    from evse.sim import faults

    rig = ChademoRig(battery={"soc_pct": 30})

    def weld_and_stop() -> None:
        faults.inject(rig.world, 1, "contactor_welding")
        rig.session.request_stop(Reason.USER_STOP)

    task = asyncio.get_running_loop().create_task(when_charging(rig, 2.0, weld_and_stop))
    outcome = await rig.run()
    task.cancel()
    assert (outcome.kind, outcome.stage, outcome.reason) == (OutcomeKind.FAILED, Stage.STOPPING, Reason.HARDWARE_FAULT)
    assert "welded" in outcome.detail
    statuses = decoded(rig, m.ID_CHARGER_STATUS)
    assert statuses[-1].stop_control and not statuses[-1].connector_locked  # d1 off: the core finished stopping
    assert not rig.plant.lines.output("d1") and not rig.plant.lines.output("d2")
    assert rig.session.stage is Stage.FAULTED
