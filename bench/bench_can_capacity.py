"""CAN receive capacity: the highest frame rate the daemon's real receive path decodes without loss, and its CPU,
against the physical ceiling of the bus.

Receive paths (real time, python-can's `virtual` bus; `vcan` cannot be created in a container without the module):
* **CHAdeMO, 500 kbit/s, 11-bit ids** — `PythonCanChannel` (python-can Notifier → the loop) → `ChademoCodec.decode`,
  the vehicle's 0x100/0x101/0x102 in turn. Ceiling: 500,000 / 125 bits ≈ 4,000 8-byte frames/s.
* **GB/T, 250 kbit/s, 29-bit ids** — `PythonCanChannel` → `CoreDriver` → `GbtCore` in energy transfer (id parsing,
  codec, the core's handling), the BMS's BCL and BSM in turn. Ceiling: 250,000 / 150 bits ≈ 1,667 frames/s.
* **baseline, same run** — bare python-can: a Notifier on the loop whose listener only counts.

The other ECU is emulated by putting prepared messages straight into the receiving bus's queue (what python-can's
virtual `send` does, minus its per-frame deepcopy), so the sender costs the receiving process next to nothing.

Figures per path:
* **drain throughput** — N frames queued before the receive path starts; frames/s until the last is decoded. This
  is the most the path can take; CPU per frame from the same run.
* **CPU at the bus ceiling** — frames paced at the ceiling rate for a window (1 ms batches from a thread); CPU of
  the receive threads only (the loop thread plus python-can's reader thread, per-thread CPU clocks), in % of one
  core. Target < 25 %.
* **highest sustained lossless rate** — paced runs at 1, 2, 4, 8… × the ceiling (up to 1.5× the drain
  throughput, so the figure is a lower bound within a factor 2); a run is lossless when every frame
  is decoded within `GRACE_S` of the last one sent (the virtual bus never drops, so a receiver that cannot keep up
  shows as a backlog; a socketcan receive queue would overflow). Counted, not estimated.

    .venv/bin/evse-bench --only can_capacity
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import can

from bench.harness import Result

#: 8-byte data frames incl. typical bit stuffing and the interframe space
BITS_11 = 125
BITS_29 = 150
CEILING_11 = 500_000 / BITS_11
CEILING_29 = 250_000 / BITS_29
CPU_TARGET_PCT = 25.0
GRACE_S = 0.25
BATCH_S = 0.001
_names = itertools.count()


@dataclass
class _Path:
    """A receive path on `bus`: `start()` wires it (inside the loop) and returns a closer; `count()` is frames
    decoded so far."""

    start: Callable[[], Callable[[], None]]
    count: Callable[[], int]
    notifier: Callable[[], can.Notifier | None]


def _chademo_messages() -> list[can.Message]:
    from evse.protocols.chademo import messages as m
    from evse.protocols.chademo.codec import ChademoCodec

    codec = ChademoCodec()
    frames = [
        codec.encode(m.VehicleControl(protocol_number=2, target_voltage_v=400, current_request_a=100)),
        codec.encode(m.VehicleBatteryLimits(max_battery_voltage_v=410)),
        codec.encode(m.VehicleChargeTime(max_charge_time_s=3600, capacity_raw=400)),
    ]
    return [can.Message(arbitration_id=f.arbitration_id, data=f.data, is_extended_id=False) for f in frames]


def _gbt_messages() -> list[can.Message]:
    from evse.protocols.gbt import messages as m
    from evse.protocols.gbt.codec import encode
    from evse.protocols.gbt.ids import BMS_ADDRESS, CHARGER_ADDRESS, Pgn, frame_id

    out = []
    for pgn, msg in ((Pgn.BCL, m.Bcl(voltage_demand_v=450.0, current_demand_a=100.0)), (Pgn.BSM, m.Bsm())):
        ident = frame_id(pgn, BMS_ADDRESS, CHARGER_ADDRESS)
        out.append(can.Message(arbitration_id=ident, data=encode(msg), is_extended_id=True))
    return out


def _bare_path(bus: can.BusABC) -> _Path:
    seen = [0]
    holder: list[can.Notifier] = []

    def on_message(msg: can.Message) -> None:
        seen[0] += 1

    def start() -> Callable[[], None]:
        notifier = can.Notifier(bus, [on_message], timeout=0.05, loop=asyncio.get_running_loop())
        holder.append(notifier)
        return lambda: notifier.stop(0.2)

    return _Path(start, lambda: seen[0], lambda: holder[0] if holder else None)


def _chademo_path(bus: can.BusABC) -> _Path:
    from evse.can.channel import CanFrame
    from evse.can.pythoncan import PythonCanChannel
    from evse.protocols.chademo.codec import ChademoCodec

    codec = ChademoCodec()
    seen = [0]
    holder: list[PythonCanChannel] = []

    def on_frame(frame: CanFrame) -> None:
        if codec.decode(frame) is not None:
            seen[0] += 1

    def start() -> Callable[[], None]:
        channel = PythonCanChannel(bus, "bench", own_bus=False)
        channel.set_receiver(on_frame)
        holder.append(channel)
        return channel.close

    return _Path(start, lambda: seen[0], lambda: getattr(holder[0], "_notifier", None) if holder else None)


def _gbt_path(bus: can.BusABC) -> _Path:
    from evse.can.channel import CanFrame
    from evse.can.pythoncan import PythonCanChannel
    from evse.protocols.gbt.core import GbtCore
    from evse.protocols.gbt.driver import CoreDriver
    from evse.protocols.gbt.settings import GbtSettings
    from evse.session.context import ChargerOffer
    from evse.session.stages import Stage

    seen = [0]
    holder: list[PythonCanChannel] = []

    def on_rx(frame: CanFrame) -> None:
        seen[0] += 1

    def start() -> Callable[[], None]:
        loop = asyncio.get_running_loop()
        channel = PythonCanChannel(bus, "bench", own_bus=False)
        core = GbtCore(GbtSettings(bcl_timeout_s=1e6, bcs_timeout_s=1e6, bsm_timeout_s=1e6))
        core.set_charger_offer(ChargerOffer(750, 200, 250, 0, 60_000))
        core.stage = Stage.ENERGY_TRANSFER
        driver: CoreDriver[Any] = CoreDriver(channel, core, on_rx=on_rx)
        driver.start()
        driver.submit(core.begin(Stage.ENERGY_TRANSFER, loop.time()))
        holder.append(channel)

        def close() -> None:
            driver.stop()
            channel.close()

        return close

    return _Path(start, lambda: seen[0], lambda: getattr(holder[0], "_notifier", None) if holder else None)


def _thread_cpu_s(idents: list[int]) -> float:
    return sum(time.clock_gettime(time.pthread_getcpuclockid(i)) for i in idents)


def _receive_threads(notifier: can.Notifier | None) -> list[int]:
    """The loop's thread and python-can's reader thread(s): where receiving costs CPU."""
    idents = [threading.get_ident()]
    for reader in getattr(notifier, "_readers", []):
        if isinstance(reader, threading.Thread) and reader.ident is not None:
            idents.append(reader.ident)
    return idents


async def _wait_count(path: _Path, target: int, timeout_s: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while path.count() < target:
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.001)
    return True


async def _drain(make_path: Callable[[can.BusABC], _Path], messages: list[can.Message], n: int) -> tuple[float, float]:
    """(frames/s, CPU µs per frame) for `n` frames queued before the path starts."""
    bus: Any = can.Bus(interface="virtual", channel=f"bench-capacity-{next(_names)}")
    path = make_path(bus)
    for i in range(n):
        bus.queue.put_nowait(messages[i % len(messages)])
    try:
        t0 = time.perf_counter()  # wall-clock ok: benchmark
        cpu0 = time.thread_time()
        close = path.start()
        threads = _receive_threads(path.notifier())
        reader_cpu0 = _thread_cpu_s(threads[1:])
        try:
            if not await _wait_count(path, n, 60.0):
                raise RuntimeError(f"drained only {path.count()} of {n} frames in 60 s")
            elapsed = time.perf_counter() - t0  # wall-clock ok: benchmark
            cpu = time.thread_time() - cpu0 + _thread_cpu_s(threads[1:]) - reader_cpu0
        finally:
            close()
    finally:
        bus.shutdown()
    return n / elapsed, cpu / n * 1e6


async def _paced(
    make_path: Callable[[can.BusABC], _Path], messages: list[can.Message], rate_hz: float, window_s: float
) -> tuple[float, int, int]:
    """Frames at `rate_hz` for `window_s`: (% of one core on the receive threads, frames sent, frames lost)."""
    bus: Any = can.Bus(interface="virtual", channel=f"bench-capacity-{next(_names)}")
    path = make_path(bus)
    close = path.start()
    threads = _receive_threads(path.notifier())
    sent = [0]
    stop = threading.Event()

    def sender() -> None:
        start = time.perf_counter()  # wall-clock ok: benchmark (the other ECU)
        queue = bus.queue
        k = len(messages)
        while not stop.is_set():
            due = int((time.perf_counter() - start) * rate_hz)  # wall-clock ok: benchmark
            for i in range(sent[0], due):
                queue.put_nowait(messages[i % k])
            sent[0] = max(sent[0], due)
            time.sleep(BATCH_S)

    try:
        await asyncio.sleep(0.05)  # the reader thread is up
        thread = threading.Thread(target=sender, name="bench-other-ecu", daemon=True)
        cpu0, wall0 = _thread_cpu_s(threads), time.perf_counter()  # wall-clock ok: benchmark
        thread.start()
        await asyncio.sleep(window_s)
        stop.set()
        thread.join()
        cpu_pct = (_thread_cpu_s(threads) - cpu0) / (time.perf_counter() - wall0) * 100  # wall-clock ok: benchmark
        await _wait_count(path, sent[0], GRACE_S)
        lost = sent[0] - path.count()
    finally:
        close()
        bus.shutdown()
    return cpu_pct, sent[0], lost


async def _figures(
    name: str,
    make_path: Callable[[can.BusABC], _Path],
    messages: list[can.Message],
    ceiling_hz: float,
    bus_text: str,
    quick: bool,
) -> list[Result]:
    n = 2000 if quick else 40_000
    window_s = 0.3 if quick else 3.0
    base_rate, base_cpu_us = await _drain(_bare_path, messages, n)
    rate, cpu_us = await _drain(make_path, messages, n)
    base_pct, _, base_lost = await _paced(_bare_path, messages, ceiling_hz, window_s)
    pct, sent, lost = await _paced(make_path, messages, ceiling_hz, window_s)
    best = ceiling_hz if lost == 0 else 0.0
    factor = 2
    while not quick and best == ceiling_hz * factor / 2 and ceiling_hz * factor <= rate * 1.5:
        _, _, step_lost = await _paced(make_path, messages, ceiling_hz * factor, window_s)
        if step_lost:
            break
        best = ceiling_hz * factor
        factor *= 2
    ceiling = f"{ceiling_hz:,.0f} frames/s"
    return [
        Result(
            f"CAN rx drain throughput, {name}",
            "frames/s",
            rate,
            baseline=base_rate,
            baseline_name="bare python-can Notifier",
            target=ceiling_hz,
            higher_is_better=True,
            n=n,
            note=f"{cpu_us:.0f} µs CPU/frame (bare {base_cpu_us:.0f}); ceiling {ceiling} ({bus_text})",
        ),
        Result(
            f"CAN rx CPU at a full {bus_text} bus, {name}",
            "% of one core",
            pct,
            baseline=base_pct,
            baseline_name="bare python-can Notifier",
            target=CPU_TARGET_PCT,
            n=sent,
            note=f"{ceiling} for {window_s:g} s; {lost} lost (bare: {base_lost})",
        ),
        Result(
            f"CAN rx highest sustained lossless rate, {name}",
            "frames/s",
            best,
            baseline=ceiling_hz,
            baseline_name="bus ceiling",
            target=ceiling_hz,
            higher_is_better=True,
            n=1,
            note=("quick: only the ceiling is tried; " if quick else "")
            + f"paced at 1, 2, 4… × ceiling up to 1.5× drain, {window_s:g} s each, all decoded within {GRACE_S:g} s",
        ),
    ]


async def _all(quick: bool) -> list[Result]:
    from evse.protocols.chademo.codec import ChademoCodec

    ChademoCodec()  # load the DBC outside the timed region
    results = await _figures(
        "CHAdeMO decode (11-bit)", _chademo_path, _chademo_messages(), CEILING_11, "500 kbit/s 11-bit", quick
    )
    results += await _figures(
        "GB/T driver + core (29-bit)", _gbt_path, _gbt_messages(), CEILING_29, "250 kbit/s 29-bit", quick
    )
    return results


def run(quick: bool) -> list[Result]:
    return asyncio.run(_all(quick))
