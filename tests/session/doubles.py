"""Minimal hardware doubles and a scripted adapter for the session, safety and station tests.

`Rig` is one connector's power path with instant physics: a current-controlled source into a battery behind the
vehicle's contactors, measurements pushed to listeners on every change and on every `tick()` (its `run()` task
ticks every 50 ms and emits IMD samples at 1 Hz). Faults are plain attributes to set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from evse.hardware.roles import CpState, InsulationSample, Listener, PowerCapabilities
from evse.safety.envelope import CableLimits, ChargerLimits, Envelope
from evse.safety.settings import SafetySettings
from evse.safety.supervisor import Supervisor
from evse.session.adapter import PLANS, Plan
from evse.session.context import StageContext, VehicleLimits
from evse.session.errors import StageFailure, VehicleStop
from evse.session.events import Event, EventBus, StageChanged
from evse.session.hardware import ConnectorRoles
from evse.session.plug_line import PlugLine
from evse.session.session import Session
from evse.session.settings import SessionSettings
from evse.session.stages import Reason, Stage


class _Listeners:
    def __init__(self) -> None:
        self.listeners: list[Listener] = []

    def add_listener(self, listener: Listener) -> None:
        self.listeners.append(listener)

    def notify(self) -> None:
        for listener in tuple(self.listeners):
            listener()


class FakePower(_Listeners):
    def __init__(self, rig: Rig) -> None:
        super().__init__()
        self.rig = rig
        self.target_v = 0.0
        self.target_a = 0.0
        self.on = False
        self.discharging = False
        self.v = 0.0
        self.i = 0.0
        self.fault_code: str | None = None
        self.writes = 0

    def capabilities(self) -> PowerCapabilities:
        return PowerCapabilities(1000, 150, 250, 0, 150_000)

    def set_target(self, voltage_v: float, current_a: float) -> None:
        self.writes += 1
        self.target_v, self.target_a = voltage_v, current_a
        self.rig.update()

    def enable(self) -> None:
        if self.fault_code is None:
            self.on, self.discharging = True, False
        self.rig.update()

    def disable(self) -> None:
        self.on = False
        self.rig.update()

    def enabled(self) -> bool:
        return self.on

    def measured_voltage_v(self) -> float:
        return self.v

    def measured_current_a(self) -> float:
        return self.i

    def fault(self) -> str | None:
        return self.fault_code

    def discharge(self) -> None:
        self.on, self.discharging = False, True
        self.rig.update()


class FakeContactors(_Listeners):
    def __init__(self, rig: Rig) -> None:
        super().__init__()
        self.rig = rig
        self.cmd = False
        self.welded = False
        self.stuck_open = False
        self.fb = False
        #: (measured current, tripped) at every open command while closed
        self.openings: list[float] = []

    def close(self) -> None:
        self.cmd = True
        self.rig.update()

    def open(self) -> None:
        if self.fb:
            self.openings.append(self.rig.power.i)
        self.cmd = False
        self.rig.update()

    def commanded_closed(self) -> bool:
        return self.cmd

    def feedback_closed(self) -> bool:
        return self.fb

    def vehicle_side_voltage_v(self) -> float:
        return self.rig.inlet_v


class FakeImd(_Listeners):
    def __init__(self, rig: Rig) -> None:
        super().__init__()
        self.rig = rig
        self.running = False
        self.sample: InsulationSample | None = None
        self.silent = False
        self.self_test: bool | None = None
        self.earth_v: float | None = None

    def start(self) -> None:
        self.running = True

    def stop(self) -> None:
        self.running = False

    def start_self_test(self) -> None:
        self.self_test = True

    def self_test_result(self) -> bool | None:
        return self.self_test

    def latest(self) -> InsulationSample | None:
        return self.sample

    def emit(self, now: float) -> None:
        if self.running and not self.silent:
            self.sample = InsulationSample(
                now,
                self.rig.insulation_ohm,
                voltage_to_earth_v=self.earth_v if self.earth_v is not None else self.rig.power.v / 2,
            )
            self.notify()


class FakeLock:
    def __init__(self) -> None:
        self.is_locked = False
        self.jammed = False

    def lock(self) -> None:
        if not self.jammed:
            self.is_locked = True

    def unlock(self) -> None:
        if not self.jammed:
            self.is_locked = False

    def locked(self) -> bool:
        return self.is_locked


class FakePilot(_Listeners):
    def __init__(self) -> None:
        super().__init__()
        self.cp = CpState.A
        self.pwm: float | None = None

    def state(self) -> CpState:
        return self.cp

    def high_voltage_v(self) -> float:
        return 9.0

    def set_pwm(self, duty_pct: float | None) -> None:
        self.pwm = duty_pct

    def set_state_f(self) -> None:
        self.cp = CpState.F

    def proximity_ohm(self) -> float | None:
        return None if self.cp is CpState.A else 220.0

    def set(self, state: CpState) -> None:
        self.cp = state
        self.notify()


class FakeLines(_Listeners):
    """CHAdeMO/GB/T signal lines: outputs by name, inputs "connected", "k" and the CC1 voltage."""

    def __init__(self) -> None:
        super().__init__()
        self.outputs: dict[str, bool] = {}
        self.inputs: dict[str, bool] = {"connected": False, "k": False}
        self.cc1_v = 12.0

    def set_output(self, line: str, on: bool) -> None:
        self.outputs[line] = on

    def output(self, line: str) -> bool:
        return self.outputs.get(line, False)

    def input_active(self, line: str) -> bool:
        return self.inputs[line]

    def input_voltage_v(self, line: str) -> float:
        return self.cc1_v

    def plug(self, plugged: bool) -> None:
        self.inputs["connected"] = plugged
        self.cc1_v = 4.0 if plugged else 12.0
        self.notify()


class FakeTemperatures(_Listeners):
    def __init__(self) -> None:
        super().__init__()
        self.values = {"cable": 25.0}

    def readings_c(self) -> dict[str, float]:
        return dict(self.values)

    def set(self, name: str, value_c: float) -> None:
        self.values[name] = value_c
        self.notify()


class FakeEstop(_Listeners):
    def __init__(self) -> None:
        super().__init__()
        self.is_pressed = False

    def pressed(self) -> bool:
        return self.is_pressed

    def press(self, pressed: bool = True) -> None:
        self.is_pressed = pressed
        self.notify()


class Rig:
    """One connector's fake hardware and its physics."""

    def __init__(self, battery_v: float = 350.0, resistance_ohm: float = 0.05) -> None:
        self.battery_v = battery_v
        self.resistance_ohm = resistance_ohm
        self.vehicle_closed = False
        self.insulation_ohm = 1_000_000.0
        self.voltage_offset_v = 0.0  # over-voltage fault injection
        self.current_offset_a = 0.0  # over-current fault injection
        self.inlet_v = 0.0
        self.power = FakePower(self)
        self.contactors = FakeContactors(self)
        self.imd = FakeImd(self)
        self.lock = FakeLock()
        self.pilot = FakePilot()
        self.lines = FakeLines()
        self.temperatures = FakeTemperatures()
        self.estop = FakeEstop()
        self.roles = ConnectorRoles(
            power=self.power,
            contactors=self.contactors,
            imd=self.imd,
            lock=self.lock,
            pilot=self.pilot,
            lines=self.lines,
            temperatures=self.temperatures,
            estop=self.estop,
        )
        self._updating = False

    # ---- the vehicle side, as the scripted adapter drives it (`VehicleSide`)
    def set_cp(self, state: CpState) -> None:
        self.pilot.set(state)

    def set_vehicle_closed(self, closed: bool) -> None:
        self.vehicle_closed = closed
        self.update()

    def plug(self, plugged: bool) -> None:
        """A vehicle plugs in (or out): CP B / A, CHAdeMO connection check, GB/T CC1 4 V / 12 V."""
        self.lines.plug(plugged)
        self.pilot.set(CpState.B if plugged else CpState.A)

    def update(self) -> None:
        if self._updating:
            return
        self._updating = True
        try:
            self._physics()
            self.power.notify()
            self.contactors.notify()
        finally:
            self._updating = False

    def _physics(self) -> None:
        p, c = self.power, self.contactors
        if c.welded and c.fb:
            c.fb = True
        elif c.stuck_open:
            c.fb = False
        else:
            c.fb = c.cmd
        pack = c.fb and self.vehicle_closed
        if p.on:
            if pack:
                i = min(p.target_a, max(0.0, (p.target_v - self.battery_v) / self.resistance_ohm))
                p.i, p.v = i + self.current_offset_a, self.battery_v + i * self.resistance_ohm
            else:
                p.v, p.i = p.target_v, 0.0  # open circuit: the current fault only shows into the pack
            p.v += self.voltage_offset_v
        else:
            p.i = 0.0
            if pack:
                p.v = self.battery_v
            elif p.discharging:
                p.v = 0.0
        if c.fb:
            self.inlet_v = p.v
        else:
            self.inlet_v = self.battery_v if self.vehicle_closed else 0.0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_imd = loop.time() + 1.0
        while True:
            await asyncio.sleep(0.05)
            self.update()
            if loop.time() >= next_imd:
                next_imd += 1.0
                self.imd.emit(loop.time())


CHARGER = ChargerLimits(max_voltage_v=500, min_voltage_v=150, max_current_a=200, min_current_a=0, max_power_w=60_000)


class VehicleSide(Protocol):
    """What the scripted adapter needs of the vehicle in front of the connector (a `Rig` or the simulated world)."""

    @property
    def battery_v(self) -> float: ...
    def set_cp(self, state: CpState) -> None: ...
    def set_vehicle_closed(self, closed: bool) -> None: ...


#: the plug lines of the real adapters (GB/T: CC1 4 V ± 0.8 V by default; CHAdeMO: the connection check)
PLUG_LINES = {"gbt": PlugLine("cc1", 4.0, 0.8), "chademo": PlugLine("connected")}


class ScriptedAdapter:
    """A protocol adapter that follows a script instead of talking to a vehicle.

    `fail_at` raises StageFailure(reason) in that stage; `hang_at` never returns from that stage; energy transfer
    requests `request_a` at `request_v` every 100 ms for `charge_s`, then the vehicle stops."""

    handles_authorization = False

    def __init__(
        self,
        rig: VehicleSide,
        plan: Plan,
        *,
        fail_at: Stage | None = None,
        fail_reason: Reason = Reason.VEHICLE_FAULT,
        hang_at: Stage | None = None,
        charge_s: float = 10.0,
        request_v: float = 400.0,
        request_a: float = 100.0,
        vehicle_limits: VehicleLimits | None = None,
        on_energy_tick: Callable[[StageContext, float], None] | None = None,
        skip: frozenset[Stage] = frozenset(),
        plug_line: PlugLine | None = None,
    ) -> None:
        self.rig = rig
        self.plan = plan
        self.fail_at, self.fail_reason, self.hang_at = fail_at, fail_reason, hang_at
        self.charge_s = charge_s
        self.request_v, self.request_a = request_v, request_a
        self.vehicle_limits = vehicle_limits or VehicleLimits(max_voltage_v=450, max_current_a=150)
        self.on_energy_tick = on_energy_tick
        #: stages whose steps a buggy adapter skips (the stage API must still refuse what is unsafe)
        self.skip = skip
        self.opened = self.closed = 0
        self.stages_run: list[Stage] = []
        self.stop_reason_seen: Reason | None = None
        #: the connection line the supervisor watches during energy transfer (the real adapters offer theirs:
        #: `PLUG_LINES`); None: like an adapter that offers none
        self.plug_line = plug_line
        #: vehicle behaviour switches (stateful test): stop talking; pause the charge
        self.silent = False
        self.pause_requested = False

    async def open(self, ctx: StageContext) -> None:
        self.opened += 1

    async def close(self) -> None:
        self.closed += 1

    async def run_stage(self, stage: Stage, ctx: StageContext) -> None:
        self.stages_run.append(stage)
        if stage is self.hang_at:
            await asyncio.Event().wait()
        if stage is self.fail_at:
            raise StageFailure(self.fail_reason, f"scripted failure in {stage.value}")
        rig = self.rig
        standard = self.plan.standard
        if stage in self.skip:
            return
        if stage is Stage.CONNECTION_DETECTION and ctx.pilot is not None and ctx.pilot.state() is CpState.A:
            rig.set_cp(CpState.B)
        elif stage is Stage.BMS_WAKE_UP:
            await ctx.lock_connector()
        elif stage is Stage.PARAMETER_NEGOTIATION:
            ctx.set_vehicle_limits(self.vehicle_limits)
            ctx.identify("scripted-1.0", {"vin": "TESTVIN0000000001"})
            if standard == "gbt":
                rig.set_vehicle_closed(True)  # GB/T: the BMS closes its relays before the charger pre-charges
        elif stage is Stage.INSULATION_TEST:
            if ctx.pilot is not None:
                rig.set_cp(CpState.C)
            await ctx.insulation_test(500.0, keep_contactors_closed=standard == "ccs")
        elif stage is Stage.PRE_CHARGE:
            await ctx.precharge(rig.battery_v, 10.0)
        elif stage is Stage.CONTACTOR_CLOSURE:
            await ctx.close_contactors()
            rig.set_vehicle_closed(True)
        elif stage is Stage.ENERGY_TRANSFER:
            await self._charge(ctx)
        elif stage is Stage.STOPPING:
            self.stop_reason_seen = ctx.stop_reason
            await ctx.open_contactors()
            rig.set_vehicle_closed(False)
        elif stage is Stage.UNLOCK:
            await ctx.unlock_connector()

    async def _charge(self, ctx: StageContext) -> None:
        started = ctx.now()
        while ctx.now() - started < self.charge_s:
            ctx.pause(self.pause_requested)
            if not self.silent:
                ctx.vehicle.requested_current_a = self.request_a
                ctx.trace("rx", "can", "current request")
                ctx.request(self.request_v, self.request_a)
            if self.on_energy_tick is not None:
                self.on_energy_tick(ctx, ctx.now() - started)
            await asyncio.sleep(0.1)
        raise VehicleStop("target reached", vehicle_reason="soc_target")


class Harness:
    """A session on a rig, with its envelope, supervisor and an event log."""

    def __init__(
        self,
        standard: str = "ccs",
        *,
        safety: SafetySettings | None = None,
        session_settings: SessionSettings | None = None,
        battery_v: float = 350.0,
        **adapter_kwargs: object,
    ) -> None:
        self.rig = Rig(battery_v)
        self.safety = safety or SafetySettings()
        self.session_settings = session_settings or SessionSettings()
        self.bus = EventBus()
        self.events: list[Event] = []
        self.bus.subscribe(self.events.append)
        self._stage_reached: dict[Stage, asyncio.Event] = {}
        self.bus.subscribe(self._on_stage)
        self.envelope = Envelope(CHARGER, CableLimits(250, 60, 90))
        self.supervisor = Supervisor(1, self.rig.roles, self.envelope, self.safety, self.bus.publish)
        self.supervisor.attach()
        self.adapter = ScriptedAdapter(self.rig, PLANS[standard], **adapter_kwargs)  # type: ignore[arg-type]
        self._rig_task: asyncio.Task[None] | None = None

    def new_session(self) -> Session:
        return Session(
            connector_id=1,
            adapter=self.adapter,
            roles=self.rig.roles,
            envelope=self.envelope,
            supervisor=self.supervisor,
            session_settings=self.session_settings,
            safety_settings=self.safety,
            publish=self.bus.publish,
        )

    async def __aenter__(self) -> Harness:
        self._rig_task = asyncio.get_running_loop().create_task(self.rig.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._rig_task is not None:
            self._rig_task.cancel()

    def _on_stage(self, event: Event) -> None:
        if isinstance(event, StageChanged):
            self._stage_reached.setdefault(event.stage, asyncio.Event()).set()

    async def reached(self, stage: Stage) -> None:
        """Wait until the session entered `stage`."""
        await self._stage_reached.setdefault(stage, asyncio.Event()).wait()

    def of(self, kind: type[Event]) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]
