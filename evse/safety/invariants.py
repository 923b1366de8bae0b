"""The safety invariants of one connector, as code: checked after every step of the stateful test and available
to a simulation run as a watchdog.

1. Contactors commanded closed ⇒ a session is running and its insulation test is in progress (current ≤ 2 A) or
   passed in this session.
2. Current above the insulation-test limit flows only after a guarded closure: insulation passed in this session
   and pre-charge matched the vehicle's voltage (or the plan has no pre-charge and the output was < 20 V).
3. Output inside the envelope: the commanded current never exceeds the envelope's current limits, and a power
   limit (converted to a current at the measured voltage) within one control period; the *measured* current
   stays within the limit plus the stated tolerance (`current_tolerance_a` + `ENVELOPE_CURRENT_TOLERANCE_PCT`, for
   the power limit converted at the measured voltage) unless a fault drives it — then the supervisor must have cut
   the power within its rule's bound (soft over-current: `soft_overcurrent_delay_s`); the measured voltage stays
   below the allowed voltage + `voltage_tolerance_v`, or power is off within `software_overvoltage_delay_s`.
4. After any trip: power module disabled and contactors commanded open at once (the trip is synchronous), mirror
   contacts open within `contactor_feedback_timeout_s` (unless welded) and the output below 60 V within
   `discharge_timeout_s` (unless welded with the pack behind).
5. A normal stop opens the contactors only at ≤ `stop_current_a`.
6. The connector unlocks only below `unlock_max_voltage_v`.

"Bounded time" allows one supervisor period (`control_period_s`) on top of a rule's delay, since duration rules
are evaluated on measurements and on that tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from evse.safety.envelope import Envelope
from evse.safety.settings import SafetySettings
from evse.safety.supervisor import Supervisor
from evse.session.hardware import ConnectorRoles

if TYPE_CHECKING:
    from evse.session.power_path import PowerPathRecord, SessionContext

#: the power limit is converted to a current at the measured voltage, which rises with the current (pack IR)
ENVELOPE_CURRENT_TOLERANCE_PCT = 3.0


class InvariantViolation(AssertionError):
    """A safety invariant does not hold."""


@dataclass(slots=True)
class _Breach:
    since_s: float | None = None

    def update(self, breached: bool, now: float) -> float:
        """How long the breach has lasted (0 when none)."""
        if not breached:
            self.since_s = None
            return 0.0
        if self.since_s is None:
            self.since_s = now
        return now - self.since_s


class InvariantMonitor:
    """Checks the invariants of one connector; `check()` raises `InvariantViolation` with the evidence."""

    def __init__(
        self, roles: ConnectorRoles, envelope: Envelope, supervisor: Supervisor, settings: SafetySettings
    ) -> None:
        self.roles = roles
        self.envelope = envelope
        self.supervisor = supervisor
        self.settings = settings
        self._over_voltage = _Breach()
        self._over_current = _Breach()
        self._over_commanded = _Breach()
        self._trip_since_s: float | None = None
        self._was_locked = False
        self.checks = 0

    def check_record(self, record: PowerPathRecord) -> None:
        """Invariants 5 and 6 on a session's record (also after the session ended)."""
        s = self.settings
        for opened_a in record.normal_opening_currents_a:
            if opened_a > s.stop_current_a:
                raise InvariantViolation(f"normal stop opened the contactors at {opened_a:.1f} A")
        for unlocked_v in record.unlock_voltages_v:
            if unlocked_v >= s.unlock_max_voltage_v:
                raise InvariantViolation(f"connector unlocked at {unlocked_v:.0f} V")

    def check(self, now: float, ctx: SessionContext | None, *, welded: bool = False) -> None:
        self.checks += 1
        s = self.settings
        roles = self.roles
        power, contactors = roles.power, roles.contactors
        voltage_v, current_a = power.measured_voltage_v(), power.measured_current_a()
        slack_s = s.control_period_s + s.poll_period_s + 1e-6

        # 1 — closed contactors need a session with an insulation test in progress or passed
        if contactors.commanded_closed():
            if ctx is None:
                raise InvariantViolation("contactors commanded closed with no session running")
            record = ctx.record
            if not (record.insulation_in_progress or record.insulation_passed):
                raise InvariantViolation("contactors commanded closed before an insulation test in this session")

        # 2 — energy only after a guarded closure
        if current_a > s.insulation_test_max_current_a + s.current_tolerance_a and power.enabled():
            closure = ctx.record.closure if ctx is not None else None
            if closure is None:
                raise InvariantViolation(f"{current_a:.1f} A flowing without a contactor closure for energy")
            if not closure.insulation_passed:
                raise InvariantViolation("energy closure without a passed insulation test")
            if closure.has_precharge and closure.precharge_matched_v is None:
                raise InvariantViolation("energy closure without a matched pre-charge")
            if not closure.has_precharge and closure.output_v >= s.no_precharge_max_voltage_v:
                raise InvariantViolation(f"closure without pre-charge at {closure.output_v:.0f} V")

        # 3 — the envelope
        energy = ctx is not None and ctx.energy_enabled and not self.supervisor.tripped
        if energy and ctx is not None:
            limits = self.envelope.limits()
            limit_a, source = limits.current_at(max(voltage_v, 1.0))
            commanded_a = ctx.commanded_current_a
            if commanded_a > limits.max_current_a + 1e-6:  # current limits hold exactly, at once
                raise InvariantViolation(
                    f"commanded {commanded_a:.1f} A above the envelope's {limits.max_current_a:.1f} A "
                    f"({limits.current_source})"
                )
            # a power limit is converted at the measured voltage: a voltage step is followed within one period
            over_s = self._over_commanded.update(
                commanded_a > limit_a * (1 + ENVELOPE_CURRENT_TOLERANCE_PCT / 100) + 1e-6, now
            )
            if over_s > slack_s:
                raise InvariantViolation(
                    f"commanded {commanded_a:.1f} A above the envelope {limit_a:.1f} A ({source}) for {over_s:.2f} s"
                )
        else:
            limit_a = s.insulation_test_max_current_a
            self._over_commanded.update(False, now)
        allowed_a = limit_a * (1 + ENVELOPE_CURRENT_TOLERANCE_PCT / 100) + s.current_tolerance_a
        lasted_s = self._over_current.update(power.enabled() and current_a > allowed_a, now)
        if lasted_s > s.soft_overcurrent_delay_s + slack_s:
            raise InvariantViolation(f"{current_a:.1f} A above the allowed {allowed_a:.1f} A for {lasted_s:.1f} s")
        allowed_v = (
            self.envelope.limits().max_voltage_v if energy else self.supervisor.voltage_reference_v
        ) + s.voltage_tolerance_v
        lasted_s = self._over_voltage.update(power.enabled() and voltage_v > allowed_v, now)
        if lasted_s > s.software_overvoltage_delay_s + slack_s:
            raise InvariantViolation(f"{voltage_v:.0f} V above the allowed {allowed_v:.0f} V for {lasted_s:.1f} s")

        # 4 — a trip is safe at once and discharged in bounded time
        if self.supervisor.tripped:
            if self._trip_since_s is None or welded:
                self._trip_since_s = now  # a welded contactor cannot open: the bound starts when it comes free
            if power.enabled():
                raise InvariantViolation(f"power module enabled after a trip ({self.supervisor.trip_code})")
            if contactors.commanded_closed():
                raise InvariantViolation(f"contactors commanded closed after a trip ({self.supervisor.trip_code})")
            since_s = now - self._trip_since_s
            if not welded and contactors.feedback_closed() and since_s > s.contactor_feedback_timeout_s + slack_s:
                raise InvariantViolation(f"mirror contacts still closed {since_s:.2f} s after a trip")
            if (
                not welded
                and not contactors.feedback_closed()
                and voltage_v >= s.unlock_max_voltage_v
                and since_s > s.discharge_timeout_s + slack_s
            ):
                raise InvariantViolation(f"output still {voltage_v:.0f} V {since_s:.1f} s after a trip")
        else:
            self._trip_since_s = None

        # 5, 6 — normal stops open only at low current; unlocking only at a safe voltage
        if ctx is not None:
            self.check_record(ctx.record)
        lock = roles.lock
        if lock is not None:
            locked = lock.locked()
            highest_v = max(voltage_v, contactors.vehicle_side_voltage_v())
            if self._was_locked and not locked and highest_v >= s.unlock_max_voltage_v:
                raise InvariantViolation(f"connector found unlocked with {highest_v:.0f} V on the cable")
            self._was_locked = locked
