"""The stage API (`StageContext`) of one session: the only way an adapter reaches the power path.

Every safety rule of `evse.session.context` is enforced here, for every standard alike:
* contactors close for energy only after an insulation test passed *in this session* and pre-charge matched the
  vehicle's voltage within the adapter's tolerance (or, for a plan without pre-charge, with the output < 20 V);
* every set-point lies inside the envelope (evse.safety.envelope); rises are ramped at `ramp_a_per_s`, falls are
  applied at once (lowering a current is always safe); the limits are re-applied at least every
  `reapply_period_s` and at once when the envelope changes;
* a normal stop ramps down to ≤ `stop_current_a` before the contactors open (a trip is the exception: the
  supervisor opens at once and counts it);
* the connector unlocks only below `unlock_max_voltage_v`;
* the insulation test follows insulation-and-limits.md (output < 10 V first, ≤ 2 A while testing, samples each
  within 5 s until they settle, Ω/V and 100 kΩ rules, bleed < 60 V after).
Everything that waits uses event-loop time. The facts the invariants need (insulation passed, pre-charge match,
what was true at closure, currents at normal openings, voltages at unlock) are recorded in `PowerPathRecord`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from evse.safety.envelope import VEHICLE, Envelope
from evse.safety.limits import INSULATION_FAULT, INSULATION_WARNING, insulation_fault_threshold_ohm, insulation_level
from evse.safety.settings import SafetySettings
from evse.safety.supervisor import Supervisor
from evse.session.adapter import Plan
from evse.session.context import ChargerOffer, InsulationResult, Setpoint, VehicleLimits, VehicleStatus
from evse.session.errors import StageFailure
from evse.session.events import (
    Event,
    InsulationMeasured,
    LimitChanged,
    LimitsNegotiated,
    TraceRecord,
    VehicleIdentified,
)
from evse.session.hardware import ConnectorRoles
from evse.session.stages import Reason, Stage

#: above this output voltage the measured voltage (not the requested one) converts a power limit into a current
_POWER_REFERENCE_MIN_VOLTAGE_V = 50.0
#: a limit change smaller than this is not worth a LimitChanged event
_LIMIT_EVENT_STEP_A = 1.0
#: below this, a remaining wait is over (looptime's virtual clock steps in 1 µs; asyncio's own resolution is finer)
_CLOCK_RESOLUTION_S = 1e-6
PAUSE_SOURCE = "vehicle_pause"


@dataclass(slots=True)
class Closure:
    """What was true when the contactors were released for energy transfer."""

    t_s: float
    insulation_passed: bool
    precharge_matched_v: float | None
    output_v: float
    has_precharge: bool


@dataclass(slots=True)
class PowerPathRecord:
    """Facts about this session's power path, for the invariants and for the operator."""

    insulation_passed: bool = False
    insulation_in_progress: bool = False
    precharge_matched_v: float | None = None
    closure: Closure | None = None
    #: measured current at every normal (non-trip) contactor opening
    normal_opening_currents_a: list[float] = field(default_factory=list)
    #: the higher of output and inlet voltage at every unlock command
    unlock_voltages_v: list[float] = field(default_factory=list)


class SessionContext:
    """`StageContext` for one session on one connector."""

    def __init__(
        self,
        *,
        connector_id: int,
        session_id: str,
        plan: Plan,
        roles: ConnectorRoles,
        envelope: Envelope,
        supervisor: Supervisor,
        settings: SafetySettings,
        publish: Callable[[Event], None],
        stage: Callable[[], Stage],
        on_pause: Callable[[bool], None],
        timeouts: Callable[[str], float],
    ) -> None:
        self.connector_id = connector_id
        self.session_id = session_id
        self.standard = plan.standard
        self.plan = plan
        self.roles = roles
        self.envelope = envelope
        self.supervisor = supervisor
        self.settings = settings
        self._publish = publish
        self._stage = stage
        self._on_pause = on_pause
        self._timeouts = timeouts
        self.log: structlog.stdlib.BoundLogger = structlog.get_logger("evse.session").bind(
            connector_id=connector_id, session_id=session_id
        )
        self.stop_requested = asyncio.Event()
        self.stop_reason: Reason | None = None
        #: set when the station authorized the session (an adapter whose protocol waits for it may await this)
        self.authorized = asyncio.Event()
        self.id_tag: str | None = None
        self.vehicle = VehicleStatus()
        self.lines = roles.lines
        self.pilot = roles.pilot
        self.vehicle_limits: VehicleLimits | None = None
        self.identity: dict[str, str] = {}
        self.protocol_version = ""
        self.record = PowerPathRecord()
        self.paused = False
        self._loop = asyncio.get_running_loop()
        self._energy = False
        self._ramping_down = False
        self._requested_v = 0.0
        self._requested_a = 0.0
        self._commanded_v = 0.0
        self._commanded_a = 0.0
        self._last_ramp_s = self._loop.time()
        self._last_write_s = float("-inf")
        self._setpoint = Setpoint(0.0, 0.0, VEHICLE)
        self._last_limit: tuple[float, str] | None = None
        self._control: asyncio.Task[None] | None = None
        self._precharge_reference_v = 0.0
        self._precharge_tolerance_v = 0.0
        envelope.add_listener(self._on_envelope)

    # ------------------------------------------------------------------ plain information
    def now(self) -> float:
        return self._loop.time()

    def timeout_s(self, name: str) -> float:
        return self._timeouts(name)

    def current_stage(self) -> Stage:
        return self._stage()

    def publish(self, event: Event) -> None:
        self._publish(event)

    @property
    def tripped(self) -> bool:
        return self.supervisor.tripped

    @property
    def energy_enabled(self) -> bool:
        return self._energy

    def set_vehicle_limits(self, limits: VehicleLimits) -> None:
        self.vehicle_limits = limits
        self.envelope.set_vehicle(limits)
        env = self.envelope.limits()
        self.supervisor.set_voltage_reference(env.max_voltage_v)
        offer = self.charger_offer()
        self._publish(
            LimitsNegotiated(
                connector_id=self.connector_id,
                session_id=self.session_id,
                t_s=self.now(),
                vehicle_max_voltage_v=limits.max_voltage_v,
                vehicle_max_current_a=limits.max_current_a,
                vehicle_max_power_w=limits.max_power_w,
                charger_max_voltage_v=offer.max_voltage_v,
                charger_max_current_a=offer.max_current_a,
                target_voltage_v=limits.target_voltage_v,
                soc_pct=self.vehicle.soc_pct,
            )
        )

    def charger_offer(self) -> ChargerOffer:
        offer = self.envelope.offer()
        charger = self.envelope.charger
        current_a, _ = offer.current_at(offer.max_voltage_v)
        return ChargerOffer(
            max_voltage_v=offer.max_voltage_v,
            min_voltage_v=charger.min_voltage_v,
            max_current_a=offer.max_current_a,
            min_current_a=charger.min_current_a,
            max_power_w=offer.max_power_w if offer.max_power_w is not None else current_a * offer.max_voltage_v,
        )

    def identify(self, protocol_version: str, identity: dict[str, str]) -> None:
        self.protocol_version, self.identity = protocol_version, dict(identity)
        self._publish(
            VehicleIdentified(
                connector_id=self.connector_id,
                session_id=self.session_id,
                t_s=self.now(),
                protocol_version=protocol_version,
                identity=dict(identity),
            )
        )

    def trace(self, direction: str, kind: str, text: str) -> None:
        if direction == "rx":
            self.supervisor.vehicle_message()
        self._publish(
            TraceRecord(
                connector_id=self.connector_id,
                session_id=self.session_id,
                t_s=self.now(),
                direction=direction,
                kind=kind,
                text=text,
            )
        )

    def pause(self, paused: bool) -> None:
        if paused == self.paused:
            return
        self.paused = paused
        self.supervisor.paused = paused
        self._on_pause(paused)
        self._apply(force=True)

    # ------------------------------------------------------------------ measurements
    def measured_voltage_v(self) -> float:
        return self.roles.power.measured_voltage_v()

    def measured_current_a(self) -> float:
        return self.roles.power.measured_current_a()

    def vehicle_side_voltage_v(self) -> float:
        return self.roles.contactors.vehicle_side_voltage_v()

    # ------------------------------------------------------------------ lock
    async def lock_connector(self) -> None:
        lock = self.roles.lock
        if lock is None:
            return
        lock.lock()
        if not await self._wait(lock.locked, self.settings.lock_timeout_s):
            raise StageFailure(
                Reason.HARDWARE_FAULT, f"connector lock did not report locked within {self.settings.lock_timeout_s} s"
            )

    async def unlock_connector(self) -> None:
        lock = self.roles.lock
        limit_v = self.settings.unlock_max_voltage_v
        if self._highest_voltage_v() >= limit_v and not self.roles.contactors.feedback_closed():
            if self.measured_voltage_v() >= limit_v:
                await self.discharge()
            # the cable side behind open contactors decays by itself once the vehicle has opened its own
            await self._wait(lambda: self._highest_voltage_v() < limit_v, self.settings.discharge_timeout_s)
        highest_v = self._highest_voltage_v()
        if highest_v >= limit_v:
            raise StageFailure(
                Reason.HARDWARE_FAULT,
                f"{highest_v:.0f} V on the cable: the connector stays locked until < {limit_v:.0f} V",
            )
        if lock is None:
            return
        self.record.unlock_voltages_v.append(highest_v)
        lock.unlock()
        if not await self._wait(lambda: not lock.locked(), self.settings.lock_timeout_s):
            raise StageFailure(
                Reason.HARDWARE_FAULT, f"connector lock did not report unlocked within {self.settings.lock_timeout_s} s"
            )

    def _highest_voltage_v(self) -> float:
        return max(self.measured_voltage_v(), self.vehicle_side_voltage_v())

    # ------------------------------------------------------------------ insulation test
    async def insulation_test(self, test_voltage_v: float, keep_contactors_closed: bool = False) -> InsulationResult:
        s = self.settings
        self._refuse_if_tripped("insulation test")
        if self._energy:
            raise StageFailure(Reason.PROTOCOL_ERROR, "insulation test requested during energy transfer")
        inlet_v = self.vehicle_side_voltage_v()
        if inlet_v >= s.insulation_pre_test_max_voltage_v:
            raise StageFailure(
                Reason.VEHICLE_FAULT,
                f"{inlet_v:.0f} V at the inlet before the insulation test (vehicle contactors closed?); it must be "
                f"< {s.insulation_pre_test_max_voltage_v:.0f} V",
            )
        output_v = self.measured_voltage_v()
        if output_v >= s.insulation_pre_test_max_voltage_v:
            raise StageFailure(
                Reason.HARDWARE_FAULT,
                f"charger output at {output_v:.0f} V before the insulation test; it must be "
                f"< {s.insulation_pre_test_max_voltage_v:.0f} V (discharge circuit?)",
            )
        test_v = min(test_voltage_v, self.envelope.charger.max_voltage_v)
        roles = self.roles
        power, contactors, imd = roles.power, roles.contactors, roles.imd
        self.record.insulation_passed = False
        self.record.insulation_in_progress = True
        self.supervisor.set_voltage_reference(test_v)
        samples: list[float] = []
        try:
            if s.insulation_self_test:
                imd.start_self_test()
                if not await self._wait(lambda: imd.self_test_result() is not None, s.insulation_self_test_timeout_s):
                    raise StageFailure(Reason.HARDWARE_FAULT, "insulation monitor self-test gave no result")
                if imd.self_test_result() is False:
                    raise StageFailure(Reason.HARDWARE_FAULT, "insulation monitor self-test failed")
            contactors.close()
            if not await self._wait(contactors.feedback_closed, s.contactor_feedback_timeout_s):
                raise StageFailure(Reason.HARDWARE_FAULT, "output contactors did not report closed for the test")
            power.set_target(test_v, s.insulation_test_max_current_a)
            power.enable()
            reached = await self._wait(
                lambda: self._short_circuit_check() or self.measured_voltage_v() >= test_v - s.voltage_tolerance_v,
                s.insulation_voltage_ramp_timeout_s,
            )
            self._short_circuit_check(raise_=True)
            if not reached:
                raise StageFailure(
                    Reason.HARDWARE_FAULT,
                    f"output reached {self.measured_voltage_v():.0f} V of the {test_v:.0f} V test voltage within "
                    f"{s.insulation_voltage_ramp_timeout_s:.0f} s",
                )
            imd.start()
            samples = await self._insulation_samples()
        except BaseException:
            # off at once; the closing stages wait for the discharge
            power.disable()
            power.discharge()
            contactors.open()
            self.record.insulation_in_progress = False
            raise
        resistance_ohm = min(samples[-s.insulation_min_samples :])
        level = insulation_level(resistance_ohm, test_v, s)
        power.set_target(0.0, 0.0)
        power.disable()
        power.discharge()
        bled = await self._wait(
            lambda: self.measured_voltage_v() < s.unlock_max_voltage_v, s.insulation_bleed_timeout_s
        )
        if not keep_contactors_closed or level == INSULATION_FAULT or not bled:
            contactors.open()
        self.record.insulation_in_progress = False
        passed = level != INSULATION_FAULT
        self._publish(
            InsulationMeasured(
                connector_id=self.connector_id,
                session_id=self.session_id,
                t_s=self.now(),
                resistance_ohm=resistance_ohm,
                test_voltage_v=test_v,
                passed=passed,
            )
        )
        if not passed:
            threshold = insulation_fault_threshold_ohm(test_v, s)
            raise StageFailure(
                Reason.INSULATION_FAULT,
                f"insulation {resistance_ohm / 1000:.0f} kΩ at {test_v:.0f} V ({resistance_ohm / test_v:.0f} Ω/V) is "
                f"below the fault level {threshold / 1000:.0f} kΩ",
            )
        if not bled:
            raise StageFailure(
                Reason.HARDWARE_FAULT,
                f"output still {self.measured_voltage_v():.0f} V {s.insulation_bleed_timeout_s:.0f} s after the "
                f"insulation test (discharge circuit?)",
            )
        if level == INSULATION_WARNING:
            self.log.warning("insulation warning level", resistance_ohm=resistance_ohm, test_voltage_v=test_v)
        self.record.insulation_passed = True
        return InsulationResult(True, resistance_ohm, test_v, level, len(samples))

    def _short_circuit_check(self, raise_: bool = False) -> bool:
        current_a = self.measured_current_a()
        if current_a > self.settings.insulation_short_circuit_current_a:
            if raise_:
                raise StageFailure(
                    Reason.INSULATION_FAULT, f"{current_a:.1f} A at the test voltage: short circuit on the cable"
                )
            return True
        return False

    async def _insulation_samples(self) -> list[float]:
        s = self.settings
        imd = self.roles.imd
        samples: list[float] = []
        previous = imd.latest()
        last_t = previous.t_s if previous is not None else None
        while True:
            got = await self._wait(functools.partial(self._new_sample, last_t), s.insulation_sample_timeout_s)
            self._short_circuit_check(raise_=True)
            if not got:
                raise StageFailure(
                    Reason.HARDWARE_FAULT,
                    f"the insulation monitor sent no sample for {s.insulation_sample_timeout_s:.0f} s",
                )
            sample = imd.latest()
            assert sample is not None
            last_t = sample.t_s
            if sample.device_fault:
                raise StageFailure(Reason.HARDWARE_FAULT, "the insulation monitor reports a device fault")
            samples.append(sample.resistance_ohm)
            if len(samples) >= s.insulation_max_samples or self._settled(samples):
                return samples

    def _new_sample(self, last_t: float | None) -> bool:
        sample = self.roles.imd.latest()
        return self._short_circuit_check() or (sample is not None and sample.t_s != last_t)

    def _settled(self, samples: list[float]) -> bool:
        n = self.settings.insulation_min_samples
        if len(samples) < n:
            return False
        window = samples[-n:]
        low, high = min(window), max(window)
        return high <= 0 or (high - low) / high * 100.0 <= self.settings.insulation_settle_pct

    # ------------------------------------------------------------------ pre-charge and closure
    async def precharge(self, target_voltage_v: float, tolerance_v: float, max_current_a: float = 2.0) -> float:
        s = self.settings
        self._refuse_if_tripped("pre-charge")
        if not self.record.insulation_passed:
            raise StageFailure(Reason.SAFETY_TRIP, "pre-charge refused: no passed insulation test in this session")
        contactors = self.roles.contactors
        inlet_v = self.vehicle_side_voltage_v()
        behind_open = not contactors.feedback_closed() and inlet_v >= s.insulation_pre_test_max_voltage_v
        reference_v = inlet_v if behind_open else target_voltage_v
        limit_v = self.envelope.limits().max_voltage_v
        if reference_v > limit_v + s.voltage_tolerance_v:
            raise StageFailure(
                Reason.PRECHARGE_FAILED, f"pre-charge target {reference_v:.0f} V above the allowed {limit_v:.0f} V"
            )
        voltage_v = min(reference_v, limit_v)
        current_a = min(max_current_a, s.insulation_test_max_current_a)
        self.roles.power.set_target(voltage_v, current_a)
        self.roles.power.enable()
        matched = await self._wait(
            lambda: abs(self.measured_voltage_v() - reference_v) <= tolerance_v, s.precharge_timeout_s
        )
        if not matched:
            raise StageFailure(
                Reason.PRECHARGE_FAILED,
                f"output {self.measured_voltage_v():.0f} V, vehicle {reference_v:.0f} V: "
                f"not within ±{tolerance_v:.0f} V after {s.precharge_timeout_s:.0f} s",
            )
        matched_v = self.measured_voltage_v()
        self.record.precharge_matched_v = matched_v
        self._precharge_reference_v = reference_v
        self._precharge_tolerance_v = tolerance_v
        self._commanded_v = voltage_v
        return matched_v

    async def close_contactors(self) -> None:
        s = self.settings
        self._refuse_if_tripped("contactor closure")
        record = self.record
        if not record.insulation_passed:
            raise StageFailure(
                Reason.SAFETY_TRIP, "contactors may not close: no passed insulation test in this session"
            )
        output_v = self.measured_voltage_v()
        contactors = self.roles.contactors
        if self.plan.has_precharge:
            if record.precharge_matched_v is None:
                raise StageFailure(
                    Reason.SAFETY_TRIP, "contactors may not close: pre-charge has not matched the voltage"
                )
            inlet_v = self.vehicle_side_voltage_v()
            open_with_pack = not contactors.feedback_closed() and inlet_v >= s.insulation_pre_test_max_voltage_v
            reference_v = inlet_v if open_with_pack else self._precharge_reference_v
            if abs(output_v - reference_v) > self._precharge_tolerance_v:
                raise StageFailure(
                    Reason.SAFETY_TRIP,
                    f"contactors may not close: output {output_v:.0f} V vs vehicle {reference_v:.0f} V is outside "
                    f"±{self._precharge_tolerance_v:.0f} V",
                )
        elif output_v >= s.no_precharge_max_voltage_v:
            # the insulation test's bleed may still be running: give it the discharge time
            self.roles.power.disable()
            self.roles.power.discharge()
            await self._wait(lambda: self.measured_voltage_v() < s.no_precharge_max_voltage_v, s.discharge_timeout_s)
            output_v = self.measured_voltage_v()
        if not self.plan.has_precharge and output_v >= s.no_precharge_max_voltage_v:
            raise StageFailure(
                Reason.SAFETY_TRIP,
                f"contactors may not close: output at {output_v:.0f} V; without pre-charge it must be "
                f"< {s.no_precharge_max_voltage_v:.0f} V",
            )
        contactors.close()
        if not await self._wait(contactors.feedback_closed, s.contactor_feedback_timeout_s):
            contactors.open()
            raise StageFailure(Reason.HARDWARE_FAULT, "output contactors did not report closed")
        self._refuse_if_tripped("energy transfer")
        record.closure = Closure(
            self.now(), record.insulation_passed, record.precharge_matched_v, output_v, self.plan.has_precharge
        )
        self.supervisor.set_voltage_reference(self.envelope.limits().max_voltage_v)
        self._commanded_a = 0.0
        self._last_ramp_s = self.now()
        self._energy = True
        self.roles.power.set_target(self._commanded_v, 0.0)
        self.roles.power.enable()
        self.supervisor.energy_started()
        self._control = self._loop.create_task(self._control_loop(), name=f"setpoint-{self.connector_id}")

    # ------------------------------------------------------------------ set-points
    def request(self, voltage_v: float, current_a: float) -> Setpoint:
        self._requested_v, self._requested_a = max(0.0, voltage_v), max(0.0, current_a)
        self.supervisor.vehicle_message()
        return self._apply()

    def setpoint(self) -> Setpoint:
        return self._setpoint

    def _on_envelope(self) -> None:
        self._apply(force=True)

    def _apply(self, force: bool = False) -> Setpoint:
        """Recompute the set-point from the last request, the envelope and the ramp; write it when it changed or
        the re-apply period is over."""
        if not self._energy or self.supervisor.tripped:
            self._setpoint = Setpoint(self._commanded_v, 0.0, self._setpoint.limit_source)
            return self._setpoint
        now = self.now()
        limits = self.envelope.limits()
        voltage_v = min(self._requested_v, limits.max_voltage_v)
        measured_v = self.measured_voltage_v()
        reference_v = measured_v if measured_v >= _POWER_REFERENCE_MIN_VOLTAGE_V else voltage_v
        limit_a, source = limits.current_at(reference_v)
        self._note_limit(limit_a, source)
        if self._requested_a <= limit_a:
            target_a, source = self._requested_a, VEHICLE
        else:
            target_a = limit_a
        if self.paused:
            target_a, source = 0.0, PAUSE_SOURCE
        elapsed_s = max(0.0, now - self._last_ramp_s)
        self._last_ramp_s = now
        if self._ramping_down:
            current_a = max(0.0, min(target_a, self._commanded_a - self.settings.stop_ramp_a_per_s * elapsed_s))
        elif target_a > self._commanded_a:
            current_a = min(target_a, self._commanded_a + self.settings.ramp_a_per_s * elapsed_s)
        else:
            current_a = target_a
        changed = current_a != self._commanded_a or voltage_v != self._commanded_v
        self._commanded_a, self._commanded_v = current_a, voltage_v
        if changed or force or now - self._last_write_s >= self.settings.reapply_period_s:
            self.roles.power.set_target(voltage_v, current_a)
            self._last_write_s = now
        self._setpoint = Setpoint(voltage_v, current_a, source)
        return self._setpoint

    def _note_limit(self, limit_a: float, source: str) -> None:
        last = self._last_limit
        if last is not None and last[1] == source and abs(last[0] - limit_a) < _LIMIT_EVENT_STEP_A:
            return
        self._last_limit = (limit_a, source)
        self._publish(
            LimitChanged(
                connector_id=self.connector_id,
                session_id=self.session_id,
                t_s=self.now(),
                current_limit_a=limit_a,
                power_limit_w=self.envelope.limits().max_power_w,
                source=source,
            )
        )

    async def _control_loop(self) -> None:
        """Ramp and re-apply between the vehicle's requests."""
        period_s = self.settings.control_period_s
        while self._energy:
            await asyncio.sleep(period_s)
            self._apply()

    @property
    def commanded_current_a(self) -> float:
        return self._commanded_a

    async def ramp_down(self) -> None:
        s = self.settings
        if not self._energy or self.supervisor.tripped:
            return
        self._ramping_down = True
        self._requested_a = 0.0
        self._apply(force=True)
        ramped = await self._wait(
            lambda: self._commanded_a <= 0.0 and self.measured_current_a() <= s.stop_current_a,
            s.stop_current_timeout_s + self._commanded_a / s.stop_ramp_a_per_s,
            step=lambda: self._apply(),
        )
        if not ramped and not self.supervisor.tripped:
            # the current does not fall: opening now would be under load, so it is a trip, not a normal stop
            self.supervisor.trip(
                Reason.SAFETY_TRIP,
                "current_not_falling",
                f"current still {self.measured_current_a():.0f} A after the ramp-down",
            )

    async def open_contactors(self) -> None:
        s = self.settings
        contactors = self.roles.contactors
        if self._energy and not self.supervisor.tripped:
            await self.ramp_down()
        if contactors.commanded_closed() and not self.supervisor.tripped:
            self.record.normal_opening_currents_a.append(self.measured_current_a())
        self._stop_energy()
        contactors.open()
        if not await self._wait(lambda: not contactors.feedback_closed(), s.contactor_feedback_timeout_s):
            self.roles.power.disable()
            raise StageFailure(
                Reason.HARDWARE_FAULT,
                f"contactor welded: mirror contact still closed {s.contactor_feedback_timeout_s} s after opening",
            )

    def _stop_energy(self) -> None:
        self._energy = False
        self._ramping_down = False
        self.supervisor.energy_stopped()
        if self._control is not None:
            self._control.cancel()
            self._control = None

    async def discharge(self) -> None:
        s = self.settings
        power = self.roles.power
        power.set_target(0.0, 0.0)
        power.disable()
        power.discharge()
        if not await self._wait(lambda: self.measured_voltage_v() < s.unlock_max_voltage_v, s.discharge_timeout_s):
            raise StageFailure(
                Reason.HARDWARE_FAULT,
                f"output still {self.measured_voltage_v():.0f} V after {s.discharge_timeout_s:.0f} s of discharge",
            )

    # ------------------------------------------------------------------ teardown (called by the runner)
    def close(self) -> None:
        """The session is over: stop the loops, leave the power module off, the IMD stopped."""
        self._stop_energy()
        self.envelope.remove_listener(self._on_envelope)
        self.envelope.set_vehicle(None)
        self.roles.power.disable()
        self.roles.imd.stop()

    def safe_now(self) -> None:
        """Synchronous last resort (the runner itself was cancelled): power off, contactors open, discharge."""
        self._stop_energy()
        self.roles.power.disable()
        self.roles.contactors.open()
        self.roles.power.discharge()

    # ------------------------------------------------------------------ helpers
    def _refuse_if_tripped(self, what: str) -> None:
        if self.supervisor.tripped:
            raise StageFailure(
                self.supervisor.trip_reason or Reason.SAFETY_TRIP,
                f"{what} refused: the power path tripped ({self.supervisor.trip_code})",
            )

    async def _wait(
        self, condition: Callable[[], bool], timeout_s: float, step: Callable[[], object] | None = None
    ) -> bool:
        """Poll `condition` on event-loop time until true (→ True) or `timeout_s` passed (→ False)."""
        if condition():
            return True
        deadline = self.now() + timeout_s
        poll_s = self.settings.poll_period_s
        # a remainder below the clock's resolution is no time at all: `now + 0.5` may land a float residue past the
        # quantized virtual clock (31.87 + 0.5 = 32.370000000000005), and sleeping 7e-15 s forever froze it
        while deadline - self.now() > _CLOCK_RESOLUTION_S:
            await asyncio.sleep(min(poll_s, deadline - self.now()))
            if step is not None:
                step()
            if condition():
                return True
        return False
