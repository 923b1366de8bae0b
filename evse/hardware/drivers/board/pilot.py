"""`ControlPilot` on a custom board: the CP PWM from a Linux PWM channel (sysfs `period`/`duty_cycle`/`enable`, in
ns), the CP levels and PP from IIO ADC channels.

CP states from the high level (IEC 61851-1 Table A.4 nominal 12/9/6/3/0/−12 V; boundaries halfway between): a
low level above `DIODE_FAULT_LOW_V` while the PWM oscillates means the vehicle's diode is missing (Table A.4
requires −12 V on the negative half wave). PP: R = R_pullup · V / (V_ref − V) (the cable's coding resistor in the
divider); None (no plug) above `pp_open_fraction` of V_ref.
"""

from __future__ import annotations

from pathlib import Path

from evse.hardware.drivers.board.iio import IioError, IioVoltage
from evse.hardware.drivers.board.poller import Poller
from evse.hardware.drivers.settings import SysfsPilotSettings
from evse.hardware.roles import CpState, Listener

#: IEC 61851-1 §A.2.2: 1 kHz PWM
PWM_PERIOD_NS = 1_000_000
#: state boundaries on the CP high level (V), halfway between the nominal levels of Table A.4
STATE_THRESHOLDS_V: tuple[tuple[float, CpState], ...] = (
    (10.5, CpState.A),
    (7.5, CpState.B),
    (4.5, CpState.C),
    (1.5, CpState.D),
    (-1.5, CpState.E),
)
#: the negative half wave must reach about −12 V; above this the vehicle's diode is missing
DIODE_FAULT_LOW_V = -10.0


class SysfsPwm:
    def __init__(self, chip: str, channel: int) -> None:
        self.path = Path(chip) / f"pwm{channel}"
        if not self.path.exists():
            export = Path(chip) / "export"
            try:
                export.write_text(str(channel))
            except OSError as exc:
                raise IioError(
                    f"PWM channel {channel} of {chip} cannot be exported ({exc}); check the chip path"
                ) from exc
        self._write("period", PWM_PERIOD_NS)

    def _write(self, name: str, value: int) -> None:
        (self.path / name).write_text(f"{value}\n")

    def set_duty(self, fraction: float) -> None:
        self._write("duty_cycle", round(PWM_PERIOD_NS * min(max(fraction, 0.0), 1.0)))
        self._write("enable", 1)


class SysfsPilot:
    def __init__(
        self,
        settings: SysfsPilotSettings,
        pwm: SysfsPwm,
        cp_high: IioVoltage,
        cp_low: IioVoltage | None = None,
        pp: IioVoltage | None = None,
    ) -> None:
        self.settings = settings
        self.pwm = pwm
        self.cp_high, self.cp_low, self.pp = cp_high, cp_low, pp
        self._duty_pct: float | None = None
        self._state = CpState.E
        self._high_v = 0.0
        self._pp_ohm: float | None = None
        self.set_pwm(None)
        self._tick()
        self._poller = Poller(self._tick, settings.poll_interval_s, "sysfs-pilot")

    # ---- ControlPilot
    def state(self) -> CpState:
        return self._state

    def high_voltage_v(self) -> float:
        return self._high_v

    def set_pwm(self, duty_pct: float | None) -> None:
        self._duty_pct = duty_pct
        self.pwm.set_duty(1.0 if duty_pct is None else duty_pct / 100.0)  # 100 % = steady +12 V

    def set_state_f(self) -> None:
        self._duty_pct = None
        self.pwm.set_duty(0.0)  # 0 % = steady −12 V

    def proximity_ohm(self) -> float | None:
        return self._pp_ohm

    def add_listener(self, listener: Listener) -> None:
        self._poller.listeners.append(listener)

    def shutdown(self) -> None:
        self._poller.close()

    # ---- sensing
    def _cp_volts(self, adc: IioVoltage) -> float:
        s = self.settings
        return (adc.voltage_v() - s.cp_adc_offset_v) * s.cp_gain

    def _tick(self) -> bool:
        try:
            high = self._cp_volts(self.cp_high)
            low = self._cp_volts(self.cp_low) if self.cp_low is not None else None
            pp_v = self.pp.voltage_v() if self.pp is not None else None
        except IioError:
            high, low, pp_v = 0.0, None, None  # an unreadable CP reads as state E: no energy is ever allowed
        state = next((s for limit, s in STATE_THRESHOLDS_V if high > limit), CpState.F)
        oscillating = self._duty_pct is not None and 0 < self._duty_pct < 100
        if oscillating and low is not None and low > DIODE_FAULT_LOW_V and state in (CpState.B, CpState.C, CpState.D):
            state = CpState.DIODE_FAULT
        pp_ohm = self._pp(pp_v)
        changed = state != self._state or pp_ohm != self._pp_ohm or abs(high - self._high_v) > 0.05
        self._state, self._high_v, self._pp_ohm = state, high, pp_ohm
        return changed

    def _pp(self, volts: float | None) -> float | None:
        s = self.settings
        if volts is None or volts >= s.pp_open_fraction * s.pp_reference_v:
            return None
        return s.pp_pullup_ohm * max(volts, 0.0) / (s.pp_reference_v - volts)
