"""The CHAdeMO `ProtocolAdapter`: the thin I/O layer around `ChademoCore`.

Theory of operation
-------------------
* Everything the vehicle does arrives as a callback in the loop: a CAN frame (the channel's synchronous
  receiver), a line change (the `VehicleLines` listener: k), a timer at `core.next_deadline()` (an absolute
  `loop.call_at`, so the cyclic frames keep their grid). Each callback feeds the core with the charger's
  measurements and carries out the actions it returns, inside the same call — a reaction frame leaves in the
  same loop pass as the frame that caused it.
* The actions — power-path operations (lock, insulation test, contactors, ramp-down, discharge, unlock) through
  the session's `StageContext` only, d1/d2, requests, limits, identity, stage done / end — are carried out by the
  executor the CAN adapters share (`evse.protocols.executor`: its rules say how a stage step waits, ends and
  fails); this adapter adds only the frames (`Send`) and the timer at the core's next deadline.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from evse.can.channel import CanChannel, CanError, CanFrame
from evse.protocols.chademo import messages as m
from evse.protocols.chademo.actions import Action, Do, Measurements, Send
from evse.protocols.chademo.codec import ChademoCodec
from evse.protocols.chademo.core import ChademoCore
from evse.protocols.chademo.settings import ChademoSettings
from evse.protocols.executor import CLOSING_STAGES, CoreExecutor
from evse.protocols.operations import OpResult
from evse.session.adapter import CHADEMO_PLAN, Plan
from evse.session.errors import StageFailure
from evse.session.plug_line import PlugLine
from evse.session.stages import Reason, Stage

if TYPE_CHECKING:
    from evse.session.context import StageContext

#: line names (evse.hardware.roles.VehicleLines)
LINE_K = "k"
LINE_CONNECTED = "connected"
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
        self.executor = CoreExecutor("chademo", self._op_done, self._apply_own)
        #: the connection check: the safety supervisor trips when it goes inactive during energy transfer
        self.plug_line = PlugLine(LINE_CONNECTED)
        self._ctx: StageContext | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._k = False
        self._connected: bool | None = None
        self._listening_to: object | None = None
        #: frames sent and received (for diagnostics and tests)
        self.tx_count = 0
        self.rx_count = 0

    # ------------------------------------------------------------------ ProtocolAdapter
    async def open(self, ctx: StageContext) -> None:
        # a fresh protocol state per session, so the station may keep one adapter per connector
        self.core = ChademoCore(self.settings, self.codec)
        self.executor.reset()
        self._bind(ctx)
        offer = ctx.charger_offer()
        self.core.set_charger_offer(offer.max_voltage_v, offer.max_current_a)
        if ctx.lines is not None and ctx.lines is not self._listening_to:
            # VehicleLines has no remove_listener: listen once per lines object, ignore calls while closed
            ctx.lines.add_listener(self._on_lines)
            self._listening_to = ctx.lines
        self._k = bool(ctx.lines.input_active(LINE_K)) if ctx.lines is not None else False
        self.core.on_k(self._k, ctx.now())
        self._connected = self.plug_line.inserted(ctx.lines) if ctx.lines is not None else None
        self.core.on_connected(self._connected, ctx.now())
        self.channel.set_receiver(self._on_frame)

    async def run_stage(self, stage: Stage, ctx: StageContext) -> None:
        # stopping and unlock also run when the session ended before open() (a stop at plug-in): without open()
        # there is no link, but the stop sequence's timers and operations run
        self._bind(ctx)
        if stage is Stage.PARAMETER_NEGOTIATION:
            offer = ctx.charger_offer()
            self.core.set_charger_offer(offer.max_voltage_v, offer.max_current_a)
        stop_reason = ctx.stop_reason
        if stage is Stage.STOPPING and stop_reason is None and self.executor.interrupted and self.core.end is None:
            # the step was cancelled without a station stop: the power path tripped (0x109 charger malfunction)
            stop_reason = Reason.HARDWARE_FAULT if ctx.tripped else None

        def begin() -> None:
            self._observe()
            self._apply(self.core.begin(stage, ctx.now(), stop_reason))

        await self.executor.run_step(stage, begin)

    async def close(self) -> None:
        self.executor.open = False
        self.executor.cancel_ops()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.channel.set_receiver(None)
        ctx = self._ctx
        if ctx is not None and ctx.lines is not None:
            # STOPPING switched them off already; this covers a session torn down without it
            ctx.lines.set_output("d2", False)
            ctx.lines.set_output("d1", False)

    def _bind(self, ctx: StageContext) -> None:
        self._ctx = self.executor.ctx = ctx
        self._loop = asyncio.get_running_loop()
        self.executor.open = True

    # ------------------------------------------------------------------ inputs
    def _on_frame(self, frame: CanFrame) -> None:
        ctx = self._ctx
        if not self.executor.open or ctx is None or frame.arbitration_id not in m.VEHICLE_IDS or frame.is_extended_id:
            return  # other traffic on the bus (and our own frames echoed back) costs nothing
        self.rx_count += 1
        self.executor.trace("rx", frame, self.channel.name)
        self._observe()
        self._apply(self.core.on_frame(frame, ctx.now()))
        if frame.arbitration_id == m.ID_VEHICLE_CONTROL:
            self._update_vehicle_status()

    def _on_lines(self) -> None:
        ctx = self._ctx
        if not self.executor.open or ctx is None or ctx.lines is None:
            return
        connected = self.plug_line.inserted(ctx.lines)
        if connected != self._connected:
            self._connected = connected
            self._observe()
            self._apply(self.core.on_connected(connected, ctx.now()))
        k = bool(ctx.lines.input_active(LINE_K))
        if k != self._k:
            self._k = k
            self._observe()
            self._apply(self.core.on_k(k, ctx.now()))

    def _on_timer(self) -> None:
        self._timer = None
        if not self.executor.open or self._ctx is None:
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
        self.executor.apply(actions)  # type: ignore[arg-type]
        self._rearm()

    def _apply_own(self, action: object) -> None:
        if isinstance(action, Send):
            self._send(action.frame)

    def _op_done(self, action: Do, result: OpResult) -> None:
        ctx = self._ctx
        assert ctx is not None
        self._observe()
        self._apply(self.core.done(action.op, ctx.now()))

    def _send(self, frame: CanFrame) -> None:
        ctx = self._ctx
        assert ctx is not None
        try:
            self.channel.send(frame)
        except CanError as exc:
            if ctx.current_stage() in CLOSING_STAGES:
                self.executor.warn("send_failed", error=str(exc))
            else:
                self.executor.end(StageFailure(Reason.COMMUNICATION_LOST, str(exc)))
            return
        self.tx_count += 1
        self.executor.trace("tx", frame, self.channel.name)

    def _rearm(self) -> None:
        deadline = self.core.next_deadline()
        loop = self._loop
        if loop is None or not self.executor.open:
            return
        if self._timer is not None:
            if deadline is not None and abs(self._timer.when() - deadline) < 1e-9:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            self._timer = loop.call_at(deadline, self._on_timer)

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
