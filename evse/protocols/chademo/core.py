"""The CHAdeMO charger side as a sans-I/O state machine (chademo.md, "Charge sequence (charger side)").

Rules — everything that decides what the charger does on the CHAdeMO link lives here:
* The core is fed: vehicle frames (`on_frame`), the k line (`on_k`), the connection check (`on_connected`, when
  the hardware offers the line), the charger's measurements (`observe`), the
  completion of power-path operations it asked for (`done`), the session's stage (`begin`) and the time
  (`on_time`, at `next_deadline()` at the latest). It returns `Action`s; it never sleeps, sends or touches
  hardware, so a test or a trace replay drives it with plain calls and made-up times.
* It advances only inside the stage the session has begun; finishing a stage's steps yields `StageDone(stage)`.
  Stopping and unlock run from any state (also after a failure, with a dead link).
* Cyclic frames: 0x108 then 0x109 (then 0x118 for protocol 2.x) every `cycle_period_s` from the first vehicle
  frame, on an absolute schedule t0 + n·period. A late tick sends once and skips the missed slots: no drift, no
  bursts. Each frame is encoded when sent, so it always carries the latest values.
* Every vehicle-side reason to stop is one `End` with a `SessionEnd` whose reason and `vehicle_reason` name it
  (see `_vehicle_stop_check`); the session records the stage.

Sequence (steps of chademo.md):
  CONNECTION_DETECTION   the connection-check line active (at once when the hardware has no such line)
  BMS_WAKE_UP            d1 on; wait for 0x100, 0x101 and 0x102                               (1, 2)
  PARAMETER_NEGOTIATION  compatibility; limits + identity; wait for k and charging-enabled; lock (3, 4, 5)
  INSULATION_TEST        output < 10 V; insulation test; output < 20 V                         (6, 7, 8)
  CONTACTOR_CLOSURE      close charger contactors (no pre-charge, ~0 V); d2; vehicle contactor    (9, 10)
  ENERGY_TRANSFER        current request > 0 → charging flag; follow the request              (11, 12)
  STOPPING               stop flag, ramp ≤ 5 A, clear charging, welding detection, open, d2 off,
                         ≥ 500 ms, d1 off, clear lock flag                                   (13, 14, 15)
  UNLOCK                 discharge, output < 10 V, unlock                                            (16)
"""

from __future__ import annotations

import dataclasses
import math
from enum import StrEnum

from evse.can.channel import CanFrame
from evse.protocols.chademo import messages as m
from evse.protocols.chademo import rules
from evse.protocols.chademo.actions import (
    Action,
    Do,
    End,
    Identify,
    Measurements,
    Note,
    Op,
    Pause,
    Request,
    Send,
    SetLimits,
    SetLine,
    StageDone,
)
from evse.protocols.chademo.codec import ChademoCodec, CodecError
from evse.protocols.chademo.schedule import CyclicSchedule
from evse.protocols.chademo.settings import ChademoSettings
from evse.session.context import VehicleLimits
from evse.session.errors import SessionEnd, StageFailure, VehicleStop
from evse.session.stages import Reason, Stage

#: 0x108 byte 3 / 0x102 byte 3 are one byte of amperes
MAX_PROTOCOL_CURRENT_A = 255
#: 0x108 byte 0: we wait for the vehicle's welding detection (required for protocol ≥ 1.0)
WELDING_DETECTION_SUPPORTED = True
_EPS = 1e-9
_WELDING = "the vehicle's contactor open (welding detection)"
_VEHICLE_FRAMES = frozenset({m.ID_VEHICLE_BATTERY_LIMITS, m.ID_VEHICLE_CHARGE_TIME, m.ID_VEHICLE_CONTROL})
#: failures of the charger side: 0x109 reports them as charger malfunction
_CHARGER_FAULT_REASONS = frozenset(
    {Reason.HARDWARE_FAULT, Reason.SAFETY_TRIP, Reason.EMERGENCY_STOP, Reason.INSULATION_FAULT}
)


class Phase(StrEnum):
    IDLE = "idle"
    WAIT_CONNECTED = "wait_connected"
    WAIT_VEHICLE_FRAMES = "wait_vehicle_frames"
    WAIT_K = "wait_k"
    LOCKING = "locking"
    WAIT_CONTACTORS_OPEN = "wait_contactors_open"
    INSULATION = "insulation"
    WAIT_POST_TEST = "wait_post_test"
    CLOSING = "closing"
    WAIT_VEHICLE_CONTACTOR = "wait_vehicle_contactor"
    WAIT_REQUEST = "wait_request"
    CHARGING = "charging"
    HOLD = "hold"  # a stage is done; waiting for the session to begin the next
    ENDED = "ended"  # an End was emitted; waiting for STOPPING
    STOP_RAMP = "stop_ramp"
    WAIT_VEHICLE_OPEN = "wait_vehicle_open"
    OPENING = "opening"
    WAIT_D1_OFF = "wait_d1_off"
    STOPPED = "stopped"  # stopping done; waiting for UNLOCK
    DISCHARGING = "discharging"
    WAIT_SAFE = "wait_safe"
    UNLOCKING = "unlocking"
    DONE = "done"


#: phases in which the vehicle's stop conditions are watched (from the compatibility check to the charging loop)
_WATCHED = frozenset(
    {
        Phase.WAIT_K,
        Phase.LOCKING,
        Phase.WAIT_CONTACTORS_OPEN,
        Phase.INSULATION,
        Phase.WAIT_POST_TEST,
        Phase.CLOSING,
        Phase.WAIT_VEHICLE_CONTACTOR,
        Phase.WAIT_REQUEST,
        Phase.CHARGING,
        Phase.HOLD,
    }
)


class ChademoCore:
    """The charger side of one CHAdeMO session. Create one per session."""

    def __init__(self, settings: ChademoSettings, codec: ChademoCodec | None = None) -> None:
        self.settings = settings
        self.codec = codec or ChademoCodec(settings.capacity_kwh_per_unit)
        self.phase = Phase.IDLE
        self.stage: Stage | None = None
        # vehicle view
        self.limits: m.VehicleBatteryLimits | None = None
        self.charge_time: m.VehicleChargeTime | None = None
        self.control: m.VehicleControl | None = None
        self.extended: m.VehicleExtendedFunctions | None = None
        self.seen: set[int] = set()
        self.last_rx_s: float | None = None
        self.k = False
        #: the connection-check line; None when the hardware does not offer it
        self.connected: bool | None = None
        self._k_was_active = False
        self._enabled_was_set = False
        self.comms_lost = False
        # charger view
        self.available_voltage_v = 0
        self.available_current_a = 0
        self.protocol_number = settings.max_protocol_number
        self.status = m.ChargerStatus(protocol_number=settings.max_protocol_number, stop_control=True)
        self.meas = Measurements()
        # schedule
        self.schedule = CyclicSchedule(settings.cycle_period_s)
        self.deadline_s: float | None = None
        self._deadline_detail = ""
        self.d1_on_s: float | None = None
        self.k_s: float | None = None
        self.d2_on = False
        self.charge_deadline_s: float | None = None
        self.reached_d2 = False
        self.ramp_done_s: float | None = None
        self.paused = False
        self._clamping = False
        self.end: SessionEnd | None = None

    # ------------------------------------------------------------------ inputs
    def set_charger_offer(self, max_voltage_v: float, max_current_a: float) -> None:
        """What 0x108 advertises (the charger's offer for this connector now)."""
        self.available_voltage_v = max(0, int(max_voltage_v))
        self.available_current_a = max(0, min(MAX_PROTOCOL_CURRENT_A, int(max_current_a)))

    def observe(self, meas: Measurements) -> None:
        self.meas = meas

    def begin(self, stage: Stage, now: float, stop_reason: Reason | None = None) -> list[Action]:
        """The session starts `stage`'s steps."""
        self.stage = stage
        out: list[Action] = []
        if stage in (Stage.STOPPING, Stage.UNLOCK):
            return self._begin_end_stage(stage, now, stop_reason, out)
        if self.end is not None:
            return [End(self.end)]
        match stage:
            case Stage.CONNECTION_DETECTION if self.connected is False:
                self.phase = Phase.WAIT_CONNECTED  # bounded by the session's stage timeout
            case Stage.BMS_WAKE_UP:
                self.d1_on_s = now
                self.phase = Phase.WAIT_VEHICLE_FRAMES
                self._arm(now + self.settings.vehicle_frames_timeout_s, "0x100/0x101/0x102 after d1")
                out.append(SetLine("d1", True))
                self._check_wake_up(now, out)
            case Stage.PARAMETER_NEGOTIATION:
                self._negotiate(now, out)
            case Stage.INSULATION_TEST:
                self.phase = Phase.WAIT_CONTACTORS_OPEN
                self._arm(now + self.settings.contactors_open_timeout_s, "output below 10 V (vehicle contactors open)")
                self._step(now, out)
            case Stage.CONTACTOR_CLOSURE:
                if self.k_s is not None and now - self.k_s > self.settings.k_to_d2_timeout_s:
                    self._fail(
                        StageFailure(
                            Reason.TIMEOUT, f"d2 not reached within {self.settings.k_to_d2_timeout_s:g} s of k"
                        ),
                        out,
                    )
                else:
                    self.phase = Phase.CLOSING
                    out.append(Do(Op.CLOSE_CONTACTORS))
            case Stage.ENERGY_TRANSFER:
                self.phase = Phase.WAIT_REQUEST
                self._arm(now + self.settings.current_request_timeout_s, "a current request > 0")
                self._step(now, out)
            case _:
                # stages without CHAdeMO steps (connection detection, authorization) complete at once
                out.append(StageDone(stage))
        return out

    def on_k(self, active: bool, now: float) -> list[Action]:
        self.k = active
        if active:
            self._k_was_active = True
        out: list[Action] = []
        self._step(now, out)
        return out

    def on_connected(self, active: bool | None, now: float) -> list[Action]:
        """The connection-check line changed (None: the hardware does not offer it). Like GB/T's CC1: connection
        detection waits for it, and losing it before the stop sequence ends the session as unplugged (during energy
        transfer the safety supervisor has tripped on it already)."""
        self.connected = active
        out: list[Action] = []
        if active is None:
            return out
        if active and self.phase is Phase.WAIT_CONNECTED:
            self._stage_done(out)
        elif (
            not active
            and self.phase not in (Phase.IDLE, Phase.WAIT_CONNECTED, Phase.ENDED, Phase.DONE)
            and self.stage not in (Stage.STOPPING, Stage.UNLOCK)
        ):
            self._fail(StageFailure(Reason.UNPLUGGED, "connection-check line went inactive: plug removed"), out)
        return out

    def on_frame(self, frame: CanFrame, now: float) -> list[Action]:
        out: list[Action] = []
        try:
            msg = self.codec.decode(frame)
        except CodecError as exc:
            out.append(Note(f"ignored malformed frame: {exc}"))
            return out
        if msg is None or frame.arbitration_id not in m.VEHICLE_IDS:
            return out
        self.last_rx_s = now
        self.seen.add(frame.arbitration_id)
        match msg:
            case m.VehicleBatteryLimits():
                self.limits = msg
            case m.VehicleChargeTime():
                self.charge_time = msg
            case m.VehicleControl():
                self.control = msg
                if self.k_s is None:
                    # the charger speaks the lower of both versions; fixed once k is seen
                    self.protocol_number = max(0, min(msg.protocol_number, self.settings.max_protocol_number))
                if msg.charging_enabled:
                    self._enabled_was_set = True
            case m.VehicleExtendedFunctions():
                self.extended = msg
        for problem in getattr(msg, "problems", ()):
            out.append(Note(problem))
        if not self.schedule.running and self.phase not in (Phase.DONE, Phase.IDLE):
            # chademo.md step 2: transmit from the first vehicle frame on
            self.schedule.start(now)
            self._transmit(now, out)
        if self.phase is Phase.WAIT_VEHICLE_FRAMES:
            self._check_wake_up(now, out)
        elif self.phase is Phase.CHARGING and isinstance(msg, m.VehicleControl):
            # a stop carried by this frame wins over the request it also carries
            error = self._vehicle_stop_check(now)
            if error is not None:
                self._fail(error, out)
                return out
            self._follow_request(msg, out)
        self._step(now, out)
        return out

    def on_time(self, now: float) -> list[Action]:
        out: list[Action] = []
        if self.schedule.due(now):
            self._transmit(now, out)
        self._step(now, out)
        return out

    def done(self, op: Op, now: float) -> list[Action]:
        """A power-path operation the core asked for has completed."""
        out: list[Action] = []
        match (op, self.phase):
            case (Op.LOCK, Phase.LOCKING):
                self.status = dataclasses.replace(self.status, connector_locked=True)
                self._stage_done(out)
            case (Op.INSULATION_TEST, Phase.INSULATION):
                self.phase = Phase.WAIT_POST_TEST
                self._arm(now + self.settings.post_test_timeout_s, "output below 20 V after the insulation test")
            case (Op.CLOSE_CONTACTORS, Phase.CLOSING):
                self.phase = Phase.WAIT_VEHICLE_CONTACTOR
                self.d2_on = self.reached_d2 = True
                out.append(SetLine("d2", True))
                self._arm(
                    now + self.settings.vehicle_contactor_close_timeout_s, "the vehicle's contactor closed after d2"
                )
            case (Op.RAMP_DOWN, Phase.STOP_RAMP):
                # step 14: clear the charging flag; the vehicle runs welding detection and opens its contactor
                self.status = dataclasses.replace(self.status, charging=False)
                self._after_ramp(now)
            case (Op.OPEN_CONTACTORS, Phase.OPENING):
                self.phase = Phase.WAIT_D1_OFF
                if self.d2_on:
                    out.append(SetLine("d2", False))
                    self.d2_on = False
                self._arm(now + self.settings.d2_to_d1_delay_s, "")
            case (Op.DISCHARGE, Phase.DISCHARGING):
                self.phase = Phase.WAIT_SAFE
                self._arm(
                    now + self.settings.safe_voltage_timeout_s, f"output below {self.settings.safe_voltage_v:g} V"
                )
            case (Op.UNLOCK, Phase.UNLOCKING):
                self.schedule.stop()
                self.phase = Phase.DONE
                out.append(StageDone(Stage.UNLOCK))
        self._step(now, out)
        return out

    def next_deadline(self) -> float | None:
        """The latest loop time at which `on_time` must be called."""
        times = []
        next_tx = self.schedule.next_s()
        if next_tx is not None:
            times.append(next_tx)
        if self.deadline_s is not None:
            times.append(self.deadline_s)
        if self._watching_comms() and self.last_rx_s is not None:
            times.append(self.last_rx_s + self.settings.comms_timeout_s)
        if self.phase is Phase.CHARGING and self.charge_deadline_s is not None:
            times.append(self.charge_deadline_s)
        return min(times) if times else None

    # ------------------------------------------------------------------ vehicle view
    def soc_pct(self) -> float | None:
        if self.control is None or self.limits is None:
            return None
        return m.soc_pct(self.control.charged_rate, self.limits.charged_rate_reference)

    def remaining_time_s(self, now: float) -> float | None:
        if self.charge_deadline_s is None:
            return None
        return max(0.0, self.charge_deadline_s - now)

    def protocol_label(self) -> str:
        try:
            return m.ProtocolNumber(self.protocol_number).label
        except ValueError:
            return str(self.protocol_number)

    # ------------------------------------------------------------------ frames
    def _transmit(self, now: float, out: list[Action]) -> None:
        out.extend(Send(frame) for frame in self.frames(now))
        self.schedule.take(now)

    def frames(self, now: float) -> list[CanFrame]:
        """The frames of one cycle with the latest values: 0x108, 0x109 (and 0x118 for protocol 2.x)."""
        vehicle_max = self.limits.max_battery_voltage_v if self.limits else None
        threshold = min(self.available_voltage_v, vehicle_max) if vehicle_max else self.available_voltage_v
        capability = m.ChargerCapability(
            welding_detection_supported=WELDING_DETECTION_SUPPORTED,
            available_voltage_v=self.available_voltage_v,
            available_current_a=self.available_current_a,
            threshold_voltage_v=threshold,
        )
        remaining = self.remaining_time_s(now)
        self.status = dataclasses.replace(
            self.status,
            protocol_number=self.protocol_number,
            present_voltage_v=max(0, round(self.meas.output_voltage_v)),
            present_current_a=max(0, round(self.meas.output_current_a)),
            remaining_time_s=self._declared_time_s() if remaining is None else math.ceil(remaining),
        )
        frames = [self.codec.encode(capability, now), self.codec.encode(self.status, now)]
        if self.protocol_number >= m.ProtocolNumber.V2_0 and self.control is not None:
            ext = self.extended or m.VehicleExtendedFunctions()
            mine = m.ChargerExtendedFunctions(dynamic_control=self.settings.dynamic_control and ext.dynamic_control)
            frames.append(self.codec.encode(mine, now))
        return frames

    def _declared_time_s(self) -> int:
        declared = self.charge_time.max_charge_time_s if self.charge_time else 0
        return declared or int(self.settings.undeclared_max_charge_time_s)

    # ------------------------------------------------------------------ sequence
    def _check_wake_up(self, now: float, out: list[Action]) -> None:
        if _VEHICLE_FRAMES <= self.seen:
            self._stage_done(out)

    def _negotiate(self, now: float, out: list[Action]) -> None:
        """Steps 3–4: protocol, compatibility, limits and identity; then wait for k and charging-enabled."""
        if self.limits is None or self.control is None:
            self._fail(
                StageFailure(Reason.PROTOCOL_ERROR, "negotiation began before the vehicle sent 0x100/0x102"), out
            )
            return
        s = self.settings
        vehicle_protocol = self.control.protocol_number
        self.protocol_number = max(0, min(vehicle_protocol, s.max_protocol_number))
        problem = rules.incompatibility(self.limits, self.control, self.available_voltage_v, s.min_protocol_number)
        if problem:
            self.status = dataclasses.replace(self.status, battery_incompatible=True)
            self._fail(StageFailure(Reason.VEHICLE_INCOMPATIBLE, problem), out)
            return
        self._publish_vehicle(out)
        if self.limits.nonstandard_max_current_a:
            out.append(Note(f"0x100 byte 1 = {self.limits.nonstandard_max_current_a} (non-standard, ignored)"))
        self.phase = Phase.WAIT_K
        start = self.d1_on_s if self.d1_on_s is not None else now
        self._arm(start + s.k_timeout_s, "k and 0x102 charging-enabled")
        self._step(now, out)

    def _publish_vehicle(self, out: list[Action]) -> None:
        assert self.limits is not None and self.control is not None
        out.append(
            SetLimits(
                VehicleLimits(
                    max_voltage_v=float(self.limits.max_battery_voltage_v or 0),
                    max_current_a=float(self.available_current_a or MAX_PROTOCOL_CURRENT_A),
                    min_current_a=float(self.limits.min_current_a) if self.limits.min_current_a else None,
                    target_voltage_v=float(self.control.target_voltage_v or 0) or None,
                )
            )
        )
        out.append(Identify(self.protocol_label(), self.identity()))

    def identity(self) -> dict[str, str]:
        return rules.identity(
            self.limits, self.control, self.charge_time, self.extended, self.codec.capacity_kwh_per_unit
        )

    def _step(self, now: float, out: list[Action]) -> None:
        """Advance the waiting phases and watch the stop conditions."""
        if self.phase in _WATCHED and self.end is None:
            error = self._vehicle_stop_check(now)
            if error is not None:
                self._fail(error, out)
                return
        phase = self.phase
        meas, s = self.meas, self.settings
        if phase is Phase.WAIT_K:
            ctl = self.control
            if self.k and ctl is not None and ctl.charging_enabled:
                if self.limits is not None and self.limits.charged_rate_reference != 100:
                    out.append(Note(f"charged-rate reference {self.limits.charged_rate_reference} at k"))
                self._publish_vehicle(out)  # 0x100/0x101/SOC may change until k (step 4)
                self.k_s = now
                self.phase = Phase.LOCKING
                self.deadline_s = None
                out.append(Do(Op.LOCK))
        elif phase is Phase.WAIT_CONTACTORS_OPEN:
            if (
                meas.output_voltage_v < s.contactors_open_voltage_v
                and meas.inlet_voltage_v < s.contactors_open_voltage_v
            ):
                self.phase = Phase.INSULATION
                self.deadline_s = None
                vehicle_max = self.limits.max_battery_voltage_v if self.limits else None
                out.append(
                    Do(Op.INSULATION_TEST, rules.insulation_test_voltage_v(vehicle_max, self.available_voltage_v))
                )
        elif phase is Phase.WAIT_POST_TEST:
            if meas.output_voltage_v < s.post_test_voltage_v:
                self._stage_done(out)
        elif phase is Phase.WAIT_VEHICLE_CONTACTOR:
            if self._vehicle_contactor_closed():
                self._stage_done(out)
        elif phase is Phase.WAIT_REQUEST:
            if self.control is not None and self.control.current_request_a > 0:
                # step 11: charging flag on, stop flag off; the remaining time counts down from here
                self.status = dataclasses.replace(self.status, charging=True, stop_control=False)
                self.charge_deadline_s = now + self._declared_time_s()
                self.phase = Phase.CHARGING
                self.deadline_s = None
                self._follow_request(self.control, out)
        elif phase is Phase.WAIT_VEHICLE_OPEN and self._deadline_detail == _WELDING:
            ctl = self.control
            if ctl is not None and ctl.contactor_open:
                if self.ramp_done_s is not None and now - self.ramp_done_s > s.welding_detection_wait_s:
                    out.append(Note(f"vehicle took {now - self.ramp_done_s:.1f} s to open its contactor"))
                self._open(out)
                return
        elif phase is Phase.WAIT_D1_OFF and self.deadline_s is not None and now + _EPS >= self.deadline_s:
            out.append(SetLine("d1", False))
            self.status = dataclasses.replace(self.status, connector_locked=False)
            self.phase = Phase.STOPPED
            self.deadline_s = None
            out.append(StageDone(Stage.STOPPING))
            return
        elif phase is Phase.WAIT_SAFE:
            # step 16: the output and the connector's pins (the inlet side) both safe
            if max(meas.output_voltage_v, meas.inlet_voltage_v) < s.safe_voltage_v:
                self.phase = Phase.UNLOCKING
                self.deadline_s = None
                out.append(Do(Op.UNLOCK))
                return
        self._check_deadline(now, out)

    def _check_deadline(self, now: float, out: list[Action]) -> None:
        if self.deadline_s is None or now + _EPS < self.deadline_s:
            return
        phase, what = self.phase, self._deadline_detail
        self.deadline_s = None
        if phase is Phase.WAIT_VEHICLE_OPEN:
            if what == _WELDING:
                give_up = self.settings.welding_detection_give_up_s
                out.append(Note(f"vehicle did not report its contactor open within {give_up:g} s; opening anyway"))
            self._open(out)
        elif phase is Phase.WAIT_SAFE:
            self._fail(
                StageFailure(
                    Reason.HARDWARE_FAULT,
                    f"output {self.meas.output_voltage_v:.0f} V, inlet {self.meas.inlet_voltage_v:.0f} V: "
                    f"not below {self.settings.safe_voltage_v:g} V after discharge",
                ),
                out,
            )
        elif phase is Phase.WAIT_VEHICLE_FRAMES:
            missing = ", ".join(f"0x{i:03X}" for i in sorted(_VEHICLE_FRAMES - self.seen))
            reason = Reason.TIMEOUT if self.seen else Reason.COMMUNICATION_LOST
            self._fail(
                StageFailure(
                    reason, f"no {missing} from the vehicle within {self.settings.vehicle_frames_timeout_s:g} s of d1"
                ),
                out,
            )
        elif phase is Phase.WAIT_K:
            enabled = self.control is not None and self.control.charging_enabled
            self._fail(
                StageFailure(
                    Reason.TIMEOUT,
                    f"no k and charging-enabled within {self.settings.k_timeout_s:g} s of d1 "
                    f"(k {'on' if self.k else 'off'}, charging-enabled {'set' if enabled else 'clear'})",
                ),
                out,
            )
        elif what:
            self._fail(StageFailure(Reason.TIMEOUT, f"timed out waiting for {what}"), out)

    def _vehicle_contactor_closed(self) -> bool:
        if self.protocol_number <= m.ProtocolNumber.V0_9:
            # 0.9 vehicles have no contactor status: the inlet voltage rises to the pack voltage (step 10)
            return (
                max(self.meas.inlet_voltage_v, self.meas.output_voltage_v)
                > self.settings.contactor_closed_inlet_voltage_v
            )
        return self.control is not None and not self.control.contactor_open

    def _follow_request(self, ctl: m.VehicleControl, out: list[Action]) -> None:
        current = ctl.current_request_a
        paused = current == 0
        if paused != self.paused:
            # a request of 0 A while charging is the vehicle's pause (the stage API holds the output at 0 A)
            self.paused = paused
            out.append(Pause(paused))
        if current > self.available_current_a:
            if not self._clamping:
                out.append(
                    Note(f"vehicle requests {current} A above the advertised {self.available_current_a} A; clamped")
                )
            self._clamping = True
            current = self.available_current_a
        else:
            self._clamping = False
        target = ctl.target_voltage_v or 0
        out.append(Request(float(target), float(current)))

    def _vehicle_stop_check(self, now: float) -> SessionEnd | None:
        """chademo.md step 12's stop conditions (and the fault flags at any time after the frames arrived)."""
        s = self.settings
        if self._watching_comms() and self.last_rx_s is not None and now - self.last_rx_s >= s.comms_timeout_s - _EPS:
            self.comms_lost = True
            return StageFailure(Reason.COMMUNICATION_LOST, f"no vehicle frame for {now - self.last_rx_s:.2f} s")
        if self.control is not None:
            error = rules.flag_stop(self.control, self._enabled_was_set, charging=self.phase is Phase.CHARGING)
            if error is not None:
                return error
        if self._k_was_active and not self.k:
            return VehicleStop("vehicle released k (charge permission)", vehicle_reason="k_released")
        if self.phase is Phase.CHARGING and self.charge_deadline_s is not None and now + _EPS >= self.charge_deadline_s:
            return VehicleStop(
                "the vehicle's maximum charging time elapsed (remaining time 0)", vehicle_reason="max_charging_time"
            )
        if self.reached_d2 and self.limits is not None and self.limits.max_battery_voltage_v:
            limit = self.limits.max_battery_voltage_v + s.over_voltage_margin_v
            if self.meas.output_voltage_v >= limit:
                return StageFailure(
                    Reason.SAFETY_TRIP,
                    f"output {self.meas.output_voltage_v:.0f} V at or above the vehicle's maximum {limit:g} V",
                )
        return None

    def _watching_comms(self) -> bool:
        return self.phase in _WATCHED and not self.comms_lost

    # ------------------------------------------------------------------ stop
    def _begin_end_stage(self, stage: Stage, now: float, stop_reason: Reason | None, out: list[Action]) -> list[Action]:
        if stage is Stage.STOPPING:
            failure = self.end is not None and self.end.reason in _CHARGER_FAULT_REASONS
            if failure or stop_reason in _CHARGER_FAULT_REASONS:
                self.status = dataclasses.replace(self.status, charger_malfunction=True)
            # step 13: stop flag on, ramp the output to ≤ 5 A
            self.status = dataclasses.replace(self.status, stop_control=True)
            self.phase = Phase.STOP_RAMP
            self.deadline_s = None
            out.append(Do(Op.RAMP_DOWN))
        else:
            self.phase = Phase.DISCHARGING
            self.deadline_s = None
            out.append(Do(Op.DISCHARGE))
        return out

    def _after_ramp(self, now: float) -> None:
        """Step 14: wait for the vehicle's welding detection — unless there is nothing to wait for."""
        self.ramp_done_s = now
        self.phase = Phase.WAIT_VEHICLE_OPEN
        link_dead = self.comms_lost or self.last_rx_s is None or (now - self.last_rx_s >= self.settings.comms_timeout_s)
        if not self.reached_d2 or link_dead:
            # the vehicle never closed its contactor, or it cannot tell us any more
            self._arm(now, "")
        elif self.protocol_number <= m.ProtocolNumber.V0_9:
            # 0.9 has no contactor status: give the vehicle a settle time after the ramp
            self._arm(now + self.settings.v09_contactor_open_settle_s, "")
        else:
            self._arm(now + self.settings.welding_detection_give_up_s, _WELDING)

    def _open(self, out: list[Action]) -> None:
        self.phase = Phase.OPENING
        self.deadline_s = None
        out.append(Do(Op.OPEN_CONTACTORS))

    # ------------------------------------------------------------------ helpers
    def _arm(self, at_s: float, what: str) -> None:
        self.deadline_s = at_s
        self._deadline_detail = what

    def _stage_done(self, out: list[Action]) -> None:
        assert self.stage is not None
        self.phase = Phase.HOLD
        self.deadline_s = None
        out.append(StageDone(self.stage))

    def _fail(self, error: SessionEnd, out: list[Action]) -> None:
        self.end = error
        self.phase = Phase.ENDED
        self.deadline_s = None
        out.append(End(error))
