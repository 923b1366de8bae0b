"""The capture that feeds every charge-point frame of the Python-CSMS tests to the strict validator (conftest's
autouse `strictly_valid_frames`) does catch violations: planted ones, sent over a real connection to a test CSMS
by a raw WebSocket client, are reported — a CALL, a CALLRESULT (checked against the CSMS CALL it answers) and a
CALLERROR with a code OCPP-J 1.6 does not have."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import ClientConnection, connect

from tests.ocpp import strict_capture
from tests.ocpp.conftest import until
from tests.ocpp.csms import TestCsms

VALID_STATUS = '[2,"c1","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available"}]'
BAD_STATUS = '[2,"c2","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Sleeping"}]'


async def test_planted_violations_on_the_connection_are_caught(
    strict_checker: strict_capture.StrictFrameChecker,
) -> None:
    csms = TestCsms()
    await csms.start()
    try:
        async with connect(f"ws://127.0.0.1:{csms.port}/RAW", subprotocols=["ocpp1.6"]) as socket:  # type: ignore[list-item]
            await socket.send(VALID_STATUS)
            await socket.send(BAD_STATUS)
            await until(lambda: len(csms.raw) == 2)
            # the CSMS asks for the configuration; the "charge point" answers with a malformed result
            await csms.peers["RAW"]._connection.send('[2,"q1","GetConfiguration",{}]')
            call = json.loads(await asyncio.wait_for(_next_call(socket), 5.0))
            assert call[1] == "q1"
            await socket.send('[3,"q1",{"configurationKey":"HeartbeatInterval"}]')
            await socket.send('[4,"q1","FormatViolation","2.0 name, not 1.6",{}]')
            await until(lambda: len(csms.raw) == 4)
        frames = list(strict_capture.CAPTURED)
        assert [f.get("method") for f in frames] == [None, None, "GetConfiguration", None]
        verdict = strict_checker.check(frames)
        assert verdict["checked"] == 4
        flagged = {v["index"]: v for v in verdict["violations"]}
        assert sorted(flagged) == [1, 2, 3]  # the valid StatusNotification passes
        assert "status" in flagged[1]["error"]
        assert flagged[2]["method"] == "GetConfiguration" and "configurationKey" in flagged[2]["error"]
        assert "CALLERROR" in flagged[3]["error"]
    finally:
        strict_capture.CAPTURED.clear()  # planted on purpose: not this test's failure
        await csms.stop()


async def _next_call(socket: ClientConnection) -> str:
    while True:
        frame = await socket.recv()
        if isinstance(frame, str) and frame.startswith("[2"):
            return frame


def test_the_checker_sees_a_response_to_no_call(strict_checker: strict_capture.StrictFrameChecker) -> None:
    verdict = strict_checker.check([{"frame": '[3,"nobody-asked",{}]'}, {"frame": "{not json"}])
    assert [v["index"] for v in verdict["violations"]] == [0, 1]
