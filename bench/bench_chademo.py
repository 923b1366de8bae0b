"""CHAdeMO over python-can's `virtual` bus: reaction latency and cyclic-frame period error under bus load.

1. **Reaction latency** — a vehicle (a plain python-can bus driven from its own thread, like a second ECU) sends
   its first 0x102; the charger (`ChademoAdapter` on a `PythonCanChannel`: python-can's reader thread, the loop,
   the codec, the core) answers with its first 0x108. Measured from the vehicle's send to its reception of 0x108.
   Baseline, same run, same threads: a bare python-can echo (a `can.Notifier` listener in the loop that sends a
   frame back on every frame it receives), so the ratio is what our stack adds to python-can's own round trip.
2. **Period error** — the adapter's 0x108/0x109 cycle while a flood task in the same loop sends ~70 % of a
   500 kbit/s bus (3,000 frames/s) that the charger must also receive. Error = |interval − 100 ms| between
   consecutive 0x108 as the bus timestamps them. Baseline: a bare `loop.call_at` 100 ms sender under the same
   flood.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import threading
import time
from typing import Any

import can
import structlog

from bench.harness import Result, Stats
from evse.can.channel import CanFrame
from evse.can.pythoncan import PythonCanChannel
from evse.protocols.chademo import messages as m
from evse.protocols.chademo.adapter import ChademoAdapter
from evse.protocols.chademo.codec import ChademoCodec
from evse.protocols.chademo.settings import ChademoSettings
from evse.session.context import ChargerOffer, Setpoint, VehicleStatus
from evse.session.stages import Stage

#: 70 % of a 500 kbit/s bus with 8-byte standard frames (~115 bits each with stuffing): ~3,000 frames/s
FLOOD_FRAMES_PER_S = 3000
FLOOD_ID = 0x7A0
RECV_TIMEOUT_S = 1.0
_names = itertools.count()


class _Lines:
    def __init__(self) -> None:
        self.outputs: dict[str, bool] = {}

    def set_output(self, line: str, on: bool) -> None:
        self.outputs[line] = on

    def output(self, line: str) -> bool:
        return self.outputs.get(line, False)

    def input_active(self, line: str) -> bool:
        return False

    def input_voltage_v(self, line: str) -> float:
        return 0.0

    def add_listener(self, listener: Any) -> None:
        pass


class _BenchContext:
    """The parts of the stage API the wake-up stage touches; power-path calls are never reached here."""

    def __init__(self, stage: Stage) -> None:
        self.connector_id = 1
        self.session_id = "bench"
        self.standard = "chademo"
        self.log = structlog.get_logger("bench")
        self.stop_requested = asyncio.Event()
        self.stop_reason = None
        self.vehicle = VehicleStatus()
        self.lines = _Lines()
        self.pilot = None
        self._stage = stage
        self._loop = asyncio.get_running_loop()

    def now(self) -> float:
        return self._loop.time()

    def current_stage(self) -> Stage:
        return self._stage

    def charger_offer(self) -> ChargerOffer:
        return ChargerOffer(500, 150, 125, 0, 50_000)

    def trace(self, direction: str, kind: str, text: str) -> None:
        pass

    def measured_voltage_v(self) -> float:
        return 0.0

    def measured_current_a(self) -> float:
        return 0.0

    def vehicle_side_voltage_v(self) -> float:
        return 0.0

    def set_vehicle_limits(self, limits: Any) -> None:
        pass

    def identify(self, protocol_version: str, identity: dict[str, str]) -> None:
        pass

    def request(self, voltage_v: float, current_a: float) -> Setpoint:
        return Setpoint(voltage_v, current_a, "bench")


def _vehicle_frames() -> list[can.Message]:
    codec = ChademoCodec()
    frames = [
        codec.encode(m.VehicleControl(protocol_number=2, target_voltage_v=400)),
        codec.encode(m.VehicleBatteryLimits(max_battery_voltage_v=410)),
        codec.encode(m.VehicleChargeTime(max_charge_time_s=3600, capacity_raw=400)),
    ]
    return [can.Message(arbitration_id=f.arbitration_id, data=f.data, is_extended_id=False) for f in frames]


# ---------------------------------------------------------------- 1. reaction latency
async def _reaction_latency(samples: int, *, echo: bool) -> list[float]:
    name = f"bench-chademo-{next(_names)}"
    loop = asyncio.get_running_loop()
    vehicle = can.Bus(interface="virtual", channel=name)
    charger_bus = can.Bus(interface="virtual", channel=name)
    first_frame = _vehicle_frames()[0]
    notifier: can.Notifier | None = None
    channel: PythonCanChannel | None = None
    state: dict[str, Any] = {}

    if echo:
        reply = can.Message(arbitration_id=m.ID_CHARGER_CAPABILITY, data=bytes(8), is_extended_id=False)
        notifier = can.Notifier(charger_bus, [lambda msg: charger_bus.send(reply, timeout=0)], timeout=0.05, loop=loop)
    else:
        channel = PythonCanChannel(charger_bus, name)

    async def prepare() -> None:
        """A fresh session waiting for the vehicle's first frame (its reaction starts the 0x108/0x109 cycle).
        Outside the timed region, for both sides alike: collect the garbage the previous sample left, so a
        collection of the benchmark's own per-sample objects does not land inside a measurement."""
        gc.collect(0)
        if echo:
            return
        assert channel is not None
        old = state.get("adapter")
        if old is not None:
            state["task"].cancel()
            await old.close()
        ctx = _BenchContext(Stage.BMS_WAKE_UP)
        adapter = ChademoAdapter(channel, ChademoSettings())
        await adapter.open(ctx)  # type: ignore[arg-type]
        state["adapter"] = adapter
        state["task"] = loop.create_task(adapter.run_stage(Stage.BMS_WAKE_UP, ctx))  # type: ignore[arg-type]
        for _ in range(3):
            await asyncio.sleep(0)  # let the old step's cancellation and the new step's start run now

    def drive() -> list[float]:
        out: list[float] = []
        for _ in range(samples):
            asyncio.run_coroutine_threadsafe(prepare(), loop).result(RECV_TIMEOUT_S)
            while vehicle.recv(0) is not None:
                pass  # drop anything left from the previous sample
            t0 = time.perf_counter()  # wall-clock ok: benchmark
            vehicle.send(first_frame)
            while True:
                msg = vehicle.recv(RECV_TIMEOUT_S)
                if msg is None:
                    raise RuntimeError("no reaction frame within 1 s")
                if msg.arbitration_id == m.ID_CHARGER_CAPABILITY:
                    break
            out.append((time.perf_counter() - t0) * 1e6)  # wall-clock ok: benchmark
        return out

    try:
        return await loop.run_in_executor(None, drive)
    finally:
        if "adapter" in state:
            state["task"].cancel()
            await state["adapter"].close()
        if notifier is not None:
            notifier.stop(0.2)
        if channel is not None:
            channel.close()
        else:
            charger_bus.shutdown()
        vehicle.shutdown()


# ---------------------------------------------------------------- 1b. the same reaction inside one loop
async def _reaction_in_loop(samples: int, *, echo: bool) -> list[float]:
    """The reaction over the simulation's in-loop bus: no python-can thread, so what is left is our own work
    (decode, core, encode) plus the bus's call_soon hops; the baseline answers with no work at all."""
    from evse.can.channel import InLoopBus

    loop = asyncio.get_running_loop()
    bus = InLoopBus("bench")
    charger, vehicle = bus.attach("charger"), bus.attach("vehicle")
    first = _vehicle_frames()[0]
    frame = CanFrame(first.arbitration_id, bytes(first.data))
    reply = CanFrame(m.ID_CHARGER_CAPABILITY, bytes(8))
    got: asyncio.Future[None] | None = None

    def on_vehicle(f: CanFrame) -> None:
        if f.arbitration_id == m.ID_CHARGER_CAPABILITY and got is not None and not got.done():
            got.set_result(None)

    vehicle.set_receiver(on_vehicle)
    if echo:
        charger.set_receiver(lambda f: charger.send(reply))
    out: list[float] = []
    adapter: ChademoAdapter | None = None
    task: asyncio.Task[None] | None = None
    for _ in range(samples):
        if not echo:
            if adapter is not None and task is not None:
                task.cancel()
                await adapter.close()
            ctx = _BenchContext(Stage.BMS_WAKE_UP)
            adapter = ChademoAdapter(charger, ChademoSettings())
            await adapter.open(ctx)  # type: ignore[arg-type]
            task = loop.create_task(adapter.run_stage(Stage.BMS_WAKE_UP, ctx))  # type: ignore[arg-type]
        for _ in range(3):
            await asyncio.sleep(0)
        gc.collect(0)
        got = loop.create_future()
        t0 = time.perf_counter()  # wall-clock ok: benchmark
        vehicle.send(frame)
        await got
        out.append((time.perf_counter() - t0) * 1e6)  # wall-clock ok: benchmark
    if adapter is not None and task is not None:
        task.cancel()
        await adapter.close()
    return out


# ---------------------------------------------------------------- 2. period error under load
async def _flood(bus: can.BusABC, stop: asyncio.Event) -> int:
    """Send FLOOD_FRAMES_PER_S from the loop, in 1 ms batches, catching up on any lag."""
    loop = asyncio.get_running_loop()
    msg = can.Message(arbitration_id=FLOOD_ID, data=bytes(8), is_extended_id=False)
    start, sent = loop.time(), 0
    while not stop.is_set():
        due = int((loop.time() - start) * FLOOD_FRAMES_PER_S)
        for _ in range(due - sent):
            bus.send(msg)
        sent = max(sent, due)
        await asyncio.sleep(0.001)
    return sent


async def _vehicle_cycle(bus: can.BusABC, stop: asyncio.Event) -> None:
    frames = _vehicle_frames()
    loop = asyncio.get_running_loop()
    start, n = loop.time(), 0
    while not stop.is_set():
        for msg in frames:
            bus.send(msg)
        n += 1
        await asyncio.sleep(max(0.0, start + n * 0.1 - loop.time()))


def _collect(bus: can.BusABC, stop: threading.Event, ident: int, stamps: list[float]) -> None:
    while not stop.is_set():
        msg = bus.recv(0.05)
        if msg is not None and msg.arbitration_id == ident:
            stamps.append(msg.timestamp)


async def _period_errors(duration_s: float, *, baseline: bool) -> tuple[list[float], int]:
    name = f"bench-chademo-{next(_names)}"
    loop = asyncio.get_running_loop()
    observer = can.Bus(interface="virtual", channel=name)
    flood_bus = can.Bus(interface="virtual", channel=name)
    vehicle_bus = can.Bus(interface="virtual", channel=name)
    charger_bus = can.Bus(interface="virtual", channel=name)
    stamps: list[float] = []
    stop_threads = threading.Event()
    collector = threading.Thread(target=_collect, args=(observer, stop_threads, m.ID_CHARGER_CAPABILITY, stamps))
    collector.start()
    stop = asyncio.Event()
    flood = loop.create_task(_flood(flood_bus, stop))
    tasks: list[asyncio.Task[None]] = [loop.create_task(_vehicle_cycle(vehicle_bus, stop))]
    channel = PythonCanChannel(charger_bus, name)
    adapter: ChademoAdapter | None = None
    handle: asyncio.TimerHandle | None = None
    try:
        if baseline:
            frame = CanFrame(m.ID_CHARGER_CAPABILITY, bytes(8))
            start = loop.time()
            count = itertools.count(1)

            def tick() -> None:
                nonlocal handle
                channel.send(frame)
                handle = loop.call_at(start + next(count) * 0.1, tick)

            handle = loop.call_at(start, tick)
        else:
            ctx = _BenchContext(Stage.BMS_WAKE_UP)
            adapter = ChademoAdapter(channel, ChademoSettings())
            await adapter.open(ctx)  # type: ignore[arg-type]
            tasks.append(loop.create_task(adapter.run_stage(Stage.BMS_WAKE_UP, ctx)))  # type: ignore[arg-type]
        await asyncio.sleep(duration_s)
    finally:
        stop.set()
        if handle is not None:
            handle.cancel()
        if adapter is not None:
            await adapter.close()
        flooded = await flood
        for task in tasks:
            task.cancel()
        stop_threads.set()
        collector.join()
        channel.close()
        for bus in (observer, flood_bus, vehicle_bus):
            bus.shutdown()
    errors = [abs(b - a - 0.1) * 1e3 for a, b in itertools.pairwise(stamps)]
    return errors, round(flooded / duration_s)


async def _all(quick: bool) -> list[Result]:
    samples = 300 if quick else 10_000
    duration_s = 1.5 if quick else 30.0
    echo = Stats.of(await _reaction_latency(samples, echo=True))
    ours = Stats.of(await _reaction_latency(samples, echo=False))
    echo_in_loop = Stats.of(await _reaction_in_loop(samples, echo=True))
    ours_in_loop = Stats.of(await _reaction_in_loop(samples, echo=False))
    base_err, _ = await _period_errors(duration_s, baseline=True)
    our_err, fps = await _period_errors(duration_s, baseline=False)
    base, period = Stats.of(base_err), Stats.of(our_err)
    return [
        Result(
            "CHAdeMO reaction: vehicle 0x102 → charger 0x108 (python-can virtual)",
            "µs",
            ours.median,
            ours.p99,
            baseline=echo.median,
            baseline_name="bare python-can echo",
            target=2000.0,
            n=ours.n,
            note=f"echo p99 {echo.p99:.0f} µs",
        ),
        Result(
            "CHAdeMO reaction, in-loop bus (no python-can thread): our own work",
            "µs",
            ours_in_loop.median,
            ours_in_loop.p99,
            baseline=echo_in_loop.median,
            baseline_name="in-loop echo",
            n=ours_in_loop.n,
            note=f"echo p99 {echo_in_loop.p99:.0f} µs",
        ),
        Result(
            "CHAdeMO 0x108/0x109 period error under ~70 % bus load",
            "ms",
            period.median,
            period.p99,
            baseline=base.median,
            baseline_name="bare loop.call_at sender",
            target=3.0,
            n=period.n,
            note=f"flood {fps} frames/s; baseline p99 {base.p99:.2f} ms",
        ),
    ]


def run(quick: bool) -> list[Result]:
    return asyncio.run(_all(quick))
