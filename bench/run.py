"""`evse-bench [--quick] [--only NAME]`: run every benchmark and print one table."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import sys
import time

from bench.harness import Result, machine, table

#: benchmark modules under bench/, each with `run(quick: bool) -> list[Result]`
MODULES: list[str] = [
    "bench.bench_harness_selfcheck",
    "bench.bench_gbt",
    "bench.bench_chademo",
    "bench.bench_sim_speed",
    "bench.bench_store",
    "bench.bench_ocpp",
    "bench.bench_fault_reaction",
    "bench.bench_footprint",
    "bench.bench_scaling",
    "bench.bench_can_capacity",
    "bench.bench_ccs",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="evse-bench", description="Run the benchmarks and print one table.")
    parser.add_argument("--quick", action="store_true", help="few samples: checks the benchmarks run (seconds)")
    parser.add_argument("--only", action="append", default=[], help="run only modules whose name contains this")
    args = parser.parse_args(argv)
    results: list[Result] = []
    started = time.perf_counter()
    for name in MODULES:
        if args.only and not any(o in name for o in args.only):
            continue
        module = importlib.import_module(name)
        t0 = time.perf_counter()
        results.extend(module.run(args.quick))
        print(f"  {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    print(
        f"evse-bench on {machine()}, {dt.date.today().isoformat()}, quick={args.quick}, "
        f"{time.perf_counter() - started:.0f} s"
    )
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
