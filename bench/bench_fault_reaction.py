"""Fault reaction latency: from the delivery of the measurement that reveals a breach (the role's listener call) to
the power-off and contactor-open commands, through the real `evse.safety.supervisor.Supervisor`.

The roles here are minimal recording drivers: `disable()` and `open()` stamp `perf_counter()` when called, which is
the instant the command leaves the daemon (a real driver writes a GPIO / sends a CAN frame in that call). Figures:
an emergency over-voltage reading on the power module's listener, an emergency-stop input and the control pilot
leaving C during energy transfer; the baseline is the same listener dispatch to a function that does nothing.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable

from bench.harness import Result, Stats
from evse.hardware.roles import CpState, InsulationSample, PowerCapabilities
from evse.safety.envelope import CableLimits, ChargerLimits, Envelope
from evse.safety.settings import SafetySettings
from evse.safety.supervisor import Supervisor
from evse.session.context import VehicleLimits
from evse.session.hardware import ConnectorRoles
from evse.session.plug_line import PlugLine

TARGET_P99_US = 2000.0  # 2 ms (issue 3)


class _Sensor:
    def __init__(self) -> None:
        self.listeners: list[Callable[[], None]] = []

    def add_listener(self, listener: Callable[[], None]) -> None:
        self.listeners.append(listener)

    def deliver(self) -> None:
        for listener in self.listeners:
            listener()


class _Power(_Sensor):
    def __init__(self) -> None:
        super().__init__()
        self.voltage_v, self.current_a = 400.0, 100.0
        self.disabled_at = 0.0
        self.on = True

    def capabilities(self) -> PowerCapabilities:
        return PowerCapabilities(1000, 150, 250, 0, 150_000)

    def set_target(self, voltage_v: float, current_a: float) -> None: ...
    def enable(self) -> None:
        self.on = True

    def disable(self) -> None:
        self.disabled_at = time.perf_counter()
        self.on = False

    def enabled(self) -> bool:
        return self.on

    def measured_voltage_v(self) -> float:
        return self.voltage_v

    def measured_current_a(self) -> float:
        return self.current_a

    def fault(self) -> str | None:
        return None

    def discharge(self) -> None: ...


class _Contactors(_Sensor):
    def __init__(self) -> None:
        super().__init__()
        self.opened_at = 0.0
        self.closed = True

    def close(self) -> None:
        self.closed = True

    def open(self) -> None:
        self.opened_at = time.perf_counter()
        self.closed = False

    def commanded_closed(self) -> bool:
        return self.closed

    def feedback_closed(self) -> bool:
        return self.closed

    def vehicle_side_voltage_v(self) -> float:
        return 400.0


class _Imd(_Sensor):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def start_self_test(self) -> None: ...
    def self_test_result(self) -> bool | None:
        return None

    def latest(self) -> InsulationSample | None:
        return None


class _Estop(_Sensor):
    def __init__(self) -> None:
        super().__init__()
        self.is_pressed = False

    def pressed(self) -> bool:
        return self.is_pressed


class _Lines(_Sensor):
    """GB/T's CC1 detection point: 4 V with the plug inserted and latched, 6 V or 12 V once it leaves."""

    def __init__(self) -> None:
        super().__init__()
        self.cc1_v = 4.0

    def set_output(self, line: str, on: bool) -> None: ...
    def output(self, line: str) -> bool:
        return True

    def input_active(self, line: str) -> bool:
        return True

    def input_voltage_v(self, line: str) -> float:
        return self.cc1_v


class _Pilot(_Sensor):
    def __init__(self) -> None:
        super().__init__()
        self.cp = CpState.C

    def state(self) -> CpState:
        return self.cp

    def high_voltage_v(self) -> float:
        return 6.0

    def set_pwm(self, duty_pct: float | None) -> None: ...
    def set_state_f(self) -> None: ...
    def proximity_ohm(self) -> float | None:
        return 1500.0


async def _trials(n: int) -> dict[str, list[float]]:
    power, contactors, estop, pilot, lines = _Power(), _Contactors(), _Estop(), _Pilot(), _Lines()
    roles = ConnectorRoles(power=power, contactors=contactors, imd=_Imd(), estop=estop, pilot=pilot, lines=lines)
    envelope = Envelope(ChargerLimits(1000, 150, 200, 0, 150_000), CableLimits(200))
    envelope.set_vehicle(VehicleLimits(max_voltage_v=450, max_current_a=200))
    supervisor = Supervisor(1, roles, envelope, SafetySettings(), lambda event: None)
    supervisor.attach()
    supervisor.set_voltage_reference(450)
    tripped: list[str] = []
    # GB/T's plug line (CC1 4 ± 0.8 V, as GbtSettings): watched during energy transfer like CP for CCS
    supervisor.bind("bench", lambda reason, code, detail: tripped.append(code), PlugLine("cc1", 4.0, 0.8))
    baseline_sensor = _Sensor()
    baseline_sensor.add_listener(lambda: None)
    samples: dict[str, list[float]] = {
        "baseline": [],
        "over_voltage": [],
        "emergency_stop": [],
        "pilot": [],
        "plug_line": [],
    }

    def arm() -> None:
        power.voltage_v, power.on, contactors.closed = 400.0, True, True
        estop.is_pressed, pilot.cp, lines.cc1_v = False, CpState.C, 4.0
        supervisor.reset()
        supervisor.energy_started()

    def latency_us(t0: float) -> float:
        return (max(power.disabled_at, contactors.opened_at) - t0) * 1e6

    gc.disable()
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            baseline_sensor.deliver()
            samples["baseline"].append((time.perf_counter() - t0) * 1e6)

            arm()
            power.voltage_v = 600.0  # above 550 V: IEC 61851-23 Table 103 for a ≤ 500 V session
            t0 = time.perf_counter()
            power.deliver()
            samples["over_voltage"].append(latency_us(t0))

            arm()
            estop.is_pressed = True
            t0 = time.perf_counter()
            estop.deliver()
            samples["emergency_stop"].append(latency_us(t0))

            arm()
            pilot.cp = CpState.B
            t0 = time.perf_counter()
            pilot.deliver()
            samples["pilot"].append(latency_us(t0))

            arm()
            lines.cc1_v = 6.0  # the latch released: GB/T 18487.1 detection point 1 at 6 V
            t0 = time.perf_counter()
            lines.deliver()
            samples["plug_line"].append(latency_us(t0))
    finally:
        gc.enable()
        supervisor.unbind()
    if len(tripped) != 4 * n:
        raise RuntimeError(f"expected {4 * n} trips, saw {len(tripped)}")
    return samples


def run(quick: bool) -> list[Result]:
    n = 1_000 if quick else 20_000
    samples = asyncio.run(_trials(n))
    base = Stats.of(samples["baseline"])
    results = []
    for key, figure in (
        ("over_voltage", "fault reaction: emergency over-voltage reading → power off + contactors open"),
        ("emergency_stop", "fault reaction: emergency-stop input → power off + contactors open"),
        ("pilot", "fault reaction: CP leaves C during charging → power off + contactors open"),
        ("plug_line", "fault reaction: GB/T CC1 leaves 'inserted' during charging → power off + contactors open"),
    ):
        s = Stats.of(samples[key])
        results.append(
            Result(
                figure,
                "µs",
                s.median,
                s.p99,
                baseline=base.median,
                baseline_name="listener dispatch to a no-op",
                target=TARGET_P99_US,
                n=s.n,
            )
        )
    return results
