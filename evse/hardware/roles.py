"""Hardware roles: what the daemon needs from the charger's hardware, one `typing.Protocol` per role.

Theory of operation
-------------------
* **Commands are synchronous and non-blocking.** `power.disable()` or `contactors.open()` issue the command at
  once (a GPIO write, a CAN frame to a rectifier module, a message to the control board) and return; the
  physical result arrives later and is read back through feedback (`contactors.feedback_closed()`,
  `power.measured_voltage_v()`). That is what lets `evse.safety` trip from inside a measurement callback with
  no await between the breach and the command — and it is the same for real and simulated drivers.
* **Measurements are pushed.** A sensing role calls its listeners on every new reading (`add_listener`), so the
  supervisor sees a breach on the reading that reveals it, not on the next poll. Listeners must not block.
* **No wall clock.** Drivers take time from the running event loop (`asyncio.get_running_loop().time()`).
* Each role documents the semantics that matter for safety. A driver that cannot honour one (e.g. no mirror
  contacts) must say so through its capability fields, never silently pretend.

Real and simulated drivers implement these; `evse.hardware.registry` picks them by name from the configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

Listener = Callable[[], None]


class CpState(StrEnum):
    """Control pilot state (IEC 61851-1), from the CP high level seen by the EVSE."""

    A = "A"  # +12 V, no vehicle
    B = "B"  # +9 V, connected, not ready
    C = "C"  # +6 V, ready / requests energy
    D = "D"  # +3 V, ready, ventilation
    E = "E"  # 0 V, CP shorted to PE / supply lost
    F = "F"  # -12 V, EVSE not available (driven by the EVSE)
    DIODE_FAULT = "diode_fault"


@runtime_checkable
class ControlPilot(Protocol):
    """CP generator and sensing plus proximity (PP). CCS only; other standards use `VehicleLines`."""

    def state(self) -> CpState: ...
    def high_voltage_v(self) -> float:
        """Measured CP high level (V). Drift towards a window edge across sessions means worn pins."""
        ...

    def set_pwm(self, duty_pct: float | None) -> None:
        """1 kHz PWM with `duty_pct` (5 % = digital communication), or steady +12 V when None."""
        ...

    def set_state_f(self) -> None:
        """Drive −12 V: EVSE not available (faults, legacy wake-up E/F step)."""
        ...

    def proximity_ohm(self) -> float | None:
        """PP–PE resistance (Ω), None if open (no plug)."""
        ...

    def add_listener(self, listener: Listener) -> None: ...


@runtime_checkable
class VehicleLines(Protocol):
    """Auxiliary signal lines of CHAdeMO (d1, d2 outputs; j/k and connection-check inputs) and GB/T
    (CC1 detection point 1 voltage input; 12 V / 24 V auxiliary supply outputs).

    Output line names: "d1", "d2", "aux_12v", "aux_24v". Input names: "k" (CHAdeMO charge permission, True =
    vehicle permits), "connected" (CHAdeMO connection check), "cc1" (GB/T, read as a voltage)."""

    def set_output(self, line: str, on: bool) -> None: ...
    def output(self, line: str) -> bool: ...
    def input_active(self, line: str) -> bool: ...
    def input_voltage_v(self, line: str) -> float: ...
    def add_listener(self, listener: Listener) -> None: ...


@runtime_checkable
class ConnectorLock(Protocol):
    """Electronic connector lock with feedback. `locked()` is the feedback, not the command."""

    def lock(self) -> None: ...
    def unlock(self) -> None: ...
    def locked(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class InsulationSample:
    """One reading of the insulation monitor (IMD)."""

    t_s: float
    resistance_ohm: float  # the lower of the two poles (DC+ to PE, DC− to PE)
    voltage_to_earth_v: float = 0.0
    resistance_pos_ohm: float | None = None
    resistance_neg_ohm: float | None = None
    device_fault: bool = False


@runtime_checkable
class InsulationMonitor(Protocol):
    """IMD (IEC 61557-8). Samples arrive ~1 Hz while measuring; each must come within 5 s."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def start_self_test(self) -> None:
        """Start the self-test (may take 20–30 s); the result arrives as `self_test_result()`."""
        ...

    def self_test_result(self) -> bool | None:
        """None while running or never run, then True (passed) / False (failed)."""
        ...

    def latest(self) -> InsulationSample | None: ...
    def add_listener(self, listener: Listener) -> None: ...


@dataclass(frozen=True, slots=True)
class PowerCapabilities:
    max_voltage_v: float
    min_voltage_v: float
    max_current_a: float
    min_current_a: float
    max_power_w: float


@runtime_checkable
class PowerModule(Protocol):
    """The DC power supply of one connector (one or several rectifier modules as a group).

    `set_target` is a *limit pair*: the module regulates to `voltage_v` with current limited to `current_a`.
    The caller (evse.safety.envelope) guarantees both lie inside the envelope; the driver must still clamp to its
    own capabilities. `disable()` is the trip path: output off at once, no ramp."""

    def capabilities(self) -> PowerCapabilities: ...
    def set_target(self, voltage_v: float, current_a: float) -> None: ...
    def enable(self) -> None: ...
    def disable(self) -> None: ...
    def enabled(self) -> bool: ...
    def measured_voltage_v(self) -> float: ...
    def measured_current_a(self) -> float: ...
    def fault(self) -> str | None:
        """A module fault code (e.g. "module_overtemperature"), None when healthy."""
        ...

    def discharge(self) -> None:
        """Engage the output discharge (bleed) circuit until the output is < 60 V."""
        ...

    def add_listener(self, listener: Listener) -> None: ...


@runtime_checkable
class Contactors(Protocol):
    """Output contactors (DC+ and DC−, GB/T K1/K2) with mirror-contact feedback."""

    def close(self) -> None: ...
    def open(self) -> None: ...
    def commanded_closed(self) -> bool: ...
    def feedback_closed(self) -> bool:
        """Mirror contacts: True while either pole is physically closed. Commanded open but still closed
        after the open delay means welded."""
        ...

    def vehicle_side_voltage_v(self) -> float:
        """Voltage measured on the vehicle side of the contactors (the inlet): the pack voltage behind open
        contactors (GB/T pre-charge), "< 10 V before the insulation test", and welding detection."""
        ...

    def add_listener(self, listener: Listener) -> None: ...


@runtime_checkable
class EnergyMeter(Protocol):
    def energy_wh(self) -> float: ...
    def voltage_v(self) -> float: ...
    def current_a(self) -> float: ...
    def signed_value(self) -> str | None:
        """The latest signed meter value (e.g. OCMF), None if the meter does not sign."""
        ...


@runtime_checkable
class Temperatures(Protocol):
    """Connector/cable temperature sensors, by name ("dc_plus", "dc_minus", "cable", …)."""

    def readings_c(self) -> dict[str, float]: ...
    def add_listener(self, listener: Listener) -> None: ...


@runtime_checkable
class EmergencyStop(Protocol):
    def pressed(self) -> bool: ...
    def add_listener(self, listener: Listener) -> None: ...


class CardReader(Protocol):
    """An RFID card reader (role `rfid`, one per station: `DriverContext.connector_id` is 0).

    A presented card's UID (upper-case hex) goes to `on_card`, which the daemon sets right after creating the reader,
    before the loop runs again: a reader delivers cards only from its own task. `fault()` names what stops cards
    being read (None when healthy); `shutdown()` releases the device and is safe to call twice."""

    on_card: Callable[[str], None]
    cards_read: int

    def fault(self) -> str | None: ...
    def shutdown(self) -> None: ...
