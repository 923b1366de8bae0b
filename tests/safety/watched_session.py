"""What both stateful invariant machines share (`test_invariants_stateful` on the session doubles,
`test_invariants_sim` on the simulated plant): a virtual loop, the running session's task, and the safety invariants
checked every `MONITOR_PERIOD_S` of simulated time — the first violation is kept and raised by the invariant."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from evse.safety.invariants import InvariantMonitor, InvariantViolation
from evse.session.session import Session
from evse.session.stages import Outcome, Stage

#: how often the monitor checks the invariants between hypothesis steps (simulated seconds)
MONITOR_PERIOD_S = 0.05


class WatchedSession:
    loop: asyncio.AbstractEventLoop
    monitor: InvariantMonitor
    session: Session | None
    task: asyncio.Task[Outcome] | None
    violation: InvariantViolation | None

    def contactors_welded(self) -> bool:
        """Whether the test welded the contactors (then the opening-in-bounded-time invariant cannot hold)."""
        raise NotImplementedError

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(MONITOR_PERIOD_S)
            self._check()

    def _check(self) -> None:
        ctx = self.session.ctx if self.session is not None and not self.session.done.is_set() else None
        try:
            self.monitor.check(self.loop.time(), ctx, welded=self.contactors_welded())
            if self.session is not None:
                self.monitor.check_record(self.session.ctx.record)
        except InvariantViolation as exc:
            if self.violation is None:
                self.violation = exc

    def _run(self, seconds: float) -> None:
        self.loop.run_until_complete(asyncio.sleep(seconds))

    def _advance_and_check(self, seconds: float) -> None:
        """Let `seconds` of simulated time pass (checked every MONITOR_PERIOD_S), check once more, raise the first
        violation seen."""
        self._run(seconds)
        self._check()
        if self.violation is not None:
            raise self.violation

    def _finished_session(self) -> Session | None:
        """The session when its task has ended: its own exception raised, its outcome and final stage asserted."""
        if self.task is None or not self.task.done() or self.task.cancelled():
            return None
        exc = self.task.exception()
        if exc is not None:
            raise exc
        assert self.session is not None and self.session.outcome is not None
        assert self.session.stage in (Stage.FINISHED, Stage.FAULTED)
        return self.session

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def _close_loop(self, before_close: Callable[[], object] = lambda: None) -> None:
        """Cancel every task of the loop, let them end, then `before_close` (e.g. the simulated world), then close."""
        tasks = list(asyncio.all_tasks(self.loop))
        for task in tasks:
            task.cancel()
        with contextlib.suppress(BaseException):
            self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        before_close()
        self.loop.close()
