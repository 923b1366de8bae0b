"""The safety supervisor of one connector: watches every measurement and trips the power path directly.

Rules of the house (architecture.md):
* A trip acts on the hardware roles **synchronously inside the listener call** that delivered the breaching
  measurement: `power.disable()`, `contactors.open()`, then `power.discharge()` — no await, no task, no state
  machine in between. Only then is the session told (`on_trip`), which ends it FAULTED after stopping and unlock.
* The supervisor never waits for the session and never runs inside a `transitions` callback.
* Rules that need a duration (software over-voltage, soft over-current, plausibility, welding, vehicle silence,
  the hard stop after a stop request) are evaluated on every measurement *and* on a periodic tick, so a sensor that
  falls silent cannot hide a breach.

Rules (insulation-and-limits.md; thresholds in `SafetySettings`):
emergency over-voltage (IEC 61851-23 Table 103, at once) · software over-voltage (above the negotiated maximum for
400 ms) · hard over-current (at once) · soft over-current (110 % for 7 s) · voltage plausibility (50 V for 30 s) ·
insulation below the fault level while charging (after a ramp grace window) · voltage to earth · over-temperature ·
emergency stop · power-module fault · contactor welded / dropped · CP leaving C/D during energy transfer (power off
at once; IEC 61851-23 allows 100 ms) · the plug line of CHAdeMO (connection check) or GB/T (CC1) leaving its
"inserted" reading during energy transfer (at once, like CP) · vehicle silent during energy transfer · vehicle not
stopped 20 s after a stop request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from evse.hardware.roles import CpState
from evse.safety.envelope import Envelope
from evse.safety.limits import (
    INSULATION_FAULT,
    earth_voltage_limit_v,
    emergency_overvoltage_v,
    insulation_fault_threshold_ohm,
)
from evse.safety.settings import SafetySettings
from evse.session.events import Event, FaultRaised
from evse.session.hardware import ConnectorRoles
from evse.session.plug_line import PlugLine
from evse.session.stages import Reason

log = structlog.get_logger("evse.safety")

TripHandler = Callable[[Reason, str, str], None]

#: IEC 61851-23: CP leaving C/D during energy transfer → output off within this bound (we trip at once)
PILOT_OFF_DEADLINE_S = 0.1
_ENERGY_CP_STATES = (CpState.C, CpState.D)

# fault codes (FaultRaised.code, the store, OCPP vendorErrorCode)
EMERGENCY_OVERVOLTAGE = "emergency_over_voltage"
SOFTWARE_OVERVOLTAGE = "over_voltage"
HARD_OVERCURRENT = "hard_over_current"
SOFT_OVERCURRENT = "over_current"
VOLTAGE_IMPLAUSIBLE = "voltage_implausible"
INSULATION = "insulation"
EARTH_VOLTAGE = "voltage_to_earth"
IMD_FAULT = "imd_fault"
OVER_TEMPERATURE = "over_temperature"
EMERGENCY_STOP = "emergency_stop"
POWER_MODULE_FAULT = "power_module_fault"
CONTACTOR_WELDED = "contactor_welded"
CONTACTOR_DROPPED = "contactor_dropped"
PILOT_LEFT_C = "cp_left_c"
PLUG_LINE_LOST = "plug_line_lost"
VEHICLE_SILENT = "vehicle_silent"
VEHICLE_NOT_STOPPED = "vehicle_not_stopped"
SESSION_REQUEST = "session_request"


class Supervisor:
    """Trips one connector's power path on any breach. One per connector, for the daemon's lifetime."""

    def __init__(
        self,
        connector_id: int,
        roles: ConnectorRoles,
        envelope: Envelope,
        settings: SafetySettings,
        publish: Callable[[Event], None],
    ) -> None:
        self.connector_id = connector_id
        self.roles = roles
        self.envelope = envelope
        self.settings = settings
        self._publish = publish
        charger = envelope.charger
        #: the hard over-current limit: the connector's rated current (charger ∩ cable) × the hard factor
        self.hard_current_limit_a = settings.hard_overcurrent_factor * min(
            charger.max_current_a, envelope.cable.max_current_a
        )
        # --- written by the session's power path
        self.session_id: str | None = None
        self.energy_active = False
        self.paused = False
        #: the voltage the output is allowed to reach now (negotiated maximum, or the insulation test voltage)
        self.voltage_reference_v: float = charger.max_voltage_v
        self._emergency_v = emergency_overvoltage_v(self.voltage_reference_v)
        # --- state
        self.tripped = False
        self.trip_reason: Reason | None = None
        self.trip_code = ""
        self.trip_detail = ""
        self.trip_time_s: float | None = None
        self.trips = 0
        #: contactors commanded open by a trip while current flowed (they wear: operators want the count)
        self.openings_under_load = 0
        self._on_trip: TripHandler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._energy_since_s = 0.0
        self._last_vehicle_message_s: float | None = None
        self._stop_requested_s: float | None = None
        self._overvoltage_since_s: float | None = None
        self._overcurrent_since_s: float | None = None
        self._implausible_since_s: float | None = None
        self._welded_since_s: float | None = None
        self._dropped_since_s: float | None = None
        self._earth_over_since_s: float | None = None
        self._last_imd_t_s: float | None = None
        self.welded = False
        #: the connection line of this session's standard (CHAdeMO, GB/T), watched during energy transfer
        self.plug_line: PlugLine | None = None
        self._task: asyncio.Task[None] | None = None
        self._attached = False

    # ------------------------------------------------------------------ wiring
    def attach(self) -> None:
        """Register on every sensing role. Called once per connector (listeners are never removed)."""
        if self._attached:
            return
        self._attached = True
        roles = self.roles
        roles.power.add_listener(self.on_power)
        roles.contactors.add_listener(self.on_contactors)
        roles.imd.add_listener(self.on_insulation)
        if roles.temperatures is not None:
            roles.temperatures.add_listener(self.on_temperatures)
        if roles.estop is not None:
            roles.estop.add_listener(self.on_emergency_stop)
        if roles.pilot is not None:
            roles.pilot.add_listener(self.on_pilot)
        if roles.lines is not None:
            roles.lines.add_listener(self.on_lines)

    def bind(self, session_id: str, on_trip: TripHandler, plug_line: PlugLine | None = None) -> None:
        """A session starts: clear a trip whose cause is gone and start the periodic checks. `plug_line`: the
        standard's connection line to watch during energy transfer (the adapter's `plug_line`)."""
        self.session_id = session_id
        self._on_trip = on_trip
        self.plug_line = plug_line
        self.reset()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"supervisor-{self.connector_id}")

    def unbind(self) -> None:
        self.session_id = None
        self._on_trip = None
        self.plug_line = None
        self.energy_active = False
        self.paused = False
        self._stop_requested_s = None
        self._last_vehicle_message_s = None
        self.set_voltage_reference(self.envelope.charger.max_voltage_v)
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def reset(self) -> None:
        """Clear the trip if no persistent fault remains (a failed cable check must not leave the connector
        inoperative once the cause is gone)."""
        if self.persistent_fault() is None:
            self.tripped = False
            self.trip_reason = None
            self.trip_code = self.trip_detail = ""
            self.trip_time_s = None

    def persistent_fault(self) -> str | None:
        """A fault that stays until the hardware changes: e-stop pressed, power module fault, welded contactor."""
        roles = self.roles
        if roles.estop is not None and roles.estop.pressed():
            return EMERGENCY_STOP
        if roles.power.fault() is not None:
            return POWER_MODULE_FAULT
        if self.welded and roles.contactors.feedback_closed():
            return CONTACTOR_WELDED
        return None

    # ------------------------------------------------------------------ written by the power path
    def set_voltage_reference(self, voltage_v: float) -> None:
        self.voltage_reference_v = voltage_v
        self._emergency_v = emergency_overvoltage_v(voltage_v)

    def energy_started(self) -> None:
        self.energy_active = True
        self._energy_since_s = self._now()
        self._last_vehicle_message_s = None

    def energy_stopped(self) -> None:
        self.energy_active = False

    def vehicle_message(self) -> None:
        """The adapter received a vehicle message (rx trace or a current request): the link is alive."""
        self._last_vehicle_message_s = self._now()

    def stop_requested(self) -> None:
        """Arm the hard stop: if the current has not fallen within `vehicle_stop_timeout_s`, trip."""
        if self._stop_requested_s is None:
            self._stop_requested_s = self._now()

    # ------------------------------------------------------------------ the trip
    def trip(self, reason: Reason, code: str, detail: str) -> None:
        """Power off and contactors open *now*, then discharge; then tell the session (once)."""
        roles = self.roles
        power = roles.power
        closed = roles.contactors.commanded_closed()
        if self.tripped and not closed and not power.enabled():
            return  # already safe: re-issuing would only make a simulated plant tick again (and again)
        current_a = power.measured_current_a()
        power.disable()
        roles.contactors.open()
        power.discharge()
        if closed and current_a > self.settings.stop_current_a:
            self.openings_under_load += 1
        self.energy_active = False
        if self.tripped:
            return
        self.tripped = True
        self.trips += 1
        self.trip_reason, self.trip_code, self.trip_detail = reason, code, detail
        now = self._now()
        self.trip_time_s = now
        self._publish(
            FaultRaised(
                connector_id=self.connector_id,
                session_id=self.session_id,
                t_s=now,
                code=code,
                detail=detail,
                tripped=True,
            )
        )
        if self._on_trip is not None:
            self._on_trip(reason, code, detail)

    # ------------------------------------------------------------------ listeners (synchronous, never block)
    def on_power(self) -> None:
        power = self.roles.power
        voltage_v = power.measured_voltage_v()
        current_a = power.measured_current_a()
        if voltage_v > self._emergency_v:
            self.trip(
                Reason.SAFETY_TRIP,
                EMERGENCY_OVERVOLTAGE,
                f"output {voltage_v:.0f} V above the emergency limit {self._emergency_v:.0f} V (IEC 61851-23 "
                f"Table 103, negotiated {self.voltage_reference_v:.0f} V)",
            )
            return
        if current_a > self.hard_current_limit_a:
            self.trip(
                Reason.SAFETY_TRIP,
                HARD_OVERCURRENT,
                f"output {current_a:.0f} A above the hard limit {self.hard_current_limit_a:.0f} A",
            )
            return
        fault = power.fault()
        if fault is not None:
            self.trip(Reason.HARDWARE_FAULT, POWER_MODULE_FAULT, f"power module reports {fault}")
            return
        self._check_durations(self._now(), voltage_v, current_a)

    def on_contactors(self) -> None:
        self._check_contactors(self._now())
        self._check_plausibility(self._now(), self.roles.power.measured_voltage_v())

    def on_insulation(self) -> None:
        sample = self.roles.imd.latest()
        if sample is None or sample.t_s == self._last_imd_t_s:
            return
        self._last_imd_t_s = sample.t_s
        if not self.energy_active:
            return
        now = self._now()
        if sample.device_fault:
            self.trip(Reason.HARDWARE_FAULT, IMD_FAULT, "the insulation monitor reports a device fault")
            return
        voltage_v = self.roles.power.measured_voltage_v()
        in_grace = now - self._energy_since_s < self.settings.insulation_ramp_grace_s
        test_v = max(voltage_v, 1.0)
        threshold = insulation_fault_threshold_ohm(test_v, self.settings)
        if not in_grace and sample.resistance_ohm < threshold:
            self.trip(
                Reason.INSULATION_FAULT,
                INSULATION,
                f"insulation {sample.resistance_ohm / 1000:.0f} kΩ at {voltage_v:.0f} V while charging: below the "
                f"{INSULATION_FAULT} level {threshold / 1000:.0f} kΩ",
            )
            return
        limit_v = earth_voltage_limit_v(self.envelope.charger.max_voltage_v, voltage_v, self.settings)
        if sample.voltage_to_earth_v > limit_v:
            if self._earth_over_since_s is None:
                self._earth_over_since_s = sample.t_s
            elif sample.t_s - self._earth_over_since_s >= self.settings.earth_voltage_confirm_s:
                self.trip(
                    Reason.INSULATION_FAULT,
                    EARTH_VOLTAGE,
                    f"voltage to earth {sample.voltage_to_earth_v:.0f} V above {limit_v:.0f} V (two readings)",
                )
        else:
            self._earth_over_since_s = None

    def on_temperatures(self) -> None:
        temperatures = self.roles.temperatures
        if temperatures is None:
            return
        readings = temperatures.readings_c()
        if not readings:
            return
        name, hottest_c = max(readings.items(), key=lambda item: item[1])
        if hottest_c > self.settings.cable_trip_temperature_c:
            self.trip(
                Reason.SAFETY_TRIP,
                OVER_TEMPERATURE,
                f"{name} at {hottest_c:.0f} °C above {self.settings.cable_trip_temperature_c:.0f} °C",
            )
        self.envelope.set_cable_temperature_c(hottest_c)

    def on_emergency_stop(self) -> None:
        estop = self.roles.estop
        if estop is not None and estop.pressed():
            self.trip(Reason.EMERGENCY_STOP, EMERGENCY_STOP, "emergency stop pressed")

    def on_pilot(self) -> None:
        pilot = self.roles.pilot
        if pilot is None or not self.energy_active:
            return
        state = pilot.state()
        if state not in _ENERGY_CP_STATES:
            detail = f"control pilot went to state {state.value} during energy transfer"
            self.trip(Reason.SAFETY_TRIP, PILOT_LEFT_C, detail)

    def on_lines(self) -> None:
        lines, plug_line = self.roles.lines, self.plug_line
        if lines is None or plug_line is None or not self.energy_active:
            return
        inserted, evidence = plug_line.read(lines)
        if inserted is False:
            self.trip(Reason.SAFETY_TRIP, PLUG_LINE_LOST, f"plug left the inlet during energy transfer: {evidence}")

    # ------------------------------------------------------------------ duration rules
    def _check_durations(self, now: float, voltage_v: float, current_a: float) -> None:
        s = self.settings
        if voltage_v > self.voltage_reference_v + s.voltage_tolerance_v:
            if self._overvoltage_since_s is None:
                self._overvoltage_since_s = now
            elif now - self._overvoltage_since_s >= s.software_overvoltage_delay_s:
                self.trip(
                    Reason.SAFETY_TRIP,
                    SOFTWARE_OVERVOLTAGE,
                    f"output {voltage_v:.0f} V above the negotiated {self.voltage_reference_v:.0f} V for "
                    f"{now - self._overvoltage_since_s:.1f} s",
                )
                return
        else:
            self._overvoltage_since_s = None
        allowed_a, _ = self.envelope.current_limit_a(voltage_v)
        if current_a > s.soft_overcurrent_factor * allowed_a + s.current_tolerance_a:
            if self._overcurrent_since_s is None:
                self._overcurrent_since_s = now
            elif now - self._overcurrent_since_s >= s.soft_overcurrent_delay_s:
                self.trip(
                    Reason.SAFETY_TRIP,
                    SOFT_OVERCURRENT,
                    f"output {current_a:.0f} A above {s.soft_overcurrent_factor:.0%} of the allowed "
                    f"{allowed_a:.0f} A for {now - self._overcurrent_since_s:.1f} s",
                )
                return
        else:
            self._overcurrent_since_s = None
        self._check_plausibility(now, voltage_v)

    def _check_plausibility(self, now: float, voltage_v: float) -> None:
        contactors = self.roles.contactors
        if not contactors.feedback_closed():
            self._implausible_since_s = None
            return
        inlet_v = contactors.vehicle_side_voltage_v()
        if abs(voltage_v - inlet_v) > self.settings.plausibility_voltage_v:
            if self._implausible_since_s is None:
                self._implausible_since_s = now
            elif now - self._implausible_since_s >= self.settings.plausibility_delay_s:
                self.trip(
                    Reason.HARDWARE_FAULT,
                    VOLTAGE_IMPLAUSIBLE,
                    f"output {voltage_v:.0f} V and inlet {inlet_v:.0f} V differ by more than "
                    f"{self.settings.plausibility_voltage_v:.0f} V with the contactors closed",
                )
        else:
            self._implausible_since_s = None

    def _check_contactors(self, now: float) -> None:
        contactors = self.roles.contactors
        commanded, feedback = contactors.commanded_closed(), contactors.feedback_closed()
        timeout_s = self.settings.contactor_feedback_timeout_s
        if not commanded and feedback:
            if self._welded_since_s is None:
                self._welded_since_s = now
            elif now - self._welded_since_s >= timeout_s:
                self.welded = True
                self.trip(
                    Reason.HARDWARE_FAULT,
                    CONTACTOR_WELDED,
                    f"mirror contact still closed {now - self._welded_since_s:.1f} s after the open command",
                )
        else:
            self._welded_since_s = None
            if not feedback:
                self.welded = False
        if commanded and not feedback and self.energy_active:
            if self._dropped_since_s is None:
                self._dropped_since_s = now
            elif now - self._dropped_since_s >= timeout_s:
                self.trip(Reason.HARDWARE_FAULT, CONTACTOR_DROPPED, "a contactor opened on its own during charging")
        else:
            self._dropped_since_s = None

    def tick(self) -> None:
        """The periodic half of the duration rules (a silent sensor must not hide a breach)."""
        now = self._now()
        power = self.roles.power
        voltage_v, current_a = power.measured_voltage_v(), power.measured_current_a()
        self._check_durations(now, voltage_v, current_a)
        self._check_contactors(now)
        s = self.settings
        if (
            self.energy_active
            and not self.paused
            and self._stop_requested_s is None
            and now - max(self._energy_since_s, self._last_vehicle_message_s or self._energy_since_s)
            > s.vehicle_message_timeout_s
        ):
            self.trip(
                Reason.COMMUNICATION_LOST,
                VEHICLE_SILENT,
                f"no vehicle message for more than {s.vehicle_message_timeout_s:.1f} s during energy transfer",
            )
        if (
            self._stop_requested_s is not None
            and now - self._stop_requested_s >= s.vehicle_stop_timeout_s
            and current_a > s.stop_current_a
        ):
            self.trip(
                Reason.SAFETY_TRIP,
                VEHICLE_NOT_STOPPED,
                f"current still {current_a:.0f} A {s.vehicle_stop_timeout_s:.0f} s after the stop request",
            )

    async def _run(self) -> None:
        period_s = self.settings.control_period_s
        while True:
            await asyncio.sleep(period_s)
            try:
                self.tick()
            except Exception as exc:  # a broken sensor read must not stop the checks: make safe and say so
                if not self.tripped:
                    self.trip(Reason.HARDWARE_FAULT, "sensor_read_failed", f"a measurement could not be read: {exc!r}")
                log.error("supervisor tick failed", connector_id=self.connector_id, error=repr(exc))

    def _now(self) -> float:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop.time()
