"""A Yeti-family board's MCU (phyVERSO message set) on the device end of a byte transport: a serial port on a
`PtyLink` (`SerialTransport(link.device_port, …)`) or an in-process pipe end.

Like the firmware it runs a main cycle (`cycle_s`, 50 ms): CP, PP, coil and lock states go out when they change,
telemetry every 8th cycle, a KeepAlive every `keep_alive_s`. Commands: PWM (0 = F: the CP reads F), coil requests
(the coil follows after `relay_delay_s`), lock / unlock (the motor takes `lock_delay_s`), reset (reported as a USER
reset, then the MCU asks for its configuration), keep-alive, boot configuration.

Faults: `silent` (sends nothing: keep-alive loss), `corrupt` (every frame it sends has a flipped bit: CRC error),
`relay_feedback_missing` (coils switch but are never reported), `lock_stuck` (the motor does not move and the
`connector_lock_failed` flag is raised), `set_errors(connector, **flags)`, `watchdog_reset()` (a reset nobody
asked for). Set the vehicle side with `set_cp(connector, state, high_v)` and `set_pp(connector, state)`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from evse.hardware.drivers.yeti import messages as m
from evse.hardware.drivers.yeti.framing import FrameDecoder, encode_frame
from evse.hardware.drivers.yeti.link import CONNECTORS, ERROR_FLAGS, Transport

#: the firmware's main loop period and its telemetry divider (ControlPilot task: osDelay(50), every 8th cycle)
CYCLE_S = 0.05
TELEMETRY_EVERY_CYCLES = 8
#: CP high level of each state, as the board's ADC would read it (IEC 61851-1 nominal values)
CP_NOMINAL_V = {
    m.CpState.STATE_A: 12.0,
    m.CpState.STATE_B: 9.0,
    m.CpState.STATE_C: 6.0,
    m.CpState.STATE_D: 3.0,
    m.CpState.STATE_E: 0.0,
    m.CpState.STATE_F: -12.0,
}


@dataclass
class EmulatedConnector:
    vehicle_state: m.CpState = m.CpState.STATE_A
    cp_high_v: float = 12.0
    pp_state: m.PpState = m.PpState.STATE_NC
    pwm_e2: int = m.PWM_STEADY_F  # the firmware starts in F
    coils: dict[m.CoilType, bool] = field(default_factory=dict)
    lock_state: m.LockState = m.LockState.UNLOCKED
    errors: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(ERROR_FLAGS, False))
    # last reported, to send changes only
    sent: dict[str, Any] = field(default_factory=dict)


class YetiBoardEmulator:
    def __init__(
        self,
        transport: Transport,
        *,
        keep_alive_s: float = 1.0,
        relay_delay_s: float = 0.03,
        lock_delay_s: float = 0.3,
        cycle_s: float = CYCLE_S,
        cp_voltage_unit_v: float = 0.001,
        firmware_version: str = "emulated-1.0",
    ) -> None:
        self.transport = transport
        self.keep_alive_s = keep_alive_s
        self.relay_delay_s = relay_delay_s
        self.lock_delay_s = lock_delay_s
        self.cycle_s = cycle_s
        self.cp_voltage_unit_v = cp_voltage_unit_v
        self.firmware_version = firmware_version
        self.connectors = {n: EmulatedConnector() for n in CONNECTORS}
        self.temperatures_raw: list[int] = []
        self.silent = False
        self.corrupt = False
        self.relay_feedback_missing = False
        self.lock_stuck = False
        self.decoder = FrameDecoder()
        self.received: list[tuple[str | None, int]] = []
        self.keep_alives = 0
        self.config: Any = None
        self._loop = asyncio.get_running_loop()
        transport.set_receiver(self._received)
        self._task = self._loop.create_task(self._run(), name="yeti-emulator")

    def close(self) -> None:
        self._task.cancel()
        self.transport.close()

    # ------------------------------------------------------------------ the vehicle side and faults
    def set_cp(self, connector: int, state: m.CpState, high_v: float | None = None) -> None:
        c = self.connectors[connector]
        c.vehicle_state = state
        c.cp_high_v = CP_NOMINAL_V[state] if high_v is None else high_v

    def set_pp(self, connector: int, state: m.PpState) -> None:
        self.connectors[connector].pp_state = state

    def set_errors(self, connector: int, **flags: bool) -> None:
        self.connectors[connector].errors.update(flags)

    def watchdog_reset(self) -> None:
        """The MCU restarts on its own: outputs off, a reset report, then it asks for its configuration."""
        self._restart(m.ResetReason.WATCHDOG)

    def commands(self, payload: str) -> int:
        return sum(1 for which, _ in self.received if which == payload)

    # ------------------------------------------------------------------ hooks for a plant-backed board
    def coil_closed(self, connector: int, coil: m.CoilType) -> bool:
        return self.connectors[connector].coils.get(coil, False)

    def lock_reading(self, connector: int) -> m.LockState:
        return self.connectors[connector].lock_state

    def cp_reading(self, connector: int) -> tuple[m.CpState, float]:
        """(state, CP high level) as the firmware's CP sensing reads it."""
        c = self.connectors[connector]
        if c.pwm_e2 == m.PWM_STEADY_F:
            return m.CpState.STATE_F, -12.0
        return c.vehicle_state, c.cp_high_v

    def pp_reading(self, connector: int) -> m.PpState:
        return self.connectors[connector].pp_state

    def apply_coil(self, connector: int, coil: m.CoilType, on: bool) -> None:
        self.connectors[connector].coils[coil] = on

    def apply_lock(self, connector: int, locked: bool) -> None:
        c = self.connectors[connector]
        if self.lock_stuck:
            c.errors["connector_lock_failed"] = True
            return
        c.lock_state = m.LockState.LOCKED if locked else m.LockState.UNLOCKED

    def apply_pwm(self, connector: int, duty_e2: int) -> None:
        self.connectors[connector].pwm_e2 = duty_e2

    # ------------------------------------------------------------------ wire
    def send(self, payload: str, value: Any, connector: int = m.BOARD) -> bool:
        """Send one message; False when a fault kept it from arriving intact (it is then sent again as a change)."""
        if self.silent:
            return False
        frame = bytearray(encode_frame(m.to_host(payload, value, connector)))
        if self.corrupt:
            frame[len(frame) // 2] ^= 0x01 if frame[len(frame) // 2] not in (0x00, 0x01) else 0x02
        self.transport.write(bytes(frame))
        return not self.corrupt

    def _received(self, chunk: bytes) -> None:
        for data in self.decoder.feed(chunk):
            try:
                which, value, connector = m.parse_to_mcu(data)
            except m.MessageError:
                continue
            self.received.append((which, connector))
            self._command(which, value, connector)

    def _command(self, which: str | None, value: Any, connector: int) -> None:
        if which == "keep_alive":
            self.keep_alives += 1
        elif which == "reset":
            self._restart(m.ResetReason.USER)
        elif which == "config_response":
            self.config = value
        elif connector not in self.connectors:
            return
        elif which == "pwm_duty_cycle":
            self.apply_pwm(connector, value)
        elif which == "set_coil_state_request":
            coil, on = m.CoilType(value.coil_type), value.coil_state
            self._loop.call_later(self.relay_delay_s, self.apply_coil, connector, coil, on)
        elif which == "connector_lock":
            self._loop.call_later(self.lock_delay_s, self.apply_lock, connector, value)

    def _restart(self, reason: m.ResetReason) -> None:
        for n in CONNECTORS:
            c = self.connectors[n]
            c.pwm_e2 = m.PWM_STEADY_F
            for coil in list(c.coils):
                self.apply_coil(n, coil, False)
            c.sent.clear()
        self.send("reset", reason)
        self.send("config_request", m.new("BootConfigRequest"))

    async def _run(self) -> None:
        cycle = 0
        next_keep_alive = self._loop.time()
        while True:
            now = self._loop.time()
            if now >= next_keep_alive:
                next_keep_alive = now + self.keep_alive_s
                self.send("keep_alive", m.new("KeepAlive", sw_version_string=self.firmware_version, hw_type=3))
            telemetry = cycle % TELEMETRY_EVERY_CYCLES == 0
            for n in CONNECTORS:
                self._report(n, telemetry)
            if telemetry and self.temperatures_raw:
                self.send("temperature", m.new("Temperature", temp=self.temperatures_raw))
            cycle += 1
            await asyncio.sleep(self.cycle_s)

    def _report(self, n: int, telemetry: bool) -> None:
        c = self.connectors[n]
        state, high_v = self.cp_reading(n)
        if telemetry:
            unit = self.cp_voltage_unit_v
            low_v = -12.0 if c.pwm_e2 < m.PWM_STEADY_X1 else high_v
            hi, lo = round(high_v / unit) & 0xFFFFFFFF, round(low_v / unit) & 0xFFFFFFFF
            self.send("telemetry", m.new("Telemetry", cp_voltage_hi=hi, cp_voltage_lo=lo), n)
        self._changed(c, n, "cp_state", state)
        self._changed(c, n, "pp_state", self.pp_reading(n))
        self._changed(c, n, "lock_state", self.lock_reading(n))
        errors = tuple(sorted(c.errors.items()))
        if c.sent.get("errors") != errors and self.send("error_flags", m.new("ErrorFlags", **c.errors), n):
            c.sent["errors"] = errors
        for coil in list(c.coils):
            closed = self.coil_closed(n, coil)
            key = f"coil{int(coil)}"
            if c.sent.get(key) == closed or self.relay_feedback_missing:
                continue
            if self.send("set_coil_state_response", m.new("CoilState", coil_type=coil, coil_state=closed), n):
                c.sent[key] = closed

    def _changed(self, c: EmulatedConnector, n: int, payload: str, value: Any) -> None:
        if c.sent.get(payload) != value and self.send(payload, value, n):
            c.sent[payload] = value
