"""Test doubles for the CCS end-to-end tests: a minimal `StageContext` with a small physical model, a plant for
the simulated vehicle, and a session runner that follows the adapter contract (stage order, STOPPING and UNLOCK
always run, a station-side stop cancels ENERGY_TRANSFER).

The double enforces the same rules the real stage API does (envelope on every request, ≤ 2 A while pre-charging,
contactors close only after a passed insulation test and a matched pre-charge) and records every breach in
`violations`, so each test can assert the invariants held.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import structlog

from evse.session.adapter import ProtocolAdapter
from evse.session.context import ChargerOffer, InsulationResult, Setpoint, VehicleLimits, VehicleStatus
from evse.session.errors import SessionEnd, StageFailure
from evse.session.stages import Outcome, Reason, Stage

TICK_S = 0.02
#: output voltage slew of the power module (V/s) and current ramp (A/s)
SLEW_V_PER_S = 400.0
RAMP_A_PER_S = 200.0


class FakeBattery:
    """A pack with a linear OCV over SOC: enough for pre-charge matching and a short charge."""

    def __init__(self, capacity_kwh: float, soc_pct: float, ocv_empty_v: float, ocv_full_v: float, max_a: float):
        self.capacity_kwh = capacity_kwh
        self.soc_pct = soc_pct
        self.temperature_c = 25.0
        self.ocv_empty_v, self.ocv_full_v = ocv_empty_v, ocv_full_v
        self.max_voltage_v = ocv_full_v
        self.max_a = max_a

    def open_circuit_voltage_v(self) -> float:
        return self.ocv_empty_v + (self.ocv_full_v - self.ocv_empty_v) * self.soc_pct / 100

    def terminal_voltage_v(self, current_a: float) -> float:
        return self.open_circuit_voltage_v() + 0.05 * current_a

    def max_charge_current_a(self) -> float:
        return self.max_a

    def max_cell_voltage_v(self) -> float:
        return 4.2

    def step(self, current_a: float, dt_s: float) -> None:
        energy_kwh = current_a * self.open_circuit_voltage_v() * dt_s / 3600 / 1000
        self.soc_pct = min(100.0, self.soc_pct + 100 * energy_kwh / self.capacity_kwh)


class FakePlant:
    """The vehicle's view of the cable: its battery, its contactors, the current the charger pushes."""

    def __init__(self, battery: Any) -> None:
        self.battery = battery
        self.vehicle_closed = False
        self.current_a = 0.0
        self.output_v = 0.0

    def close_vehicle_contactors(self) -> None:
        self.vehicle_closed = True

    def open_vehicle_contactors(self) -> None:
        self.vehicle_closed = False

    def vehicle_contactors_closed(self) -> bool:
        return self.vehicle_closed

    def inlet_voltage_v(self) -> float:
        return self.battery.open_circuit_voltage_v() if self.vehicle_closed else self.output_v

    def charge_current_a(self) -> float:
        return self.current_a

    def set_vehicle_line(self, name: str, value: Any) -> None:
        pass

    def charger_line(self, name: str) -> bool:
        return False


@dataclass
class FakeContext:
    plant: FakePlant
    offer: ChargerOffer = field(
        default_factory=lambda: ChargerOffer(
            max_voltage_v=920, min_voltage_v=150, max_current_a=200, min_current_a=0, max_power_w=150_000
        )
    )
    insulation_ohm: float = 10e6
    insulation_s: float = 0.5
    #: the highest voltage the power module reaches (None = any): a broken module never completes pre-charge
    reachable_v: float | None = None
    precharge_timeout_s: float = 5.0
    connector_id: int = 1
    session_id: str = "ccs-test"
    standard: str = "ccs"
    log: Any = field(default_factory=lambda: structlog.get_logger("test.ccs"))
    stop_requested: asyncio.Event = field(default_factory=asyncio.Event)
    stop_reason: Reason | None = None
    #: the supervisor has tripped (StageContext.tripped)
    tripped: bool = False
    vehicle: VehicleStatus = field(default_factory=VehicleStatus)
    lines: Any = None
    pilot: Any = None
    # ---- state
    vehicle_limits: VehicleLimits | None = None
    identity: dict[str, str] = field(default_factory=dict)
    traces: list[tuple[str, str, str]] = field(default_factory=list)
    contactors_closed: bool = False
    enabled: bool = False
    target_v: float = 0.0
    current_limit_a: float = 0.0
    sp: Setpoint = field(default_factory=lambda: Setpoint(0.0, 0.0, "none"))
    insulation_passed: bool = False
    precharge_matched: bool = False
    released: bool = False  # close_contactors() for energy succeeded
    locked: bool = False
    energy_wh: float = 0.0
    violations: list[str] = field(default_factory=list)
    max_output_v: float = 0.0
    calls: list[str] = field(default_factory=list)
    _physics: asyncio.Task[None] | None = None

    # ---- plumbing
    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def timeout_s(self, name: str) -> float:
        return 10.0

    def set_vehicle_limits(self, limits: VehicleLimits) -> None:
        self.vehicle_limits = limits

    def charger_offer(self) -> ChargerOffer:
        return self.offer

    def identify(self, protocol_version: str, identity: dict[str, str]) -> None:
        self.identity = {"protocol_version": protocol_version, **identity}

    def trace(self, direction: str, kind: str, text: str) -> None:
        self.traces.append((direction, kind, text))

    def publish(self, event: Any) -> None:
        pass

    def current_stage(self) -> Stage:
        return Stage.IDLE

    def pause(self, paused: bool) -> None:
        pass

    def start_physics(self) -> None:
        if self._physics is None:
            self._physics = asyncio.ensure_future(self._run_physics())

    async def stop_physics(self) -> None:
        if self._physics is not None:
            self._physics.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._physics

    async def _run_physics(self) -> None:
        plant = self.plant
        last = self.now()
        while True:
            await asyncio.sleep(TICK_S)
            now = self.now()
            dt, last = now - last, now
            flowing = self.contactors_closed and plant.vehicle_closed and self.enabled
            if flowing:
                want = min(self.current_limit_a, plant.battery.max_charge_current_a())
                step = RAMP_A_PER_S * dt
                plant.current_a = (
                    max(want, plant.current_a - step) if want < plant.current_a else min(want, plant.current_a + step)
                )
                plant.battery.step(plant.current_a, dt)
                plant.output_v = plant.battery.terminal_voltage_v(plant.current_a)
                self.energy_wh += plant.current_a * plant.output_v * dt / 3600
            else:
                plant.current_a = 0.0
                goal = self.target_v if self.enabled else 0.0
                if self.reachable_v is not None:
                    goal = min(goal, self.reachable_v)
                step = SLEW_V_PER_S * dt
                v = plant.output_v
                plant.output_v = max(goal, v - step) if goal < v else min(goal, v + step)
            self.max_output_v = max(self.max_output_v, plant.output_v)
            limits = self.vehicle_limits
            if limits is not None and self.released and plant.output_v > limits.max_voltage_v + 5:
                self.violations.append(f"output {plant.output_v:.0f} V above the vehicle maximum")

    # ---- power path
    async def lock_connector(self) -> None:
        self.locked = True

    async def unlock_connector(self) -> None:
        if self.plant.output_v >= 60:
            self.violations.append(f"unlock at {self.plant.output_v:.0f} V")
        self.locked = False

    def measured_voltage_v(self) -> float:
        return self.plant.output_v if self.contactors_closed else 0.0

    def measured_current_a(self) -> float:
        return self.plant.current_a

    def vehicle_side_voltage_v(self) -> float:
        return self.plant.inlet_voltage_v()

    async def insulation_test(self, test_voltage_v: float, keep_contactors_closed: bool = False) -> InsulationResult:
        self.calls.append(f"insulation_test {test_voltage_v:.0f}")
        self.start_physics()
        if not self.locked:
            self.violations.append("insulation test on an unlocked connector")
        self.contactors_closed = True
        self.enabled, self.target_v, self.current_limit_a = True, test_voltage_v, 2.0
        await asyncio.sleep(self.insulation_s)
        self.target_v = 0.0  # bleed
        while self.plant.output_v >= 60:  # noqa: ASYNC110 - polling the physical model
            await asyncio.sleep(TICK_S)
        self.enabled = False
        ohm_per_v = self.insulation_ohm / test_voltage_v
        if self.insulation_ohm < 100_000:
            raise StageFailure(Reason.INSULATION_FAULT, f"{self.insulation_ohm:.0f} Ω at {test_voltage_v:.0f} V")
        self.insulation_passed = True
        level = "ok" if ohm_per_v >= 500 else "warning"
        return InsulationResult(True, self.insulation_ohm, test_voltage_v, level, samples=1)

    async def precharge(self, target_voltage_v: float, tolerance_v: float, max_current_a: float = 2.0) -> float:
        self.calls.append(f"precharge {target_voltage_v:.0f}")
        if max_current_a > 2.0:
            self.violations.append(f"pre-charge at {max_current_a} A")
        if not self.insulation_passed:
            self.violations.append("pre-charge before a passed insulation test")
        self.contactors_closed = True
        self.enabled, self.target_v, self.current_limit_a = True, target_voltage_v, max_current_a
        deadline = self.now() + self.precharge_timeout_s
        while abs(self.plant.output_v - target_voltage_v) > tolerance_v:
            if self.now() > deadline:
                raise StageFailure(
                    Reason.PRECHARGE_FAILED,
                    f"output {self.plant.output_v:.0f} V did not reach {target_voltage_v:.0f} V",
                )
            await asyncio.sleep(TICK_S)
        self.precharge_matched = True
        return self.plant.output_v

    async def close_contactors(self) -> None:
        self.calls.append("close_contactors")
        if not (self.insulation_passed and self.precharge_matched):
            raise StageFailure(Reason.SAFETY_TRIP, "closure without insulation test and pre-charge")
        self.released = True
        self.current_limit_a = 0.0

    def request(self, voltage_v: float, current_a: float) -> Setpoint:
        limits = self.vehicle_limits
        if not self.released:
            self.violations.append("request before contactor closure")
        max_v = min(self.offer.max_voltage_v, limits.max_voltage_v if limits else self.offer.max_voltage_v)
        max_a = min(self.offer.max_current_a, limits.max_current_a if limits else self.offer.max_current_a)
        if voltage_v > 0:
            max_a = min(max_a, self.offer.max_power_w / voltage_v)
        voltage = min(voltage_v, max_v)
        current = min(current_a, max_a)
        source = "vehicle" if current >= current_a else "charger"
        self.sp = Setpoint(voltage, current, source)
        self.target_v, self.current_limit_a = voltage, current
        return self.sp

    def setpoint(self) -> Setpoint:
        return self.sp

    async def ramp_down(self) -> None:
        self.calls.append("ramp_down")
        self.current_limit_a = 0.0
        while self.plant.current_a > 5.0:  # noqa: ASYNC110 - polling the physical model
            await asyncio.sleep(TICK_S)

    async def open_contactors(self) -> None:
        self.calls.append("open_contactors")
        if self.stop_reason not in (Reason.SAFETY_TRIP, Reason.EMERGENCY_STOP):
            await self.ramp_down()
        if self.plant.current_a > 5.0:
            self.violations.append(f"contactors opened under {self.plant.current_a:.0f} A")
        self.contactors_closed = False
        self.enabled = False
        self.released = False

    async def discharge(self) -> None:
        self.enabled = False
        self.target_v = 0.0
        self.plant.output_v = min(self.plant.output_v, 30.0)


@dataclass
class SessionResult:
    outcome: Outcome
    stages: list[Stage]
    elapsed_s: float


async def run_session(
    adapter: ProtocolAdapter,
    ctx: FakeContext,
    *,
    stop_at: Stage | None = None,
    stop_after_s: float = 0.0,
    stop_reason: Reason = Reason.USER_STOP,
    timeout_s: float = 60.0,
) -> SessionResult:
    """Drive `adapter` through its plan like the session does. `stop_at`: a station-side stop `stop_after_s`
    after that stage begins (cancels the running step, as the session does)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    visited: list[Stage] = []
    outcome: Outcome | None = None
    await adapter.open(ctx)
    try:
        async with asyncio.timeout(timeout_s):
            for stage in adapter.plan.stages:
                if stage in (Stage.STOPPING, Stage.UNLOCK):
                    break
                visited.append(stage)
                step = asyncio.ensure_future(adapter.run_stage(stage, ctx))
                if stage is stop_at:
                    await asyncio.wait([step], timeout=stop_after_s)
                    if not step.done():
                        ctx.stop_reason = stop_reason
                        ctx.stop_requested.set()
                        step.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await step
                        outcome = Outcome.of(stage, stop_reason, "station-side stop")
                        break
                try:
                    await step
                except SessionEnd as end:
                    outcome = Outcome.of(stage, end.reason, end.detail, end.vehicle_reason)
                    break
            for stage in (Stage.STOPPING, Stage.UNLOCK):
                visited.append(stage)
                try:
                    await adapter.run_stage(stage, ctx)
                except SessionEnd as end:
                    outcome = outcome or Outcome.of(stage, end.reason, end.detail)
    finally:
        await adapter.close()
        await ctx.stop_physics()
    assert outcome is not None, "the session never ended"
    return SessionResult(outcome, visited, loop.time() - started)
