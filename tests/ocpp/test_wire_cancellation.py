"""A cancellation that races with the CSMS's answer is not lost: the `ocpp` package's response wait (asyncio.wait_for
on Python 3.11) swallowed it, leaving a client task running after its TaskGroup was cancelled — `evse sim --csms`
then never ended. Our wait raises CancelledError and measures its timeout on loop time."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from evse.ocpp.wire import WireChargePoint

pytestmark = pytest.mark.looptime


class _Silent:
    async def recv(self) -> str:
        await asyncio.Event().wait()
        return ""

    async def send(self, message: str) -> None:
        pass


async def test_cancel_in_the_same_step_as_the_answer_cancels() -> None:
    cp = WireChargePoint("CP", _Silent(), 5.0, lambda: None)
    task = asyncio.create_task(cp._get_specific_response("x", 5.0))
    for _ in range(3):
        await asyncio.sleep(0)
    cp._response_queue.put_nowait(SimpleNamespace(unique_id="x"))
    task.cancel()  # before the waiting task has seen the answer
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_other_responses_are_dropped_and_the_timeout_is_loop_time() -> None:
    cp = WireChargePoint("CP", _Silent(), 5.0, lambda: None)
    cp._response_queue.put_nowait(SimpleNamespace(unique_id="late"))
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(TimeoutError):
        await cp._get_specific_response("x", 30.0)
    assert loop.time() - t0 == pytest.approx(30.0, abs=0.5)
    assert cp._response_queue.empty()
