"""The sans-I/O CHAdeMO core, fed frames, k, measurements and times directly (no loop, no I/O)."""

from __future__ import annotations

import dataclasses

import pytest

from evse.can.channel import CanFrame
from evse.protocols.chademo import messages as m
from evse.protocols.chademo.actions import (
    Action,
    Do,
    End,
    Identify,
    Measurements,
    Op,
    Request,
    Send,
    SetLimits,
    SetLine,
    StageDone,
)
from evse.protocols.chademo.codec import ChademoCodec
from evse.protocols.chademo.core import ChademoCore, Phase
from evse.protocols.chademo.rules import insulation_test_voltage_v
from evse.protocols.chademo.settings import ChademoSettings
from evse.session.errors import StageFailure, VehicleStop
from evse.session.stages import Reason, Stage

codec = ChademoCodec()


@dataclasses.dataclass
class Car:
    """The vehicle's three frames, as values the test edits."""

    protocol: int = 2
    max_v: int = 410
    target_v: int = 400
    request_a: int = 0
    enabled: bool = False
    contactor_open: bool = True
    faults: frozenset[str] = frozenset()
    not_park: bool = False
    system_fault: bool = False
    stop_request: bool = False
    reference: int = 100
    rate: int = 50
    max_time_s: int = 1800

    def frames(self) -> list[CanFrame]:
        return [
            codec.encode(
                m.VehicleBatteryLimits(max_battery_voltage_v=self.max_v, charged_rate_reference=self.reference)
            ),
            codec.encode(m.VehicleChargeTime(max_charge_time_s=self.max_time_s, capacity_raw=240)),
            codec.encode(
                m.VehicleControl(
                    protocol_number=self.protocol,
                    target_voltage_v=self.target_v,
                    current_request_a=self.request_a,
                    faults=self.faults,
                    charging_enabled=self.enabled,
                    shift_lever_not_park=self.not_park,
                    charging_system_fault=self.system_fault,
                    contactor_open=self.contactor_open,
                    normal_stop_request=self.stop_request,
                    charged_rate=self.rate,
                )
            ),
        ]


class Rig:
    """Drives a core: performs its operations at once, keeps what it sent and its stage results."""

    def __init__(self, settings: ChademoSettings | None = None, car: Car | None = None) -> None:
        self.core = ChademoCore(settings or ChademoSettings())
        self.core.set_charger_offer(500, 125)
        self.car = car or Car()
        self.now = 0.0
        self.sent: list[CanFrame] = []
        self.lines: dict[str, bool] = {}
        self.line_log: list[tuple[float, str, bool]] = []
        self.done: list[Stage] = []
        self.ends: list[End] = []
        self.ops: list[Do] = []
        self.requests: list[Request] = []
        self.other: list[Action] = []
        self.auto_ops = True
        self.meas = Measurements()

    def handle(self, actions: list[Action]) -> None:
        for action in actions:
            match action:
                case Send(frame):
                    self.sent.append(dataclasses.replace(frame, timestamp_s=self.now))
                case SetLine(line, on):
                    self.lines[line] = on
                    self.line_log.append((self.now, line, on))
                case StageDone(stage):
                    self.done.append(stage)
                case End():
                    self.ends.append(action)
                case Do():
                    self.ops.append(action)
                    if self.auto_ops:
                        self.handle(self.core.done(action.op, self.now))
                case Request():
                    self.requests.append(action)
                case _:
                    self.other.append(action)

    def measure(self, **kw: float) -> None:
        self.meas = dataclasses.replace(self.meas, **kw)
        self.core.observe(self.meas)

    def begin(self, stage: Stage, stop_reason: Reason | None = None) -> None:
        self.handle(self.core.begin(stage, self.now, stop_reason))

    def vehicle_cycle(self) -> None:
        for frame in self.car.frames():
            self.handle(self.core.on_frame(frame, self.now))

    def k(self, on: bool) -> None:
        self.handle(self.core.on_k(on, self.now))

    def run_until(self, t: float, vehicle: bool = True) -> None:
        """Advance time to t: vehicle frames every 100 ms (offset 30 ms), core timers at their deadlines."""
        next_vehicle = self.now + 0.03
        while self.now < t:
            deadline = self.core.next_deadline()
            candidates = [t] + ([next_vehicle] if vehicle else []) + ([deadline] if deadline is not None else [])
            self.now = max(self.now, min(candidates))
            if vehicle and self.now >= next_vehicle:
                self.vehicle_cycle()
                next_vehicle += 0.1
            self.handle(self.core.on_time(self.now))

    def last(self, ident: int) -> m.ChargerStatus | m.ChargerCapability | m.ChargerExtendedFunctions:
        frame = [f for f in self.sent if f.arbitration_id == ident][-1]
        decoded = codec.decode(frame)
        assert decoded is not None and not isinstance(decoded, m.VehicleMessage)
        return decoded

    def to_charging(self) -> None:
        self.begin(Stage.CONNECTION_DETECTION)
        self.begin(Stage.AUTHORIZATION)
        self.begin(Stage.BMS_WAKE_UP)
        self.run_until(0.5)
        assert Stage.BMS_WAKE_UP in self.done
        self.begin(Stage.PARAMETER_NEGOTIATION)
        self.run_until(1.0)
        self.car.enabled = True
        self.k(True)
        self.run_until(1.5)
        assert Stage.PARAMETER_NEGOTIATION in self.done, self.ends
        self.begin(Stage.INSULATION_TEST)
        self.run_until(2.0)
        assert Stage.INSULATION_TEST in self.done, self.ends
        self.begin(Stage.CONTACTOR_CLOSURE)
        self.run_until(2.5)
        self.car.contactor_open = False
        if self.car.protocol <= 1:
            self.measure(inlet_voltage_v=380, output_voltage_v=380)
        self.run_until(3.0)
        assert Stage.CONTACTOR_CLOSURE in self.done, self.ends
        self.begin(Stage.ENERGY_TRANSFER)
        self.car.request_a = 20
        self.run_until(3.5)
        assert self.core.phase is Phase.CHARGING

    def stop_and_unlock(self, stop_reason: Reason | None = None) -> None:
        self.begin(Stage.STOPPING, stop_reason)
        self.car.request_a = 0
        self.run_until(self.now + 0.3)
        self.car.contactor_open = True
        self.run_until(self.now + 1.5)
        assert Stage.STOPPING in self.done, (self.core.phase, self.ends)
        self.measure(output_voltage_v=3, inlet_voltage_v=3)
        self.begin(Stage.UNLOCK)
        self.run_until(self.now + 0.5, vehicle=False)
        assert Stage.UNLOCK in self.done


def test_full_sequence_protocol_1_0() -> None:
    rig = Rig()
    rig.to_charging()
    assert rig.lines == {"d1": True, "d2": True}
    assert [op.op for op in rig.ops] == [Op.LOCK, Op.INSULATION_TEST, Op.CLOSE_CONTACTORS]
    assert rig.ops[1].voltage_v == 460  # vehicle max 410 V + 50 V (IEC 61851-23:2023)
    status = rig.last(0x109)
    assert isinstance(status, m.ChargerStatus)
    assert status.charging and not status.stop_control and status.connector_locked and status.protocol_number == 2
    cap = rig.last(0x108)
    assert cap == m.ChargerCapability(True, 500, 125, 410)
    assert rig.requests[-1] == Request(400.0, 20.0)
    limits = [a for a in rig.other if isinstance(a, SetLimits)][-1].limits
    assert limits.max_voltage_v == 410 and limits.target_voltage_v == 400
    ident = [a for a in rig.other if isinstance(a, Identify)][-1]
    assert ident.protocol_version == "1.0" and len(ident.identity["vehicle_signature"]) == 16
    assert not any(f.arbitration_id == 0x118 for f in rig.sent)  # 2.x only

    t_stop = rig.now
    rig.stop_and_unlock(Reason.USER_STOP)
    assert [op.op for op in rig.ops][3:] == [Op.RAMP_DOWN, Op.OPEN_CONTACTORS, Op.DISCHARGE, Op.UNLOCK]
    d2_off = next(t for t, line, on in rig.line_log if line == "d2" and not on)
    d1_off = next(t for t, line, on in rig.line_log if line == "d1" and not on)
    assert d2_off >= t_stop + 0.3  # waited for the vehicle's contactor open
    assert d1_off - d2_off >= 0.5 - 1e-9
    assert not rig.ends
    final = rig.last(0x109)
    assert isinstance(final, m.ChargerStatus)
    assert final.stop_control and not final.charging and not final.connector_locked and not final.charger_malfunction
    sent_before = len(rig.sent)
    rig.run_until(rig.now + 1.0, vehicle=False)
    assert len(rig.sent) == sent_before  # transmission ends with the session


def test_protocol_0_9_uses_the_inlet_voltage_rule() -> None:
    rig = Rig(car=Car(protocol=1))
    rig.to_charging()
    assert rig.last(0x109).protocol_number == 1  # type: ignore[union-attr]
    # 0.9 never reports its contactor; the stop waits a settle time, not the status bit
    rig.begin(Stage.STOPPING, Reason.CSMS_STOP)
    rig.car.contactor_open = False
    rig.run_until(rig.now + 2.0)
    assert Stage.STOPPING in rig.done


def test_protocol_0_9_contactor_not_closed_without_inlet_voltage() -> None:
    rig = Rig(car=Car(protocol=1, contactor_open=False))
    rig.begin(Stage.BMS_WAKE_UP)
    rig.run_until(0.3)
    rig.begin(Stage.PARAMETER_NEGOTIATION)
    rig.car.enabled = True
    rig.k(True)
    rig.run_until(0.6)
    rig.begin(Stage.INSULATION_TEST)
    rig.run_until(0.8)
    rig.begin(Stage.CONTACTOR_CLOSURE)
    rig.run_until(5.0)  # contactor bit says closed, but 0.9 must see the inlet voltage
    assert Stage.CONTACTOR_CLOSURE not in rig.done
    assert rig.ends and rig.ends[0].error.reason is Reason.TIMEOUT


def test_protocol_2_sends_0x118_after_0x109_with_dynamic_control() -> None:
    rig = Rig(car=Car(protocol=3))
    rig.to_charging()
    ids = [f.arbitration_id for f in rig.sent[-3:]]
    assert ids == [0x108, 0x109, 0x118]
    ext = rig.last(0x118)
    assert isinstance(ext, m.ChargerExtendedFunctions)
    # the vehicle did not send 0x110: nothing is offered beyond what it asked for
    assert not ext.dynamic_control


def test_protocol_negotiated_down_to_the_charger_maximum() -> None:
    rig = Rig(ChademoSettings(max_protocol_number=2), car=Car(protocol=3))
    rig.to_charging()
    assert rig.last(0x109).protocol_number == 2  # type: ignore[union-attr]
    assert not any(f.arbitration_id == 0x118 for f in rig.sent)


def test_cycle_timing_absolute_schedule_no_drift_no_burst() -> None:
    rig = Rig()
    rig.begin(Stage.BMS_WAKE_UP)
    rig.now = 0.0123
    rig.vehicle_cycle()
    first = next(f for f in rig.sent if f.arbitration_id == 0x108).timestamp_s
    assert first == pytest.approx(0.0123)
    assert [f.arbitration_id for f in rig.sent[:2]] == [0x108, 0x109]
    # called exactly at deadlines: slots on the grid t0 + n * 100 ms
    for _ in range(50):
        rig.now = rig.core.next_deadline()  # type: ignore[assignment]
        rig.handle(rig.core.on_time(rig.now))
    times = [f.timestamp_s for f in rig.sent if f.arbitration_id == 0x108]
    for n, t in enumerate(times):
        assert t == pytest.approx(0.0123 + 0.1 * n, abs=1e-9)
    # a late tick (350 ms) sends once and skips missed slots
    count = len(rig.sent)
    rig.now += 0.35
    rig.handle(rig.core.on_time(rig.now))
    assert len(rig.sent) - count == 2
    assert rig.core.next_deadline() == pytest.approx(0.0123 + 0.1 * (len(times) + 3), abs=1e-9)


def test_waits_for_all_three_vehicle_frames_in_any_order() -> None:
    rig = Rig()
    rig.begin(Stage.BMS_WAKE_UP)
    frames = rig.car.frames()
    for frame in reversed(frames[1:]):
        rig.handle(rig.core.on_frame(frame, 0.01))
    assert rig.sent and not rig.done  # transmitting from the first frame, not yet woken up
    rig.handle(rig.core.on_frame(frames[0], 0.02))
    assert rig.done == [Stage.BMS_WAKE_UP]


def test_no_vehicle_frames_after_d1_is_communication_lost() -> None:
    rig = Rig()
    rig.begin(Stage.BMS_WAKE_UP)
    rig.run_until(10, vehicle=False)
    assert rig.ends[0].error.reason is Reason.COMMUNICATION_LOST
    assert "0x100" in rig.ends[0].error.detail


def test_incompatible_target_voltage_sets_battery_incompatible() -> None:
    rig = Rig(car=Car(max_v=600, target_v=550))
    rig.begin(Stage.BMS_WAKE_UP)
    rig.run_until(0.3)
    rig.begin(Stage.PARAMETER_NEGOTIATION)
    error = rig.ends[0].error
    assert isinstance(error, StageFailure) and error.reason is Reason.VEHICLE_INCOMPATIBLE
    assert "550 V" in error.detail
    rig.run_until(0.5)
    status = rig.last(0x109)
    assert isinstance(status, m.ChargerStatus) and status.battery_incompatible and status.stop_control


def test_pre_0_9_vehicle_is_incompatible() -> None:
    rig = Rig(car=Car(protocol=0))
    rig.begin(Stage.BMS_WAKE_UP)
    rig.run_until(0.3)
    rig.begin(Stage.PARAMETER_NEGOTIATION)
    assert rig.ends[0].error.reason is Reason.VEHICLE_INCOMPATIBLE


def test_k_timeout_names_what_is_missing() -> None:
    rig = Rig()
    rig.begin(Stage.BMS_WAKE_UP)
    rig.run_until(0.3)
    rig.begin(Stage.PARAMETER_NEGOTIATION)
    rig.k(True)
    rig.run_until(9.0)
    error = rig.ends[0].error
    assert error.reason is Reason.TIMEOUT and "k on, charging-enabled clear" in error.detail
    assert rig.ends and rig.now >= 8.0


def test_charged_rate_reference_240_before_k_is_tolerated() -> None:
    rig = Rig(car=Car(reference=240, rate=120))
    rig.begin(Stage.BMS_WAKE_UP)
    rig.run_until(0.3)
    rig.begin(Stage.PARAMETER_NEGOTIATION)
    assert rig.core.soc_pct() == pytest.approx(50.0)
    rig.car.reference, rig.car.rate = 100, 50
    rig.car.enabled = True
    rig.k(True)
    rig.run_until(0.6)
    assert Stage.PARAMETER_NEGOTIATION in rig.done and not rig.ends


def _stop_case(mutate: str) -> Rig:
    rig = Rig()
    rig.to_charging()
    if mutate == "k":
        rig.k(False)
    elif mutate == "comms":
        rig.run_until(rig.now + 2.0, vehicle=False)
    elif mutate == "over_voltage":
        rig.measure(output_voltage_v=410)
        rig.run_until(rig.now + 0.2)
    else:
        setattr(rig.car, mutate, {"faults": frozenset({"battery_high_temperature"})}.get(mutate, True))
        if mutate == "enabled":
            rig.car.enabled = False
        rig.run_until(rig.now + 0.2)
    return rig


@pytest.mark.parametrize(
    ("mutate", "kind", "reason", "vehicle_reason"),
    [
        ("k", VehicleStop, Reason.VEHICLE_STOP, "k_released"),
        ("enabled", VehicleStop, Reason.COMPLETED, "charging_enabled_cleared"),
        ("not_park", VehicleStop, Reason.VEHICLE_STOP, "shift_lever_not_park"),
        ("stop_request", VehicleStop, Reason.VEHICLE_STOP, "normal_stop_request"),
        ("system_fault", StageFailure, Reason.VEHICLE_FAULT, "charging_system_fault"),
        ("faults", StageFailure, Reason.VEHICLE_FAULT, "battery_high_temperature"),
        ("comms", StageFailure, Reason.COMMUNICATION_LOST, ""),
        ("over_voltage", StageFailure, Reason.SAFETY_TRIP, ""),
    ],
)
def test_stop_paths(mutate: str, kind: type, reason: Reason, vehicle_reason: str) -> None:
    rig = _stop_case(mutate)
    assert len(rig.ends) == 1
    error = rig.ends[0].error
    assert isinstance(error, kind) and error.reason is reason and error.vehicle_reason == vehicle_reason
    if mutate != "comms":
        rig.stop_and_unlock()
    else:
        # dead link: stopping does not wait for a welding detection it cannot hear about
        rig.begin(Stage.STOPPING)
        rig.run_until(rig.now + 0.6, vehicle=False)
        assert Stage.STOPPING in rig.done


@pytest.mark.parametrize("flag", m.FAULT_FLAGS)
def test_each_fault_flag_stops(flag: str) -> None:
    rig = Rig()
    rig.to_charging()
    rig.car.faults = frozenset({flag})
    rig.run_until(rig.now + 0.2)
    assert rig.ends[0].error.reason is Reason.VEHICLE_FAULT and rig.ends[0].error.vehicle_reason == flag


def test_stop_within_half_a_second_of_k_release() -> None:
    rig = Rig()
    rig.to_charging()
    t = rig.now
    rig.k(False)
    assert rig.ends  # at once, on the line change
    rig.begin(Stage.STOPPING)
    assert rig.ops[-1].op is Op.RAMP_DOWN and rig.now - t < 0.5


def test_remaining_time_counts_down_and_stops_at_zero() -> None:
    rig = Rig(car=Car(max_time_s=60))
    rig.to_charging()
    status = rig.last(0x109)
    assert isinstance(status, m.ChargerStatus) and 50 <= status.remaining_time_s <= 60
    rig.run_until(rig.now + 61)
    error = rig.ends[0].error
    assert isinstance(error, VehicleStop) and error.vehicle_reason == "max_charging_time"


def test_request_above_advertised_current_is_clamped() -> None:
    rig = Rig()
    rig.to_charging()
    rig.car.request_a = 200
    rig.run_until(rig.now + 0.5)
    assert rig.requests[-1].current_a == 125
    from evse.protocols.chademo.actions import Note

    clamps = [a for a in rig.other if isinstance(a, Note) and "clamped" in a.text]
    assert len(clamps) == 1  # said once, not every 100 ms


def test_charger_fault_sets_malfunction_flag_in_stopping() -> None:
    rig = Rig()
    rig.to_charging()
    rig.begin(Stage.STOPPING, Reason.HARDWARE_FAULT)
    rig.run_until(rig.now + 0.2)
    status = rig.last(0x109)
    assert isinstance(status, m.ChargerStatus) and status.charger_malfunction and status.stop_control


def test_welding_detection_gives_up_after_the_configured_time() -> None:
    rig = Rig(ChademoSettings(welding_detection_give_up_s=3.0))
    rig.to_charging()
    rig.begin(Stage.STOPPING)
    t = rig.now
    rig.run_until(t + 2.9)
    assert Stage.STOPPING not in rig.done
    rig.run_until(t + 3.6)
    assert Stage.STOPPING in rig.done


def test_insulation_waits_for_output_below_10v_and_20v() -> None:
    rig = Rig()
    rig.begin(Stage.BMS_WAKE_UP)
    rig.run_until(0.3)
    rig.begin(Stage.PARAMETER_NEGOTIATION)
    rig.car.enabled = True
    rig.k(True)
    rig.run_until(0.6)
    rig.measure(inlet_voltage_v=380)  # vehicle contactors still closed
    rig.begin(Stage.INSULATION_TEST)
    rig.run_until(1.0)
    assert Op.INSULATION_TEST not in [o.op for o in rig.ops]
    rig.measure(inlet_voltage_v=0)
    rig.auto_ops = False
    rig.run_until(1.2)
    assert rig.ops[-1].op is Op.INSULATION_TEST
    rig.measure(output_voltage_v=40)
    rig.handle(rig.core.done(Op.INSULATION_TEST, rig.now))
    rig.run_until(1.5)
    assert Stage.INSULATION_TEST not in rig.done
    rig.measure(output_voltage_v=15)
    rig.run_until(1.7)
    assert Stage.INSULATION_TEST in rig.done


def test_unlock_refused_while_output_unsafe() -> None:
    rig = Rig()
    rig.to_charging()
    rig.begin(Stage.STOPPING)
    rig.car.contactor_open = True
    rig.run_until(rig.now + 1.5)
    rig.measure(output_voltage_v=300)
    rig.begin(Stage.UNLOCK)
    rig.run_until(rig.now + 6, vehicle=False)
    assert Op.UNLOCK not in [o.op for o in rig.ops]
    assert rig.ends[-1].error.reason is Reason.HARDWARE_FAULT


@pytest.mark.parametrize(
    ("vehicle_max", "charger_max", "expected"),
    [(410, 500, 460), (480, 500, 500), (800, 1000, 880), (800, 850, 850), (None, 1000, 500), (None, 400, 400)],
)
def test_insulation_test_voltage(vehicle_max: float | None, charger_max: float, expected: float) -> None:
    assert insulation_test_voltage_v(vehicle_max, charger_max) == pytest.approx(expected)


def test_request_zero_while_charging_is_a_pause() -> None:
    from evse.protocols.chademo.actions import Pause

    rig = Rig()
    rig.to_charging()
    rig.car.request_a = 0
    rig.run_until(rig.now + 0.3)
    rig.car.request_a = 30
    rig.run_until(rig.now + 0.3)
    pauses = [a.paused for a in rig.other if isinstance(a, Pause)]
    assert pauses == [True, False]
    assert not rig.ends and rig.requests[-1].current_a == 30


def test_a_stop_in_the_same_frame_as_request_zero_is_not_a_pause() -> None:
    from evse.protocols.chademo.actions import Pause

    rig = Rig()
    rig.to_charging()
    rig.car.request_a, rig.car.enabled = 0, False
    rig.run_until(rig.now + 0.3)
    assert rig.ends[0].error.vehicle_reason == "charging_enabled_cleared"
    assert not [a for a in rig.other if isinstance(a, Pause)]


def test_connection_detection_waits_for_the_connection_check_line() -> None:
    rig = Rig()
    rig.handle(rig.core.on_connected(False, 0.0))
    rig.begin(Stage.CONNECTION_DETECTION)
    assert Stage.CONNECTION_DETECTION not in rig.done and not rig.ends
    rig.now = 0.4
    rig.handle(rig.core.on_connected(True, rig.now))
    assert rig.done == [Stage.CONNECTION_DETECTION]


def test_without_a_connection_check_line_detection_completes_at_once() -> None:
    rig = Rig()
    rig.handle(rig.core.on_connected(None, 0.0))  # the hardware role does not offer the line
    rig.begin(Stage.CONNECTION_DETECTION)
    assert rig.done == [Stage.CONNECTION_DETECTION]


def test_losing_the_connection_check_before_charging_ends_the_session_unplugged() -> None:
    rig = Rig()
    rig.handle(rig.core.on_connected(True, 0.0))
    rig.begin(Stage.CONNECTION_DETECTION)
    rig.begin(Stage.AUTHORIZATION)
    rig.begin(Stage.BMS_WAKE_UP)
    rig.run_until(0.5)
    rig.begin(Stage.PARAMETER_NEGOTIATION)
    rig.run_until(0.8)
    rig.handle(rig.core.on_connected(False, rig.now))
    assert len(rig.ends) == 1 and rig.ends[0].error.reason is Reason.UNPLUGGED
    rig.handle(rig.core.on_connected(False, rig.now))  # reported once
    assert len(rig.ends) == 1


def test_charging_enabled_cleared_before_current_flowed_is_a_stop_not_a_completion() -> None:
    rig = Rig()
    rig.begin(Stage.CONNECTION_DETECTION)
    rig.begin(Stage.AUTHORIZATION)
    rig.begin(Stage.BMS_WAKE_UP)
    rig.run_until(0.5)
    rig.begin(Stage.PARAMETER_NEGOTIATION)
    rig.car.enabled = True
    rig.k(True)
    rig.run_until(1.0)
    rig.begin(Stage.INSULATION_TEST)
    rig.car.enabled = False
    rig.run_until(1.3)
    error = rig.ends[0].error
    assert isinstance(error, VehicleStop) and error.reason is Reason.VEHICLE_STOP
    assert error.vehicle_reason == "charging_enabled_cleared"
