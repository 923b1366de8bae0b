"""Cancel the background tasks of an `iso15118` SECC or EVCC.

The package starts its servers and sessions with `asyncio.wait()` over tasks it creates itself; cancelling the
outer task does not cancel those, so a stopped SECC/EVCC would otherwise leave its UDP/TCP loops running (and
the event loop's shutdown waiting for their timeouts). A task belongs to the handler when its coroutine runs a
method of one of the handler's objects (the handler, its transports) or of a communication session that reports
to the handler's queue (sessions the handler already forgot included).
"""

from __future__ import annotations

import asyncio
import contextlib

#: how long stopped tasks get to unwind
CANCEL_WAIT_S = 2.0


def owned_tasks(owners: list[object]) -> list[asyncio.Task[object]]:
    ids = {id(o) for o in owners if o is not None}
    queues = {id(q) for o in owners if (q := getattr(o, "_rcv_queue", None)) is not None}
    found = []
    for task in asyncio.all_tasks():
        if task is asyncio.current_task() or task.done():
            continue
        frame = getattr(task.get_coro(), "cr_frame", None)
        if frame is None:
            continue
        this = frame.f_locals.get("self")
        if id(this) in ids or id(getattr(this, "session_handler_queue", None)) in queues:
            found.append(task)
    return found


async def cancel_owned(owners: list[object]) -> None:
    tasks = owned_tasks(owners)
    for task in tasks:
        task.cancel()
    if tasks:
        with contextlib.suppress(Exception):
            await asyncio.wait(tasks, timeout=CANCEL_WAIT_S)
