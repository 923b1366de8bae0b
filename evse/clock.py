"""Time for the daemon: the event loop's clock, real or virtual.

Control code reads time only from the running loop (`loop.time()`, `asyncio.sleep`, `asyncio.timeout`). The
virtual clock is `looptime`'s time-compacting loop: when every task is waiting, time jumps to the next timer, so
a 30-minute simulated session runs in seconds and is deterministic for a given seed. `noop_cycles` is the number
of idle loop passes looptime lets pass before jumping; we keep it small because our tasks never depend on
un-awaited I/O between timer steps in virtual mode (the in-loop CAN bus delivers with call_soon).

Calendar time (OCPP timestamps, store records) is derived once per use with `wall_time()`: the wall clock at
loop start plus elapsed loop time, so even in virtual mode a session's timestamps are consistent.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

_EPOCH_ATTR = "_evse_wall_epoch"

#: idle passes before virtual time jumps (looptime's default is 42; few are needed with in-loop delivery)
VIRTUAL_NOOP_CYCLES = 2


def new_virtual_loop(start_s: float = 0.0) -> asyncio.AbstractEventLoop:
    """A fresh event loop on virtual time starting at `start_s`."""
    # imported here: looptime imports pytest when present (~50 ms, ~9 MiB) and the daemon runs on real time
    import looptime

    loop = looptime.new_event_loop(start=start_s, noop_cycles=VIRTUAL_NOOP_CYCLES)
    return loop


def run(main: Callable[[], Awaitable[T]], *, virtual: bool = False) -> T:
    """Run `main()` to completion on a new loop (virtual time when asked) and close the loop."""
    loop = new_virtual_loop() if virtual else asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        set_wall_epoch(loop)
        return loop.run_until_complete(main())
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def set_wall_epoch(loop: asyncio.AbstractEventLoop) -> None:
    """Pin the calendar time that corresponds to the loop's present time."""
    setattr(loop, _EPOCH_ATTR, time.time() - loop.time())  # wall-clock ok: calendar anchor, not control


def wall_time(loop: asyncio.AbstractEventLoop | None = None, t_s: float | None = None) -> dt.datetime:
    """Calendar time (UTC) of loop time `t_s` (default: now)."""
    loop = loop or asyncio.get_running_loop()
    epoch = getattr(loop, _EPOCH_ATTR, None)
    if epoch is None:
        set_wall_epoch(loop)
        epoch = getattr(loop, _EPOCH_ATTR)
    t = loop.time() if t_s is None else t_s
    return dt.datetime.fromtimestamp(epoch + t, tz=dt.UTC)
