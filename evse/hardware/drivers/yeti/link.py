"""The link to the board's MCU: frames in and out, the board's state per connector, and the link supervision.

* Every message the board sends updates the state of its connector (`connector` field: 1, 2; 0 = the board) and
  tells that connector's listeners of the topic it concerns (`pilot`, `contactors`, `lock`, `temperatures`).
* We send a KeepAlive every `keep_alive_interval_s`. The board is *alive* while valid frames arrive; none for
  `keep_alive_timeout_s` is the fault `board_communication_lost` (every topic is told). When frames come back, the
  last commands are sent again, so the board's reports (coil, lock) are fresh.
* Start: with `reset_on_start` we soft-reset the MCU (its outputs go off) and wait for its reset report; a reset
  report we did not ask for is a spurious reset (watchdog, brown-out): `reset_generation` counts up and the roles
  show `board_reset` until they are commanded again. The coils of a reset MCU are off: their state reads open.
* The MCU asks for its boot configuration (`config_request`); we answer with the hardware revision and the lock
  types of the lock roles.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Protocol, TypeVar

from evse.hardware.drivers.yeti import messages as m
from evse.hardware.drivers.yeti.framing import FrameDecoder, encode_frame
from evse.hardware.drivers.yeti.settings import YetiBoardSettings

log = logging.getLogger(__name__)
E = TypeVar("E", bound=IntEnum)
D = TypeVar("D")

COMMUNICATION_LOST = "board_communication_lost"
BOARD_RESET = "board_reset"

TOPICS = ("pilot", "contactors", "lock", "temperatures")
#: the board's connectors (`EverestToMcu.connector`)
CONNECTORS = (1, 2)

_HW_REV = {
    "unknown": m.HardwareRevision.HW_REV_UNKNOWN,
    "A": m.HardwareRevision.HW_REV_A,
    "B": m.HardwareRevision.HW_REV_B,
}
LOCK_TYPES = {
    "none": m.MotorLockType.MOTOR_LOCK_UNKNOWN,
    "qwello": m.MotorLockType.MOTOR_LOCK_QWELLO,
    "valeo_hvac": m.MotorLockType.MOTOR_LOCK_DEBUG_VALEO_HVAC,
}
ERROR_FLAGS = (
    "diode_fault",
    "rcd_selftest_failed",
    "rcd_triggered",
    "ventilation_not_available",
    "connector_lock_failed",
    "cp_signal_fault",
)


class Transport(Protocol):
    def set_receiver(self, receiver: Callable[[bytes], None]) -> None: ...
    def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...


@dataclass
class ConnectorState:
    """What the board last reported for one connector (None: not reported yet) and what we last commanded."""

    cp_state: m.CpState | None = None
    cp_high_v: float = 0.0
    cp_low_v: float = 0.0
    pp_state: m.PpState | None = None
    coils: dict[m.CoilType, bool] = field(default_factory=dict)
    lock_state: m.LockState = m.LockState.UNDEFINED
    errors: frozenset[str] = frozenset()
    # our last commands, sent again when the link comes back
    pwm_e2: int | None = None
    coil_commands: dict[m.CoilType, bool] = field(default_factory=dict)
    lock_command: bool | None = None


class BoardLink:
    def __init__(self, transport: Transport, settings: YetiBoardSettings) -> None:
        self.transport = transport
        self.settings = settings
        self.decoder = FrameDecoder()
        self.connectors = {n: ConnectorState() for n in CONNECTORS}
        self.temperatures_raw: tuple[int, ...] = ()
        self.fans: dict[int, Any] = {}
        self.firmware_version = ""
        self.hardware_type = self.hardware_revision = 0
        self.alive = False
        self.reset_generation = 0
        self.spurious_resets = 0
        self.last_reset_reason: m.ResetReason | None = None
        self.config_requests = 0
        #: motor lock type per connector, set by the lock roles, sent in the boot configuration
        self.lock_types: dict[int, m.MotorLockType] = {}
        self.ignored_messages = 0
        self._listeners: dict[tuple[int, str], list[Callable[[], None]]] = {}
        self._loop = asyncio.get_running_loop()
        self._last_frame_s = self._loop.time()
        self._reset_expected: asyncio.Future[None] | None = None
        self._silence_logged = False
        transport.set_receiver(self._received)
        self._task = self._loop.create_task(self._run(), name=f"yeti-board-{settings.port}")

    # ------------------------------------------------------------------ listeners
    def add_listener(self, connector: int, topic: str, listener: Callable[[], None]) -> None:
        self._listeners.setdefault((connector, topic), []).append(listener)

    def notify(self, connector: int, topic: str) -> None:
        for listener in list(self._listeners.get((connector, topic), ())):
            try:
                listener()
            except Exception:  # a failing listener must not stop the link (the other listeners, the next frames)
                log.exception("listener of the control board's %s (connector %d) failed", topic, connector)

    def _notify_all(self) -> None:
        for connector, topic in list(self._listeners):
            self.notify(connector, topic)

    # ------------------------------------------------------------------ commands (sync, non-blocking)
    def set_pwm(self, connector: int, duty_e2: int) -> None:
        """CP generator: duty in 0.01 % (0 = steady −12 V, state F; 10000 = steady +12 V)."""
        self.connectors[connector].pwm_e2 = duty_e2
        self._send("pwm_duty_cycle", duty_e2, connector)

    def set_coil(self, connector: int, coil: m.CoilType, on: bool) -> None:
        self.connectors[connector].coil_commands[coil] = on
        self._send("set_coil_state_request", m.new("CoilState", coil_type=coil, coil_state=on), connector)

    def set_lock(self, connector: int, locked: bool) -> None:
        self.connectors[connector].lock_command = locked
        self._send("connector_lock", locked, connector)

    def reset(self) -> asyncio.Future[None]:
        """Soft-reset the MCU; the future completes when the board reports its reset."""
        self._reset_expected = self._loop.create_future()
        self._send("reset", True)
        return self._reset_expected

    def keep_alive(self) -> None:
        self._send("keep_alive", m.new("KeepAlive", sw_version_string="evse"))

    def shutdown(self) -> None:
        self._task.cancel()
        self.transport.close()

    def _send(self, payload: str, value: Any, connector: int = m.BOARD) -> None:
        self.transport.write(encode_frame(m.to_mcu(payload, value, connector)))

    # ------------------------------------------------------------------ supervision
    async def _run(self) -> None:
        s = self.settings
        if s.reset_on_start:
            try:
                await asyncio.wait_for(asyncio.shield(self.reset()), s.reset_timeout_s)
            except TimeoutError:
                self._reset_expected = None  # a reset report after this is the MCU restarting on its own
            for _ in range(3):  # as the EVerest driver does: a few frames so both COBS decoders are in step
                self.keep_alive()
        while True:
            self.keep_alive()
            self._check_alive()
            await asyncio.sleep(min(s.keep_alive_interval_s, s.keep_alive_timeout_s / 4))

    def _check_alive(self) -> None:
        if self._loop.time() - self._last_frame_s <= self.settings.keep_alive_timeout_s:
            return
        if self.alive or not self._silence_logged:  # a board that never answered is worth one line too
            log.warning(
                "control board on %s silent for more than %.1f s (%d bad frames so far)",
                self.settings.port,
                self.settings.keep_alive_timeout_s,
                self.decoder.bad_frames,
            )
            self._silence_logged = True
        if self.alive:
            self.alive = False
            self._notify_all()

    # ------------------------------------------------------------------ from the board
    def _received(self, chunk: bytes) -> None:
        for data in self.decoder.feed(chunk):
            try:
                which, value, connector = m.parse_from_mcu(data)
            except m.MessageError:
                self.decoder.bad_frames += 1
                continue
            self._last_frame_s = self._loop.time()
            if not self.alive:
                self.alive = True
                self._silence_logged = False
                self._resend()
                self._notify_all()
            self._dispatch(which, value, connector)

    def _resend(self) -> None:
        for n, state in self.connectors.items():
            if state.pwm_e2 is not None:
                self._send("pwm_duty_cycle", state.pwm_e2, n)
            for coil, on in state.coil_commands.items():
                self._send("set_coil_state_request", m.new("CoilState", coil_type=coil, coil_state=on), n)
            if state.lock_command is not None:
                self._send("connector_lock", state.lock_command, n)

    def _dispatch(self, which: str | None, value: Any, connector: int) -> None:
        if which == "keep_alive":
            self.firmware_version = value.sw_version_string
            self.hardware_type, self.hardware_revision = value.hw_type, value.hw_revision
        elif which == "reset":
            self._board_reset(_enum(m.ResetReason, value, m.ResetReason.USER))
        elif which == "config_request":
            self.config_requests += 1
            self._send_config()
        elif which == "temperature":
            self.temperatures_raw = tuple(value.temp)
            for n in CONNECTORS:
                self.notify(n, "temperatures")
        elif which == "fan_state":
            self.fans[value.fan_id] = value
        elif connector in self.connectors and which is not None:
            self._connector_message(self.connectors[connector], connector, which, value)
        else:
            self.ignored_messages += 1

    def _connector_message(self, state: ConnectorState, connector: int, which: str, value: Any) -> None:
        if which == "cp_state":
            state.cp_state = _enum(m.CpState, value, None)
            self.notify(connector, "pilot")
        elif which == "pp_state":
            state.pp_state = _enum(m.PpState, value, m.PpState.STATE_FAULT)
            self.notify(connector, "pilot")
        elif which == "telemetry":
            scale = self.settings.cp_voltage_scale_v
            state.cp_high_v = _signed(value.cp_voltage_hi) * scale
            state.cp_low_v = _signed(value.cp_voltage_lo) * scale
            self.notify(connector, "pilot")
        elif which == "set_coil_state_response":
            state.coils[_enum(m.CoilType, value.coil_type, m.CoilType.COIL_UNKNOWN)] = value.coil_state
            self.notify(connector, "contactors")
        elif which == "lock_state":
            state.lock_state = _enum(m.LockState, value, m.LockState.UNDEFINED)
            self.notify(connector, "lock")
        elif which == "error_flags":
            state.errors = frozenset(name for name in ERROR_FLAGS if getattr(value, name))
            for topic in TOPICS:
                self.notify(connector, topic)
        else:
            self.ignored_messages += 1

    def _board_reset(self, reason: m.ResetReason) -> None:
        self.last_reset_reason = reason
        if self._reset_expected is not None and not self._reset_expected.done():
            self._reset_expected.set_result(None)
            return
        # not asked for: the MCU restarted on its own (watchdog) with its outputs off
        self.spurious_resets += 1
        self.reset_generation += 1
        log.warning("control board on %s reset itself (%s)", self.settings.port, reason.name)
        for state in self.connectors.values():
            state.coils = dict.fromkeys(state.coils, False)
            state.lock_state = m.LockState.UNDEFINED
        self._notify_all()

    def _send_config(self) -> None:
        unknown = m.MotorLockType.MOTOR_LOCK_UNKNOWN
        config = m.new(
            "BootConfigResponse",
            hw_rev=_HW_REV[self.settings.hardware_revision],
            lock_1=m.new("ConfigMotorLockType", type=self.lock_types.get(1, unknown)),
            lock_2=m.new("ConfigMotorLockType", type=self.lock_types.get(2, unknown)),
        )
        self._send("config_response", config)


def _enum(kind: type[E], value: int, default: D) -> E | D:
    """An enum value the board sent; a value this firmware generation does not know reads as `default`."""
    try:
        return kind(value)
    except ValueError:
        return default


def _signed(value: int) -> int:
    """The telemetry fields are uint32; a negative level (the CP low side) arrives in two's complement."""
    return value - (1 << 32) if value >= 1 << 31 else value
