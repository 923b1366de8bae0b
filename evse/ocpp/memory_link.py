"""An in-memory WebSocket pair: the OCPP client and a CSMS in the same event loop without a socket.

`evse sim` runs on the virtual clock (looptime): when every task waits, time jumps to the next timer. A real
socket breaks that assumption — a frame in flight in the kernel is invisible to the loop, so a CALL's response
timeout can fire in virtual time before the answer is read. Over this link a frame is delivered with the loop's
own queue (no I/O at all), so the OCPP traffic of a simulation is as deterministic as the rest of it.

Each end offers what the client and the `ocpp` package's ChargePoint use of a websockets connection: `send`,
`recv` (raising `websockets.ConnectionClosed` once closed), `close`, `subprotocol`, `request.path` and
`remote_address`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from websockets.exceptions import ConnectionClosedOK
from websockets.frames import Close

from evse.ocpp.transport import SUBPROTOCOL

#: RFC 6455 §7.4.1 close codes
NORMAL_CLOSURE = 1000


@dataclass(frozen=True, slots=True)
class _Request:
    path: str


class MemorySocket:
    def __init__(self, path: str, peer_name: str) -> None:
        self.request = _Request(path)
        self.remote_address = (peer_name, 0)
        self.subprotocol = SUBPROTOCOL
        self._inbox: asyncio.Queue[str | None] = asyncio.Queue()
        self.peer: MemorySocket | None = None
        self.closed = False
        self.frames_sent = 0

    async def send(self, message: str) -> None:
        if self.closed or self.peer is None:
            raise ConnectionClosedOK(Close(NORMAL_CLOSURE, ""), None)
        self.frames_sent += 1
        self.peer._inbox.put_nowait(message)

    async def recv(self) -> str:
        if self.closed and self._inbox.empty():
            raise ConnectionClosedOK(Close(NORMAL_CLOSURE, ""), None)
        message = await self._inbox.get()
        if message is None:
            self.closed = True
            raise ConnectionClosedOK(Close(NORMAL_CLOSURE, ""), None)
        return message

    async def close(self, code: int = NORMAL_CLOSURE, reason: str = "") -> None:
        """Close both ends: each end's pending `recv` ends with ConnectionClosed."""
        for end in (self, self.peer):
            if end is not None and not end.closed:
                end.closed = True
                end._inbox.put_nowait(None)


def memory_pair(path: str) -> tuple[MemorySocket, MemorySocket]:
    """(client end, server end) of one connection to `path`."""
    client, server = MemorySocket(path, "csms"), MemorySocket(path, "127.0.0.1")
    client.peer, server.peer = server, client
    return client, server
