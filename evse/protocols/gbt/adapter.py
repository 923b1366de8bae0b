"""The GB/T 27930 `ProtocolAdapter`: the thin I/O layer around `GbtCore`.

Theory of operation
-------------------
* Everything the vehicle does arrives as a callback in the loop: a CAN frame (the channel's synchronous receiver,
  through `CoreDriver`), a CC1 change (the `VehicleLines` listener), a timer at the core's next absolute deadline.
  Each callback first feeds the core the charger's measurements, then carries out what it returns inside the
  same call — a CTS answers an RTS, and CRM 0xAA answers BRM, in the loop pass that delivered the frame.
* Power-path operations (lock, insulation test, pre-charge, contactors, discharge, unlock) go through the
  session's `StageContext` only; each runs as one task whose completion is fed back to the core. A `SessionEnd`
  raised by the stage API ends the running stage with that error.
* `run_stage(stage)` begins the stage in the core and waits for its `StageDone` or `End`; an `End` that happens
  between stages is raised out of the next stage step.
* Every CAN frame in either direction goes into the handshake trace (`ctx.trace`, candump lines) during the
  handshake stages and stopping; the energy-transfer loop would flood it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from evse.can.channel import CanChannel, CanFrame
from evse.clock import wall_time
from evse.protocols.gbt.actions import (
    Do,
    End,
    Identify,
    Measurements,
    Note,
    Op,
    Output,
    Pause,
    Request,
    SetLimits,
    SetLine,
    StageDone,
    VehicleUpdate,
)
from evse.protocols.gbt.core import GbtCore
from evse.protocols.gbt.driver import CoreDriver
from evse.protocols.gbt.sequence import LINE_AUX_12V, LINE_AUX_24V, LINE_CC1
from evse.protocols.gbt.settings import GbtSettings
from evse.session.adapter import GBT_PLAN, Plan
from evse.session.errors import SessionEnd
from evse.session.stages import HANDSHAKE_STAGES, Stage

if TYPE_CHECKING:
    from evse.session.context import StageContext

#: stages whose frames go into the handshake trace
TRACED_STAGES = HANDSHAKE_STAGES | {Stage.STOPPING}
_CLOSING = (Stage.STOPPING, Stage.UNLOCK)


class _ObservedCore:
    """The core as the driver sees it: every input is preceded by the charger's present measurements."""

    def __init__(self, adapter: GbtAdapter) -> None:
        self.adapter = adapter

    def feed(self, frame: CanFrame, now: float) -> Output:
        self.adapter._observe()
        return self.adapter.core.feed(frame, now)

    def poll(self, now: float) -> Output:
        self.adapter._observe()
        return self.adapter.core.poll(now)

    def next_deadline(self) -> float | None:
        return self.adapter.core.next_deadline()


class GbtAdapter:
    """GB/T 27930 for one session on one connector's CAN channel."""

    plan: Plan = GBT_PLAN

    def __init__(self, channel: CanChannel, settings: GbtSettings | None = None) -> None:
        self.channel = channel
        self.settings = settings or GbtSettings()
        self.core = GbtCore(self.settings)
        self.driver: CoreDriver[Output] = CoreDriver(
            channel, _ObservedCore(self), self._apply, on_rx=self._trace_rx, on_tx=self._trace_tx
        )
        self._ctx: StageContext | None = None
        self._waiting: asyncio.Future[None] | None = None
        self._waiting_stage: Stage | None = None
        self._pending_end: SessionEnd | None = None
        self._ops: set[asyncio.Task[None]] = set()
        self._listening = False
        self._open = False

    # ------------------------------------------------------------------ ProtocolAdapter
    async def open(self, ctx: StageContext) -> None:
        self._ctx = ctx
        self._open = True
        self.core.set_charger_offer(ctx.charger_offer())
        # CTS carries local time (GB/T chargers send the local calendar time); the loop maps to it once per use
        self.core.calendar = lambda t_s: wall_time(None, t_s).astimezone().replace(tzinfo=None)
        if ctx.lines is not None and not self._listening:
            ctx.lines.add_listener(self._on_lines)
            self._listening = True
        self.driver.start()
        self._on_lines()

    async def run_stage(self, stage: Stage, ctx: StageContext) -> None:
        self._ctx = ctx
        if stage in (Stage.BMS_WAKE_UP, Stage.PARAMETER_NEGOTIATION):
            self.core.set_charger_offer(ctx.charger_offer())
        if self._pending_end is not None and stage not in _CLOSING:
            raise self._pending_end
        if stage in _CLOSING:
            self._cancel_ops()
        self._waiting = asyncio.get_running_loop().create_future()
        self._waiting_stage = stage
        try:
            self._observe()
            self.driver.submit(self.core.begin(stage, ctx.now(), ctx.stop_reason))
            await self._waiting
        finally:
            self._waiting = None
            self._waiting_stage = None

    async def close(self) -> None:
        self._open = False
        self._cancel_ops()
        self.driver.stop()
        ctx = self._ctx
        if ctx is not None and ctx.lines is not None:
            # UNLOCK switched them off at a safe voltage; this covers a session torn down without it
            ctx.lines.set_output(LINE_AUX_12V, False)
            ctx.lines.set_output(LINE_AUX_24V, False)

    # ------------------------------------------------------------------ inputs
    def _on_lines(self) -> None:
        ctx = self._ctx
        if not self._open or ctx is None or ctx.lines is None:
            return
        voltage_v = ctx.lines.input_voltage_v(LINE_CC1)
        if voltage_v != self.core.cc1_v or self.core.cc1_ok_since_s is None:
            self._observe()
            self.driver.submit(self.core.on_cc1(voltage_v, ctx.now()))

    def _observe(self) -> None:
        ctx = self._ctx
        if ctx is None:
            return
        self.core.observe(
            Measurements(
                output_voltage_v=ctx.measured_voltage_v(),
                inlet_voltage_v=ctx.vehicle_side_voltage_v(),
                output_current_a=ctx.measured_current_a(),
            )
        )

    def _trace_rx(self, frame: CanFrame) -> None:
        self._trace("rx", frame)

    def _trace_tx(self, frame: CanFrame) -> None:
        self._trace("tx", frame)

    def _trace(self, direction: str, frame: CanFrame) -> None:
        ctx = self._ctx
        if ctx is not None and ctx.current_stage() in TRACED_STAGES:
            ctx.trace(direction, "can", frame.candump(self.channel.name))

    # ------------------------------------------------------------------ outputs
    def _apply(self, output: Output) -> None:
        ctx = self._ctx
        if ctx is None:
            return
        for action in output.actions:
            match action:
                case SetLine(line, on):
                    if ctx.lines is not None:
                        ctx.lines.set_output(line, on)
                case Request(voltage_v, current_a):
                    try:
                        ctx.request(voltage_v, current_a)
                    except SessionEnd as exc:
                        self._end(exc)
                case Pause(paused):
                    ctx.pause(paused)
                case Do():
                    self._start_op(action)
                case SetLimits(limits):
                    ctx.set_vehicle_limits(limits)
                case Identify(version, identity):
                    ctx.identify(version, identity)
                case VehicleUpdate():
                    self._update_vehicle(action)
                case StageDone(stage):
                    if self._waiting is not None and not self._waiting.done() and stage is self._waiting_stage:
                        self._waiting.set_result(None)
                case End(error):
                    self._end(error)
                case Note(text):
                    ctx.log.info("gbt", note=text)

    def _update_vehicle(self, update: VehicleUpdate) -> None:
        ctx = self._ctx
        assert ctx is not None
        status = ctx.vehicle
        for name in ("soc_pct", "requested_voltage_v", "requested_current_a", "battery_voltage_v", "remaining_time_s"):
            value = getattr(update, name)
            if value is not None:
                setattr(status, name, value)
        status.temperatures_c.update(update.temperatures_c)
        status.extra.update({k: v for k, v in update.extra.items() if v is not None})

    def _end(self, error: SessionEnd) -> None:
        """End the running stage step with `error`, or the next one if no step is running."""
        waiting = self._waiting
        if waiting is None or waiting.done():
            self._pending_end = self._pending_end or error
            return
        if self._waiting_stage not in _CLOSING:
            self._cancel_ops()  # no power-path operation of a failed stage may race the stop sequence
            waiting.set_exception(error)
        else:
            self._ctx_log("gbt.end_while_closing", error=str(error))

    def _ctx_log(self, event: str, **fields: Any) -> None:
        if self._ctx is not None:
            self._ctx.log.warning(event, **fields)

    # ------------------------------------------------------------------ power-path operations
    def _start_op(self, action: Do) -> None:
        task = asyncio.get_running_loop().create_task(self._run_op(action), name=f"gbt-{action.op.value}")
        self._ops.add(task)
        task.add_done_callback(self._ops.discard)

    async def _run_op(self, action: Do) -> None:
        ctx = self._ctx
        assert ctx is not None
        value: float | None = None
        detail = ""
        try:
            match action.op:
                case Op.LOCK:
                    await ctx.lock_connector()
                case Op.INSULATION_TEST:
                    result = await ctx.insulation_test(action.voltage_v)
                    value = result.resistance_ohm
                    detail = "" if result.level == "ok" else f"{result.level}: {result.resistance_ohm:.0f} Ω"
                case Op.PRECHARGE:
                    value = await ctx.precharge(action.voltage_v, action.tolerance_v, action.current_a)
                case Op.CLOSE_CONTACTORS:
                    await ctx.close_contactors()
                case Op.OPEN_CONTACTORS:
                    await ctx.open_contactors()
                case Op.DISCHARGE:
                    await ctx.discharge()
                case Op.UNLOCK:
                    await ctx.unlock_connector()
        except SessionEnd as exc:
            if self._waiting_stage in _CLOSING:
                # the runner makes sure of the power path after the closing steps; carry on with the protocol
                self._ctx_log("gbt.closing_op_failed", op=action.op.value, error=str(exc))
            else:
                self._end(exc)
                return
        if self._open:
            self._observe()
            self.driver.submit(self.core.done(action.op, ctx.now(), value, detail))

    def _cancel_ops(self) -> None:
        for task in list(self._ops):
            task.cancel()
        self._ops.clear()


class _GbtConnector:
    """One GB/T connector as the station holds it: a fresh adapter per session on the connector's CAN link."""

    def __init__(self, channel: CanChannel, settings: GbtSettings) -> None:
        self.channel = channel
        self.settings = settings

    def new_adapter(self) -> GbtAdapter:
        return GbtAdapter(self.channel, self.settings)


def connector_adapters(context: Any) -> _GbtConnector:
    """The station's factory for a GB/T connector (`evse.station.build`: `context.roles.can` is the vehicle link,
    `context.config.gbt` the settings)."""
    from evse.hardware.registry import DriverError

    channel = context.roles.can
    if channel is None:
        raise DriverError(
            f"connector {context.connector.id}: GB/T needs a CAN vehicle link; set vehicle_link in its configuration"
        )
    return _GbtConnector(channel, context.config.gbt)
