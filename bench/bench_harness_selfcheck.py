"""The harness's own floor: the cost of one `loop.call_soon` round trip, the unit every in-loop latency is built
from. It is the baseline other latency figures can be read against."""

from __future__ import annotations

import asyncio
import time

from bench.harness import Result, Stats


async def _round_trips(n: int) -> list[float]:
    loop = asyncio.get_running_loop()
    samples: list[float] = []
    for _ in range(n):
        fut = loop.create_future()
        t0 = time.perf_counter()
        loop.call_soon(fut.set_result, None)
        await fut
        samples.append((time.perf_counter() - t0) * 1e6)
    return samples


def run(quick: bool) -> list[Result]:
    n = 1_000 if quick else 20_000
    samples = asyncio.run(_round_trips(n))
    s = Stats.of(samples)
    return [Result("asyncio call_soon round trip", "µs", s.median, s.p99, n=s.n, note="floor for in-loop latency")]
