"""The benchmarks run in quick mode (timings are not asserted: benchmarks are not tests)."""

from __future__ import annotations

from bench import run


def test_every_benchmark_runs_quick(capsys) -> None:  # type: ignore[no-untyped-def]
    assert run.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "| figure |" in out
    # one row per figure; at least the harness floor
    assert out.count("\n|") >= 3
