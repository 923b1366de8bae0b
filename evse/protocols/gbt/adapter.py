"""The GB/T 27930 `ProtocolAdapter`: the thin I/O layer around `GbtCore`.

Theory of operation
-------------------
* Everything the vehicle does arrives as a callback in the loop: a CAN frame (the channel's synchronous receiver,
  through `CoreDriver`), a CC1 change (the `VehicleLines` listener), a timer at the core's next absolute deadline.
  Each callback first feeds the core the charger's measurements, then carries out what it returns inside the
  same call — a CTS answers an RTS, and CRM 0xAA answers BRM, in the loop pass that delivered the frame.
* The actions — power-path operations (lock, insulation test, pre-charge, contactors, discharge, unlock) through
  the session's `StageContext` only, lines, requests, limits, identity, stage done / end — are carried out by the
  executor the CAN adapters share (`evse.protocols.executor`: its rules say how a stage step waits, ends and
  fails); this adapter adds only GB/T's `VehicleUpdate` and the driver that sends the core's frames.
* Every CAN frame in either direction goes into the handshake trace (`ctx.trace`, candump lines) during the
  handshake stages and stopping; the energy-transfer loop would flood it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evse.can.channel import CanChannel, CanFrame
from evse.clock import wall_time
from evse.protocols.executor import CoreExecutor
from evse.protocols.gbt.actions import Do, Measurements, Output, VehicleUpdate
from evse.protocols.gbt.core import GbtCore
from evse.protocols.gbt.driver import CoreDriver
from evse.protocols.gbt.sequence import LINE_AUX_12V, LINE_AUX_24V, LINE_CC1
from evse.protocols.gbt.settings import GbtSettings
from evse.protocols.operations import OpResult
from evse.session.adapter import GBT_PLAN, Plan
from evse.session.plug_line import PlugLine
from evse.session.stages import Stage

if TYPE_CHECKING:
    from evse.session.context import StageContext


class _ObservedCore:
    """The core as the driver sees it: every input makes the charger's measurements current (read when used)."""

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
        #: CC1 inserted-and-latched window: the safety supervisor trips when it is left during energy transfer
        self.plug_line = PlugLine(LINE_CC1, self.settings.cc1_connected_v, self.settings.cc1_tolerance_v)
        self.core = GbtCore(self.settings)
        self.core.measure = self._measure
        self.driver: CoreDriver[Output] = CoreDriver(
            channel, _ObservedCore(self), self._apply, on_rx=self._trace_rx, on_tx=self._trace_tx
        )
        self.executor = CoreExecutor("gbt", self._op_done, self._apply_own)
        self._ctx: StageContext | None = None
        self._listening = False

    # ------------------------------------------------------------------ ProtocolAdapter
    async def open(self, ctx: StageContext) -> None:
        self._bind(ctx)
        self.executor.open = True
        self.core.set_charger_offer(ctx.charger_offer())
        # CTS carries local time (GB/T chargers send the local calendar time); the loop maps to it once per use
        self.core.calendar = lambda t_s: wall_time(None, t_s).astimezone().replace(tzinfo=None)
        if ctx.lines is not None and not self._listening:
            ctx.lines.add_listener(self._on_lines)
            self._listening = True
        self.driver.start()
        self._on_lines()

    async def run_stage(self, stage: Stage, ctx: StageContext) -> None:
        self._bind(ctx)
        if stage in (Stage.BMS_WAKE_UP, Stage.PARAMETER_NEGOTIATION):
            self.core.set_charger_offer(ctx.charger_offer())

        def begin() -> None:
            self._observe()
            self.driver.submit(self.core.begin(stage, ctx.now(), ctx.stop_reason))

        await self.executor.run_step(stage, begin)

    async def close(self) -> None:
        self.executor.open = False
        self.executor.cancel_ops()
        self.driver.stop()
        ctx = self._ctx
        if ctx is not None and ctx.lines is not None:
            # UNLOCK switched them off at a safe voltage; this covers a session torn down without it
            ctx.lines.set_output(LINE_AUX_12V, False)
            ctx.lines.set_output(LINE_AUX_24V, False)

    def _bind(self, ctx: StageContext) -> None:
        self._ctx = self.executor.ctx = ctx

    # ------------------------------------------------------------------ inputs
    def _on_lines(self) -> None:
        ctx = self._ctx
        if not self.executor.open or ctx is None or ctx.lines is None:
            return
        voltage_v = ctx.lines.input_voltage_v(LINE_CC1)
        if voltage_v != self.core.cc1_v or self.core.cc1_ok_since_s is None:
            self._observe()
            self.driver.submit(self.core.on_cc1(voltage_v, ctx.now()))

    def _observe(self) -> None:
        """A new input: the core reads the present measurements when (and if) it uses them."""
        self.core.measurements_stale()

    def _measure(self) -> Measurements:
        ctx = self._ctx
        if ctx is None:
            return Measurements()
        return Measurements(
            output_voltage_v=ctx.measured_voltage_v(),
            inlet_voltage_v=ctx.vehicle_side_voltage_v(),
            output_current_a=ctx.measured_current_a(),
        )

    def _trace_rx(self, frame: CanFrame) -> None:
        self.executor.trace("rx", frame, self.channel.name)

    def _trace_tx(self, frame: CanFrame) -> None:
        self.executor.trace("tx", frame, self.channel.name)

    # ------------------------------------------------------------------ outputs
    def _apply(self, output: Output) -> None:
        if output.actions:
            self.executor.apply(output.actions)  # type: ignore[arg-type]

    def _apply_own(self, action: object) -> None:
        if isinstance(action, VehicleUpdate):
            self._update_vehicle(action)

    def _op_done(self, action: Do, result: OpResult) -> None:
        ctx = self._ctx
        assert ctx is not None
        self._observe()
        self.driver.submit(self.core.done(action.op, ctx.now(), result.value, result.detail))

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
    from evse.protocols.gbt.wire import database

    database()  # parse the DBC while the station is built, not at the first car's first frame (on the shared loop)
    return _GbtConnector(channel, context.config.gbt)
