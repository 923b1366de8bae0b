"""The benchmark harness: every figure is a `Result` with median, p99, a baseline measured in the same run and the
ratio, so noisy machines still give comparable numbers (conventions.md, Benchmarks).

A benchmark module in `bench/` defines `def run(quick: bool) -> list[Result]` and is listed in `bench.run.MODULES`.
`quick=True` must finish in a few seconds (the test suite runs every benchmark that way, asserting nothing about
timings).
"""

from __future__ import annotations

import math
import platform
import statistics
from dataclasses import dataclass


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0–100) of a non-empty list."""
    if not samples:
        raise ValueError("percentile of no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class Stats:
    n: int
    median: float
    p99: float
    mean: float

    @classmethod
    def of(cls, samples: list[float]) -> Stats:
        return cls(len(samples), statistics.median(samples), percentile(samples, 99), statistics.fmean(samples))


@dataclass(frozen=True, slots=True)
class Result:
    """One row of the table. `unit` applies to median, p99 and baseline. `higher_is_better` orients `target`."""

    figure: str
    unit: str
    median: float
    p99: float | None = None
    baseline: float | None = None
    baseline_name: str = ""
    target: float | None = None
    higher_is_better: bool = False
    n: int = 0
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0.0:
            return None
        return self.median / self.baseline

    @property
    def meets_target(self) -> bool | None:
        if self.target is None:
            return None
        value = self.median if self.higher_is_better or self.p99 is None else self.p99
        return value >= self.target if self.higher_is_better else value <= self.target


def fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if value == 0 or 0.01 <= abs(value) < 100_000:
        return f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{value:.3g}"


def table(results: list[Result]) -> str:
    """A Markdown table (readable on a terminal and pasteable into docs/performance.md)."""
    head = "| figure | unit | median | p99 | baseline | ratio | target | met | n | note |"
    rows = [head, "|" + "---|" * 10]
    for r in results:
        ratio = "—" if r.ratio is None else f"{r.ratio:.2f}×"
        base = "—" if r.baseline is None else f"{fmt(r.baseline)} ({r.baseline_name})"
        target = "—" if r.target is None else ("≥ " if r.higher_is_better else "≤ ") + fmt(r.target)
        met = {None: "—", True: "yes", False: "**no**"}[r.meets_target]
        rows.append(
            f"| {r.figure} | {r.unit} | {fmt(r.median)} | {fmt(r.p99)} | {base} | {ratio} | {target} | {met} "
            f"| {r.n} | {r.note} |"
        )
    return "\n".join(rows)


def machine() -> str:
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"
