"""Hostile input from the CSMS: malformed JSON, unknown actions, schema-invalid payloads, huge frames, responses
with unknown ids — answered per OCPP-J §4.2.3 or ignored; never a crash, never a state change."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from evse.ocpp.wire import WireChargePoint
from tests.ocpp.conftest import until
from tests.ocpp.csms import TestCsms
from tests.ocpp.station_double import StationDouble


async def _answer(csms: TestCsms, unique_id: str) -> list[Any]:
    async def find() -> list[Any]:
        while True:
            for raw in csms.raw:
                try:
                    msg = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(msg, list) and len(msg) > 1 and msg[1] == unique_id and msg[0] in (3, 4):
                    return msg
            await asyncio.sleep(0.01)

    return await asyncio.wait_for(find(), 3.0)


async def test_hostile_frames_change_nothing(csms: TestCsms, make_service, station: StationDouble) -> None:
    service = await make_service(csms.port, max_frame_bytes=65536)
    await csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 1)
    client = service.client
    keys_before = client.keys.report(None)
    socket = csms.peers["CP1"]._connection
    frames = [
        "{not json",
        "[]",
        '"just a string"',
        '[5,"x"]',
        '[3,"no-such-call",{}]',
        '[4,"no-such-call","InternalError","boom",{}]',
        "[2]",
        '[2,"h3","Reset",[]]',
    ]
    for frame in frames:
        await socket.send(frame)
    await socket.send('[2,"h1","NoSuchAction",{}]')
    assert (await _answer(csms, "h1"))[2] == "NotImplemented"
    await socket.send('[2,"h2","ChangeConfiguration",{"key":1,"value":"x"}]')
    assert (await _answer(csms, "h2"))[0] == 4
    await socket.send('[2,"h4","RemoteStopTransaction",{"transactionId":"abc"}]')
    assert (await _answer(csms, "h4"))[0] == 4
    await socket.send('[2,"h5","ChangeConfiguration",{"key":"HeartbeatInterval","value":"60","extra":1}]')
    assert (await _answer(csms, "h5"))[0] == 4
    assert (await _answer(csms, "h3"))[2] in ("FormationViolation", "FormatViolation")
    # still alive and unchanged
    result = await csms.peers["CP1"].request("GetConfiguration", key=["HeartbeatInterval"])
    assert result.configuration_key[0]["value"] == "300"
    # a frame over the limit closes the connection (1009); the client reconnects and boots again
    await socket.send('[2,"big","DataTransfer",{"vendorId":"x","data":"' + "A" * 100_000 + '"}]')
    await csms.wait_for("BootNotification", count=2)
    await until(lambda: client.online)
    assert client.keys.report(None) == keys_before
    assert station.commands == [] and len(client.queue) == 0


class _NullSocket:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def recv(self) -> str:
        raise AssertionError("not used")

    async def send(self, message: str) -> None:
        self.sent.append(message)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=8),
            lambda c: st.lists(c, max_size=5) | st.dictionaries(st.text(max_size=5), c, max_size=4),
            max_leaves=12,
        ).map(json.dumps),
    )
)
def test_arbitrary_frames_never_crash_the_receiver(frame: str) -> None:
    socket = _NullSocket()
    cp = WireChargePoint("CP", socket, 1.0, lambda: None)

    async def go() -> None:
        await cp._route(frame)

    asyncio.run(go())
    for sent in socket.sent:  # whatever we answered is a well-formed CALLERROR
        msg = json.loads(sent)
        assert msg[0] == 4 and len(msg) == 5
