"""The CHAdeMO `ProtocolAdapter`: the thin I/O layer around `ChademoCore`.

Theory of operation
-------------------
* Everything the vehicle does arrives as a callback in the loop: a CAN frame (the channel's synchronous
  receiver), a line change (the `VehicleLines` listener: k), a timer at `core.next_deadline()` (an absolute
  `loop.call_at`, so the cyclic frames keep their grid). Each callback feeds the core with the charger's
  measurements and carries out the actions it returns, inside the same call — a reaction frame leaves in the
  same loop pass as the frame that caused it.
* Power-path operations (lock, insulation test, contactors, ramp-down, discharge, unlock) go through the
  session's `StageContext` only; each runs as one task whose completion is fed back to the core. A `SessionEnd`
  raised by the stage API ends the running stage with that error.
* `run_stage(stage)` begins the stage in the core and waits for its `StageDone` or `End`. An `End` that happens
  between stages (the session is busy elsewhere) is raised out of the next stage step.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from evse.can.channel import CanChannel, CanError, CanFrame
from evse.protocols.chademo import messages as m
from evse.protocols.chademo.actions import (
    Action,
    Do,
    End,
    Identify,
    Measurements,
    Note,
    Op,
    Pause,
    Request,
    Send,
    SetLimits,
    SetLine,
    StageDone,
)
from evse.protocols.chademo.codec import ChademoCodec
from evse.protocols.chademo.core import ChademoCore
from evse.protocols.chademo.settings import ChademoSettings
from evse.session.adapter import CHADEMO_PLAN, Plan
from evse.session.errors import SessionEnd, StageFailure
from evse.session.stages import HANDSHAKE_STAGES, Reason, Stage

if TYPE_CHECKING:
    from evse.session.context import StageContext

#: stages whose frames go into the handshake trace (the energy-transfer loop would flood it)
TRACED_STAGES = HANDSHAKE_STAGES | {Stage.STOPPING}
#: line names (evse.hardware.roles.VehicleLines)
LINE_K = "k"
#: distinct notes logged per session (a misbehaving vehicle must not flood the log)
MAX_NOTES = 50
#: chademo.md, Physical layer: CAN 2.0A at 500 kbit/s
CHADEMO_BITRATE_BPS = 500_000


def hardware_channel(interface: str, channel: str, bitrate: int = 0) -> CanChannel:
    """The vehicle CAN link on hardware from a connector's `vehicle_link` (bitrate 0 = CHAdeMO's 500 kbit/s).
    A missing interface raises `CanError` with one sentence saying what to check."""
    from evse.can.pythoncan import PythonCanChannel

    return PythonCanChannel.open(interface, channel, bitrate or CHADEMO_BITRATE_BPS)


class ChademoAdapter:
    """CHAdeMO for one session on one connector's CAN channel."""

    plan: Plan = CHADEMO_PLAN

    def __init__(self, channel: CanChannel, settings: ChademoSettings | None = None) -> None:
        self.channel = channel
        self.settings = settings or ChademoSettings()
        self.codec = ChademoCodec(self.settings.capacity_kwh_per_unit)
        self.core = ChademoCore(self.settings, self.codec)
        self._ctx: StageContext | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._waiting: asyncio.Future[None] | None = None
        self._waiting_stage: Stage | None = None
        self._pending_end: SessionEnd | None = None
        self._op_task: asyncio.Task[None] | None = None
        self._k = False
        #: the last stage step was cancelled from outside (station stop, trip, stage timeout)
        self._interrupted = False
        self._open = False
        self._listening_to: object | None = None
        self._noted: set[str] = set()
        #: frames sent and received (for diagnostics and tests)
        self.tx_count = 0
        self.rx_count = 0

    # ------------------------------------------------------------------ ProtocolAdapter
    async def open(self, ctx: StageContext) -> None:
        # a fresh protocol state per session, so the station may keep one adapter per connector
        self.core = ChademoCore(self.settings, self.codec)
        self._pending_end = None
        self._interrupted = False
        self._noted.clear()
        self._ctx = ctx
        self._loop = asyncio.get_running_loop()
        self._open = True
        offer = ctx.charger_offer()
        self.core.set_charger_offer(offer.max_voltage_v, offer.max_current_a)
        if ctx.lines is not None and ctx.lines is not self._listening_to:
            # VehicleLines has no remove_listener: listen once per lines object, ignore calls while closed
            ctx.lines.add_listener(self._on_lines)
            self._listening_to = ctx.lines
        self._k = bool(ctx.lines.input_active(LINE_K)) if ctx.lines is not None else False
        self.core.on_k(self._k, ctx.now())
        self.channel.set_receiver(self._on_frame)

    async def run_stage(self, stage: Stage, ctx: StageContext) -> None:
        # stopping and unlock also run when the session ended before open() (a stop at plug-in)
        self._ctx = ctx
        self._loop = asyncio.get_running_loop()
        self._open = True  # (without open() there is no link, but the stop sequence's timers and operations run)
        if stage is Stage.PARAMETER_NEGOTIATION:
            offer = ctx.charger_offer()
            self.core.set_charger_offer(offer.max_voltage_v, offer.max_current_a)
        if self._pending_end is not None and stage not in (Stage.STOPPING, Stage.UNLOCK):
            raise self._pending_end
        if stage in (Stage.STOPPING, Stage.UNLOCK):
            self._cancel_op()
        stop_reason = ctx.stop_reason
        if stage is Stage.STOPPING and stop_reason is None and self._interrupted and self.core.end is None:
            # the step was cancelled without a station stop: the power path tripped (0x109 charger malfunction)
            stop_reason = Reason.HARDWARE_FAULT if ctx.tripped else None
        loop = asyncio.get_running_loop()
        self._waiting = loop.create_future()
        self._waiting_stage = stage
        self._interrupted = True
        try:
            self._observe()
            self._apply(self.core.begin(stage, ctx.now(), stop_reason))
            await self._waiting
            self._interrupted = False
        except SessionEnd:
            self._interrupted = False
            raise
        finally:
            self._waiting = None
            self._waiting_stage = None

    async def close(self) -> None:
        self._open = False
        self._cancel_op()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.channel.set_receiver(None)
        ctx = self._ctx
        if ctx is not None and ctx.lines is not None:
            # STOPPING switched them off already; this covers a session torn down without it
            ctx.lines.set_output("d2", False)
            ctx.lines.set_output("d1", False)

    # ------------------------------------------------------------------ inputs
    def _on_frame(self, frame: CanFrame) -> None:
        if not self._open or self._ctx is None or frame.arbitration_id not in m.VEHICLE_IDS or frame.is_extended_id:
            return  # other traffic on the bus (and our own frames echoed back) costs nothing
        self.rx_count += 1
        ctx = self._ctx
        if ctx.current_stage() in TRACED_STAGES:
            ctx.trace("rx", "can", frame.candump(self.channel.name))
        self._observe()
        self._apply(self.core.on_frame(frame, ctx.now()))
        if frame.arbitration_id == m.ID_VEHICLE_CONTROL:
            self._update_vehicle_status()

    def _on_lines(self) -> None:
        if not self._open or self._ctx is None or self._ctx.lines is None:
            return
        k = bool(self._ctx.lines.input_active(LINE_K))
        if k != self._k:
            self._k = k
            self._observe()
            self._apply(self.core.on_k(k, self._ctx.now()))

    def _on_timer(self) -> None:
        self._timer = None
        if not self._open or self._ctx is None:
            return
        self._observe()
        self._apply(self.core.on_time(self._ctx.now()))

    def _observe(self) -> None:
        ctx = self._ctx
        assert ctx is not None
        self.core.observe(
            Measurements(
                output_voltage_v=ctx.measured_voltage_v(),
                inlet_voltage_v=ctx.vehicle_side_voltage_v(),
                output_current_a=ctx.measured_current_a(),
            )
        )

    # ------------------------------------------------------------------ outputs
    def _apply(self, actions: list[Action]) -> None:
        ctx = self._ctx
        assert ctx is not None
        for action in actions:
            match action:
                case Send(frame):
                    self._send(frame)
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
                case StageDone(stage):
                    if self._waiting is not None and not self._waiting.done() and stage is self._waiting_stage:
                        self._waiting.set_result(None)
                case End(error):
                    self._end(error)
                case Note(text):
                    if text not in self._noted and len(self._noted) < MAX_NOTES:
                        # a quirk repeats in every frame: say it once per session
                        self._noted.add(text)
                        ctx.log.info("chademo", note=text)
        self._rearm()

    def _send(self, frame: CanFrame) -> None:
        ctx = self._ctx
        assert ctx is not None and self._loop is not None
        try:
            self.channel.send(frame)
        except CanError as exc:
            if ctx.current_stage() in (Stage.STOPPING, Stage.UNLOCK):
                ctx.log.warning("chademo.send_failed", error=str(exc))
            else:
                self._end(StageFailure(Reason.COMMUNICATION_LOST, str(exc)))
            return
        self.tx_count += 1
        if ctx.current_stage() in TRACED_STAGES:
            ctx.trace("tx", "can", frame.candump(self.channel.name))

    def _rearm(self) -> None:
        deadline = self.core.next_deadline()
        loop = self._loop
        if loop is None or not self._open:
            return
        if self._timer is not None:
            if deadline is not None and abs(self._timer.when() - deadline) < 1e-9:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            self._timer = loop.call_at(deadline, self._on_timer)

    def _end(self, error: SessionEnd) -> None:
        """End the running stage step with `error`, or the next one if no step is running."""
        waiting = self._waiting
        if waiting is None or waiting.done():
            self._pending_end = self._pending_end or error
            return
        if self._waiting_stage not in (Stage.STOPPING, Stage.UNLOCK):
            # no power-path operation of a failed stage may race the stop sequence
            self._cancel_op()
        waiting.set_exception(error)

    # ------------------------------------------------------------------ power-path operations
    def _start_op(self, action: Do) -> None:
        assert self._loop is not None
        self._op_task = self._loop.create_task(self._run_op(action), name=f"chademo-{action.op.value}")

    async def _run_op(self, action: Do) -> None:
        ctx = self._ctx
        assert ctx is not None
        try:
            match action.op:
                case Op.LOCK:
                    await ctx.lock_connector()
                case Op.INSULATION_TEST:
                    await ctx.insulation_test(action.voltage_v)
                case Op.CLOSE_CONTACTORS:
                    await ctx.close_contactors()
                case Op.RAMP_DOWN:
                    await ctx.ramp_down()
                case Op.OPEN_CONTACTORS:
                    await ctx.open_contactors()
                case Op.DISCHARGE:
                    await ctx.discharge()
                case Op.UNLOCK:
                    await ctx.unlock_connector()
        except SessionEnd as exc:
            self._end(exc)
            return
        if self._open:
            self._observe()
            self._apply(self.core.done(action.op, ctx.now()))

    def _cancel_op(self) -> None:
        if self._op_task is not None and not self._op_task.done():
            self._op_task.cancel()
        self._op_task = None

    # ------------------------------------------------------------------ vehicle status for the session
    def _update_vehicle_status(self) -> None:
        ctx = self._ctx
        ctl = self.core.control
        if ctx is None or ctl is None:
            return
        status = ctx.vehicle
        status.soc_pct = self.core.soc_pct()
        status.requested_current_a = float(ctl.current_request_a)
        status.requested_voltage_v = float(ctl.target_voltage_v) if ctl.target_voltage_v is not None else None
        status.remaining_time_s = self.core.remaining_time_s(ctx.now())
        if self.core.charge_time is not None:
            status.extra["capacity_kwh"] = self.core.charge_time.capacity_kwh
        status.extra["protocol"] = self.core.protocol_label()
