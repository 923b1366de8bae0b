"""Our hardware roles on one connector of the board: the views the station uses, all sharing one `BoardLink`.

Safety semantics (docs/hardware.md):
* Pilot: a silent board, a board that has not reported the CP yet, or its `cp_signal_fault` flag read as state E
  (no energy); its `diode_fault` flag is `DIODE_FAULT`.
* Contactors: the feedback is the board's coil report (`set_coil_state_response`). A report that does not follow
  a command within `feedback_timeout_s` is `contactor_feedback_timeout`. While the board is silent the coil
  state is unknown, so it reads the unsafe way for each command: open while commanded closed (the supervisor
  trips: contactor dropped), closed while commanded open after a closed report (no new session on a board that
  cannot confirm its contactors opened).
* Lock: `locked()` is the board's lock report; a report that does not follow within `feedback_timeout_s`, or the
  board's `connector_lock_failed` flag, is a fault.
* Any role: a reset the MCU did on its own shows as `board_reset` until the role is commanded again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from evse.hardware.drivers.board.poller import FeedbackWatch
from evse.hardware.drivers.yeti import messages as m
from evse.hardware.drivers.yeti.link import BOARD_RESET, COMMUNICATION_LOST, LOCK_TYPES, BoardLink, ConnectorState
from evse.hardware.drivers.yeti.settings import (
    YetiContactorsSettings,
    YetiLockSettings,
    YetiTemperaturesSettings,
)
from evse.hardware.roles import CpState, Listener

CONTACTOR_FEEDBACK_TIMEOUT = "contactor_feedback_timeout"
LOCK_FEEDBACK_TIMEOUT = "lock_feedback_timeout"
LOCK_FAILED = "connector_lock_failed"
CP_SIGNAL_FAULT = "cp_signal_fault"
RCD_TRIGGERED = "rcd_triggered"
ADC_FAULT = "adc_unreadable"

_CP = {
    m.CpState.STATE_A: CpState.A,
    m.CpState.STATE_B: CpState.B,
    m.CpState.STATE_C: CpState.C,
    m.CpState.STATE_D: CpState.D,
    m.CpState.STATE_E: CpState.E,
    m.CpState.STATE_F: CpState.F,
}
#: PP coding resistors of IEC 61851-1 Annex B (simplified PP circuit): cable rating → PP–PE resistance
PP_OHM = {
    m.PpState.STATE_13A: 1500.0,
    m.PpState.STATE_20A: 680.0,
    m.PpState.STATE_32A: 220.0,
    m.PpState.STATE_70A: 100.0,
}
_COILS = {"dc1": m.CoilType.COIL_DC1, "dc2": m.CoilType.COIL_DC2, "dc3": m.CoilType.COIL_DC3, "ac": m.CoilType.COIL_AC}


class _ConnectorRole:
    """What every role of one board connector shares: the link, its state, the reset acknowledgement."""

    topic = ""

    def __init__(self, link: BoardLink, connector: int) -> None:
        self.link = link
        self.connector = connector
        self._reset_seen = link.reset_generation
        self._loop = asyncio.get_running_loop()

    @property
    def board(self) -> ConnectorState:
        return self.link.connectors[self.connector]

    def add_listener(self, listener: Listener) -> None:
        self.link.add_listener(self.connector, self.topic, listener)

    def _commanded(self) -> None:
        self._reset_seen = self.link.reset_generation

    def _link_fault(self) -> str | None:
        if not self.link.alive:
            return COMMUNICATION_LOST
        if self.link.reset_generation != self._reset_seen:
            return BOARD_RESET
        return None

    def shutdown(self) -> None:
        """Stop the board link (every role of the board shares it: the first shutdown ends it for all)."""
        self.link.shutdown()


class YetiPilot(_ConnectorRole):
    topic = "pilot"

    def state(self) -> CpState:
        board = self.board
        if not self.link.alive or board.cp_state is None or "cp_signal_fault" in board.errors:
            return CpState.E
        if "diode_fault" in board.errors:
            return CpState.DIODE_FAULT
        return _CP[board.cp_state]

    def high_voltage_v(self) -> float:
        return self.board.cp_high_v if self.link.alive else 0.0

    def low_voltage_v(self) -> float:
        return self.board.cp_low_v if self.link.alive else 0.0

    def set_pwm(self, duty_pct: float | None) -> None:
        if duty_pct is None:
            duty_e2 = m.PWM_STEADY_X1
        else:
            duty_e2 = round(min(max(duty_pct, 0.0), 100.0) * 100)
        self._commanded()
        self.link.set_pwm(self.connector, duty_e2)

    def set_state_f(self) -> None:
        self._commanded()
        self.link.set_pwm(self.connector, m.PWM_STEADY_F)

    def proximity_ohm(self) -> float | None:
        """The nominal resistor of the coding the board decoded; None with no plug, an invalid coding
        (`STATE_FAULT`) or a silent board."""
        pp = self.board.pp_state
        if not self.link.alive or pp is None:
            return None
        return PP_OHM.get(pp)

    def fault(self) -> str | None:
        errors = self.board.errors
        if (fault := self._link_fault()) is not None:
            return fault
        if "cp_signal_fault" in errors:
            return CP_SIGNAL_FAULT
        if "rcd_triggered" in errors or "rcd_selftest_failed" in errors:
            return RCD_TRIGGERED
        return None


class YetiContactors(_ConnectorRole):
    topic = "contactors"

    def __init__(
        self, link: BoardLink, settings: YetiContactorsSettings, vehicle_voltage_v: Callable[[], float]
    ) -> None:
        super().__init__(link, settings.connector)
        self.settings = settings
        self.coil = _COILS[settings.coil]
        self._vehicle_voltage_v = vehicle_voltage_v
        self._voltage_v = 0.0
        self._adc_fault = False
        self._watch = FeedbackWatch(settings.feedback_timeout_s)
        self._deadline: asyncio.TimerHandle | None = None
        link.add_listener(self.connector, self.topic, self._check)

    def close(self) -> None:
        self._command(True)

    def open(self) -> None:
        self._command(False)

    def commanded_closed(self) -> bool:
        return self._watch.commanded

    def _reported_closed(self) -> bool:
        return self.board.coils.get(self.coil, False)

    def feedback_closed(self) -> bool:
        reported = self._reported_closed()
        if self.link.alive:
            return reported
        return reported and not self._watch.commanded

    def vehicle_side_voltage_v(self) -> float:
        try:
            self._voltage_v = self._vehicle_voltage_v()
            self._adc_fault = False
        except Exception:  # an unreadable ADC (IioError, OSError): keep the last reading, report the fault
            self._adc_fault = True
        return self._voltage_v

    def fault(self) -> str | None:
        if (fault := self._link_fault()) is not None:
            return fault
        if self._watch.timed_out:
            return CONTACTOR_FEEDBACK_TIMEOUT
        return ADC_FAULT if self._adc_fault else None

    def _command(self, closed: bool) -> None:
        self._commanded()
        self._watch.command(closed, self._loop.time())
        self.link.set_coil(self.connector, self.coil, closed)
        if self._deadline is not None:
            self._deadline.cancel()
        # just past the timeout: FeedbackWatch counts a mismatch only once the timeout is exceeded
        self._deadline = self._loop.call_later(self.settings.feedback_timeout_s * 1.001, self._check)

    def _check(self) -> None:
        if self._watch.check(self._reported_closed(), self._loop.time()):
            self.link.notify(self.connector, self.topic)


class YetiLock(_ConnectorRole):
    topic = "lock"

    def __init__(self, link: BoardLink, settings: YetiLockSettings) -> None:
        super().__init__(link, settings.connector)
        self.settings = settings
        self._watch = FeedbackWatch(settings.feedback_timeout_s)
        self._deadline: asyncio.TimerHandle | None = None
        link.lock_types[self.connector] = LOCK_TYPES[settings.motor_lock_type]
        link.add_listener(self.connector, self.topic, self._check)

    def lock(self) -> None:
        self._command(True)

    def unlock(self) -> None:
        self._command(False)

    def locked(self) -> bool:
        return self.link.alive and self.board.lock_state == m.LockState.LOCKED

    def fault(self) -> str | None:
        if (fault := self._link_fault()) is not None:
            return fault
        if "connector_lock_failed" in self.board.errors:
            return LOCK_FAILED
        return LOCK_FEEDBACK_TIMEOUT if self._watch.timed_out else None

    def _command(self, locked: bool) -> None:
        self._commanded()
        self._watch.command(locked, self._loop.time())
        self.link.set_lock(self.connector, locked)
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self._loop.call_later(self.settings.feedback_timeout_s * 1.001, self._check)

    def _check(self) -> None:
        state = self.board.lock_state
        if state == m.LockState.UNDEFINED:
            # neither end position reported: it counts as not following the command, whichever it is
            feedback = not self._watch.commanded
        else:
            feedback = state == m.LockState.LOCKED
        if self._watch.check(feedback, self._loop.time()):
            self.link.notify(self.connector, self.topic)


class YetiTemperatures(_ConnectorRole):
    """The board's temperature channels (board-level: every connector's view sees all of them)."""

    topic = "temperatures"

    def __init__(self, link: BoardLink, settings: YetiTemperaturesSettings, connector: int = 1) -> None:
        super().__init__(link, connector)
        self.settings = settings
        self._full_scale = (1 << settings.adc_bits) - 1

    def readings_c(self) -> dict[str, float]:
        if not self.link.alive:
            return {}
        s = self.settings
        readings: dict[str, float] = {}
        for name, raw in zip(s.sensors, self.link.temperatures_raw, strict=False):
            if name:
                volts = raw / self._full_scale * s.adc_reference_v
                readings[name] = s.slope_c_per_v * volts + s.offset_c
        return readings

    def fault(self) -> str | None:
        return self._link_fault()
