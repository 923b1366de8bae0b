"""Where the time of a CurrentDemandReq → CurrentDemandRes at our SECC goes: a pyinstrument profile of exactly that
handling (every CurrentDemand message of a simulated DIN session, their samples combined), for docs/performance.md.

    .venv/bin/python -m bench.profile_ccs [seconds_charging]

Needs what bench_ccs needs (root for the veth pair, Java). Prints pyinstrument's call tree (percent of the
profiled time); the py4j socket read (`recv_into`) is the JVM working on the EXI codec call.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from bench import bench_ccs


class _Profiled(bench_ccs._Probe):
    """bench_ccs's probe, with a pyinstrument profiler running during each CurrentDemand message."""

    def __init__(self) -> None:
        super().__init__()
        self.session: Any = None

    def install(self) -> Any:
        from iso15118.secc.comm_session_handler import SECCCommunicationSession
        from pyinstrument import Profiler
        from pyinstrument.session import Session

        restore_probe = super().install()
        secc_session: Any = SECCCommunicationSession
        timed = secc_session.process_message
        profiled = self

        async def process_message(session: Any, message: bytes) -> None:
            if type(session.current_state).__name__ != "CurrentDemand":
                await timed(session, message)
                return
            profiler = Profiler(interval=0.0001, async_mode="disabled")
            profiler.start()
            try:
                await timed(session, message)
            finally:
                one = profiler.stop()
                profiled.session = one if profiled.session is None else Session.combine(profiled.session, one)

        def restore() -> None:
            secc_session.process_message = timed
            restore_probe()

        secc_session.process_message = process_message
        return restore


def main(argv: list[str]) -> int:
    seconds = float(argv[0]) if argv else 20.0
    profiled = _Profiled()
    original = bench_ccs._Probe
    bench_ccs._Probe = lambda: profiled  # type: ignore[assignment,misc]
    try:
        asyncio.run(bench_ccs._session(seconds_charging=seconds))
    finally:
        bench_ccs._Probe = original  # type: ignore[misc]
    from pyinstrument.renderers import ConsoleRenderer

    from bench.harness import Stats

    latency, codec = Stats.of(profiled.latency_ms), Stats.of(profiled.codec_ms)
    print(
        f"CurrentDemand at the SECC: n={latency.n} median {latency.median:.2f} ms p99 {latency.p99:.2f} ms; "
        f"codec median {codec.median:.2f} ms"
    )
    renderer = ConsoleRenderer(unicode=False, color=False, time="percent_of_total", short_mode=False)
    print(renderer.render(profiled.session))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
