"""How cost grows with the number of connectors charging at once (a large station), on real time.

For 1, 4 and 8 connectors (quick: 2), alternately CHAdeMO and GB/T, and 4 connectors of which one is CCS (when a
network namespace can be made: root), the whole station is built
(`evse.station.build`: sessions, safety supervisors, adapters, power-budget sharing) over the simulation's in-loop
CAN bus, a simulated vehicle is plugged into every connector, and once every session is in energy transfer we
measure for a window of real time:

* **reaction latency** — from a vehicle handing a frame to its CAN link (the frame's send stamp, loop time) to the
  charger's request reaching the power path (`SessionContext.request`) while handling that frame: the bus hop,
  the wait in the busy event loop (quoted separately: frame stamp → its delivery starting), the decode and the
  protocol core. Only frames that produce a request count (CHAdeMO 0x102, GB/T BCL). Baseline, same run: a bare
  in-loop bus echo (frame out → receiver called) on an otherwise idle loop — the floor of the bus hop; and, in
  the note, how late a 50 ms timer fires in the same window (the loop's and the machine's scheduling noise).
* **CPU** — process CPU time ÷ wall time over the window, in % of one core (everything runs in the one loop
  thread: station, plants, simulated vehicles and batteries, so this is an upper bound of the charger's own cost).
  Baseline, same run: the same station with no vehicle plugged in (idle connectors).

CPU and latency are meaningless on the virtual clock, so this runs on a plain asyncio loop.

    .venv/bin/evse-bench --only scaling
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from bench.harness import Result, Stats
from evse.can.channel import CanFrame, InLoopBus, InLoopChannel

#: a simulated vehicle profile per standard (their packs start low enough to charge through the window)
PROFILES = {"chademo": "chademo-1.0-40kwh", "gbt": "gbt-2015-60kwh", "ccs": "ccs-400v-77kwh"}
STANDARDS = ("chademo", "gbt")
#: a 4-connector station with a CCS car among the CAN cars: the V2G stack (its EXI codec calls block the loop)
#: beside the CAN sessions; needs a network namespace (root) for the CCS car's veth pair
MIXED_WITH_CCS = ("ccs", "chademo", "gbt", "chademo")
#: the vehicle frame whose handling makes the request, per standard
FRAME_NAMES = {"chademo": "CHAdeMO 0x102", "gbt": "GB/T BCL"}
REACTION_TARGET_MS = 2.0
SETUP_TIMEOUT_S = 120.0
#: period of the lateness probe (20 wake-ups/s: next to nothing in the CPU figure)
LAG_PERIOD_S = 0.05


class _Probe:
    """Class-level hooks (benchmark only): which vehicle frame the loop is delivering to a charger endpoint now,
    and the latency of each power-path request made while delivering it."""

    def __init__(self) -> None:
        #: id of each charger-side CAN endpoint → its connector's standard
        self.charger_endpoints: dict[int, str] = {}
        self.frame: CanFrame | None = None
        self.standard = ""
        #: loop time the current frame's delivery began (after its wait in the loop's ready queue)
        self.delivered_s = 0.0
        #: (standard, ms, ms of it spent waiting to be delivered) per power-path request made while a vehicle
        #: frame was being delivered
        self.samples: list[tuple[str, float, float]] = []
        self.recording = False

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        from evse.session.power_path import SessionContext

        deliver: Callable[[InLoopChannel, CanFrame], None] = InLoopChannel._deliver
        request: Callable[..., Any] = SessionContext.request
        probe = self

        def probed_deliver(channel: InLoopChannel, frame: CanFrame) -> None:
            standard = probe.charger_endpoints.get(id(channel))
            if standard is None:
                deliver(channel, frame)
                return
            probe.frame, probe.standard = frame, standard
            probe.delivered_s = asyncio.get_running_loop().time()
            try:
                deliver(channel, frame)
            finally:
                probe.frame = None

        def probed_request(ctx: Any, voltage_v: float, current_a: float) -> Any:
            frame = probe.frame
            if probe.recording and frame is not None:
                latency_ms = (asyncio.get_running_loop().time() - frame.timestamp_s) * 1e3
                probe.samples.append((probe.standard, latency_ms, (probe.delivered_s - frame.timestamp_s) * 1e3))
                probe.frame = None  # one sample per frame
            return request(ctx, voltage_v, current_a)

        InLoopChannel._deliver = probed_deliver  # type: ignore[method-assign,assignment]
        SessionContext.request = probed_request  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            InLoopChannel._deliver = deliver  # type: ignore[method-assign,assignment]
            SessionContext.request = request  # type: ignore[method-assign]


def _mix(n: int) -> tuple[str, ...]:
    """n connectors, alternately CHAdeMO and GB/T."""
    return tuple(STANDARDS[i % 2] for i in range(n))


def _config(standards: tuple[str, ...], quick: bool) -> Any:
    from evse.config.schema import Config, ConnectorSettings

    connectors = [
        ConnectorSettings(
            id=i + 1,
            standard=standard,  # type: ignore[arg-type]
            max_voltage_v=750.0,
            max_current_a=125.0,
            max_power_w=62_500.0,
            cable_max_current_a=125.0,
        )
        for i, standard in enumerate(standards)
    ]
    base = Config()
    sim = base.sim
    if quick:
        # quick mode only checks the benchmark runs: a faster insulation test shortens the way to energy transfer
        sim = msgspec.structs.replace(
            sim, imd=msgspec.structs.replace(sim.imd, sample_period_s=0.2, settling_time_constant_s=0.05)
        )
    return msgspec.structs.replace(
        base,
        connectors=connectors,
        sim=sim,
        station=msgspec.structs.replace(base.station, free_vend=True, power_budget_w=1e6),
        ocpp=msgspec.structs.replace(base.ocpp, enabled=False),
    )


async def _loop_lag(stop: asyncio.Event, out_ms: list[float]) -> None:
    """How late a 50 ms timer fires, over and over: the loop's and the machine's scheduling noise in the same
    window (a late timer means the loop was busy or the process was not running)."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        due = loop.time() + LAG_PERIOD_S
        await asyncio.sleep(LAG_PERIOD_S)
        out_ms.append((loop.time() - due) * 1e3)


async def _station_window(
    standards: tuple[str, ...],
    window_s: float,
    quick: bool,
    *,
    plug: bool,
    probe: _Probe,
    lag_ms: list[float] | None = None,
) -> tuple[float, int]:
    """Build a station with these connectors, plug a vehicle into each (when `plug`), wait for energy transfer on
    every connector, then measure for `window_s`. Returns (% of one core, samples recorded)."""
    from evse.session.events import EventBus
    from evse.sim.dock import VehicleDock
    from evse.sim.profile import load_profile
    from evse.sim.world import SimWorld, activate
    from evse.station.build import build_station

    loop = asyncio.get_running_loop()
    config = _config(standards, quick)
    world = SimWorld(config.sim, seed=1)
    activate(world)
    dock = VehicleDock(world)
    station: Any = None
    try:
        station = build_station(config, bus=EventBus(), loop=loop)
        await station.start()
        for connector in station.connectors.values():
            port: Any = getattr(connector.spec.new_adapter, "__self__", None)
            if callable(getattr(port, "stack", None)):
                await port.stack()  # the V2G stack loads after start: not part of the measured window
        probe.charger_endpoints = {
            id(world.charger_channel(c.id)): c.standard for c in config.connectors if c.standard in STANDARDS
        }
        if plug:
            for connector in config.connectors:
                dock.plug(connector.id, load_profile(PROFILES[connector.standard]))
            deadline = loop.time() + SETUP_TIMEOUT_S
            while not all(station.snapshot(c.id).stage == "energy_transfer" for c in config.connectors):
                if loop.time() > deadline:
                    stages = [station.snapshot(c.id).stage for c in config.connectors]
                    raise RuntimeError(f"not every session reached energy transfer in {SETUP_TIMEOUT_S:g} s: {stages}")
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # let the current ramps settle into steady charging
        gc.collect()
        before = len(probe.samples)
        probe.recording = True
        stop_lag = asyncio.Event()
        lag_task = loop.create_task(_loop_lag(stop_lag, lag_ms)) if lag_ms is not None else None
        cpu0, wall0 = time.process_time(), time.perf_counter()  # wall-clock ok: benchmark
        await asyncio.sleep(window_s)
        cpu_pct = (time.process_time() - cpu0) / (time.perf_counter() - wall0) * 100  # wall-clock ok: benchmark
        stop_lag.set()
        if lag_task is not None:
            await lag_task
        probe.recording = False
        if plug:
            stages = [station.snapshot(c.id).stage for c in config.connectors]
            if any(s != "energy_transfer" for s in stages):
                raise RuntimeError(f"a session left energy transfer during the window: {stages}")
        return cpu_pct, len(probe.samples) - before
    finally:
        probe.recording = False
        if station is not None:
            await station.shutdown(15.0)  # vehicles still plugged: sessions end the normal way
        dock.close()
        activate(None)
        world.close()


async def _in_loop_echo(samples: int) -> list[float]:
    """Bare in-loop bus hop: vehicle endpoint sends, charger endpoint's receiver runs (ms)."""
    loop = asyncio.get_running_loop()
    bus = InLoopBus("bench-echo")
    charger, vehicle = bus.attach("charger"), bus.attach("vehicle")
    out: list[float] = []
    got: list[asyncio.Future[None]] = []

    def on_frame(frame: CanFrame) -> None:
        out.append((loop.time() - frame.timestamp_s) * 1e3)
        got[-1].set_result(None)

    charger.set_receiver(on_frame)
    for _ in range(samples):
        got.append(loop.create_future())
        vehicle.send(CanFrame(0x102, bytes(8)))
        await got[-1]
    charger.close()
    vehicle.close()
    return out


async def _all(quick: bool) -> list[Result]:
    from evse.protocols.ccs.netns import netns_unavailable_reason

    mixes = [_mix(2)] if quick else [_mix(1), _mix(4), _mix(8)]
    if not quick and not netns_unavailable_reason():
        mixes.append(MIXED_WITH_CCS)
    window_s = 0.5 if quick else 15.0
    idle_window_s = min(window_s, 5.0)
    echo = Stats.of(await _in_loop_echo(200 if quick else 5000))
    results: list[Result] = []
    probe = _Probe()
    with probe.installed():
        for standards in mixes:
            n = len(standards)
            idle_cpu, _ = await _station_window(standards, idle_window_s, quick, plug=False, probe=probe)
            start = len(probe.samples)
            lag_ms: list[float] = []
            cpu, _count = await _station_window(standards, window_s, quick, plug=True, probe=probe, lag_ms=lag_ms)
            lag = Stats.of(lag_ms or [float("nan")])
            counts = {s: standards.count(s) for s in ("ccs", *STANDARDS)}
            mix = " + ".join(f"{k} {s}" for s, k in counts.items() if k)
            label = f"{n} connector{'s' if n > 1 else ''} charging ({mix})"
            for standard in STANDARDS:
                samples = [ms for s, ms, _ in probe.samples[start:] if s == standard]
                waits = [wait for s, _, wait in probe.samples[start:] if s == standard]
                if not counts[standard]:
                    continue
                latency, wait = Stats.of(samples or [float("nan")]), Stats.of(waits or [float("nan")])
                results.append(
                    Result(
                        f"scaling: {FRAME_NAMES[standard]} → power-path request, {label}",
                        "ms",
                        latency.median,
                        latency.p99,
                        baseline=echo.median,
                        baseline_name="bare in-loop bus hop",
                        target=REACTION_TARGET_MS,
                        n=len(samples),
                        note=f"of which waiting in the loop: median {wait.median:.3f}, p99 {wait.p99:.3f} ms; "
                        f"50 ms timer lateness in the window p99 {lag.p99:.2f} ms; "
                        f"real time, {window_s:g} s window; hop p99 {echo.p99 * 1e3:.0f} µs",
                    )
                )
            results.append(
                Result(
                    f"scaling: CPU with {label}",
                    "% of one core",
                    cpu,
                    baseline=idle_cpu,
                    baseline_name=f"same {n} connectors idle",
                    n=1,
                    note="station + simulated plants and vehicles in one loop"
                    + ("; the CCS car's EVCC and its codec calls too (the JVM apart)" if counts["ccs"] else ""),
                )
            )
    return results


def run(quick: bool) -> list[Result]:
    return asyncio.run(_all(quick))
