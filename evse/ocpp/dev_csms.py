"""A small development CSMS (`evse csms`): accepts every charge point and every request, logs each message as one
readable line, and takes commands (remote start/stop, charging profiles, any CALL) over a local HTTP control
endpoint that `evse csms send|start|stop|profile` talk to. For bench and demo use, not for production."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import sys
from collections.abc import Callable
from typing import Any, TextIO
from urllib.parse import urlsplit

import websockets
from aiohttp import web
from ocpp.messages import Call, MessageType, unpack
from ocpp.v16 import ChargePoint
from websockets.asyncio.server import ServerConnection, serve

from evse.ocpp.dev_ports import DEFAULT_CONTROL_PORT, DEFAULT_PORT  # noqa: F401 (re-exported)
from evse.ocpp.memory_link import MemorySocket, memory_pair
from evse.ocpp.transport import SUBPROTOCOL, redact

HEARTBEAT_INTERVAL_S = 300
CALL_TIMEOUT_S = 30.0

_quiet = logging.getLogger("evse.ocpp.dev_csms.lib")
_quiet.setLevel(logging.CRITICAL)


#: a sink of the readable log: (charge point id, arrow, text); "→" from the charge point, "←" to it, "==" link
LineSink = Callable[[str, str, str], None]


class DevCsms:
    def __init__(self, out: TextIO = sys.stdout, *, on_line: LineSink | None = None) -> None:
        self.out = out
        self.on_line = on_line
        self.peers: dict[str, _Peer] = {}
        self.transactions: dict[str, int] = {}  # charge point → its last open transaction id
        #: every CALL received: (charge point id, action, payload)
        self.received: list[tuple[str, str, dict[str, Any]]] = []
        #: transaction id → the StartTransaction that opened it
        self.started: dict[int, dict[str, Any]] = {}
        self._tx_ids = itertools.count(1)
        self._links: set[asyncio.Task[None]] = set()

    def line(self, cp_id: str, arrow: str, text: str) -> None:
        if self.on_line is not None:
            self.on_line(cp_id, arrow, text)
        else:
            print(f"{cp_id} {arrow} {text}", file=self.out, flush=True)

    async def open_link(self, url: str) -> MemorySocket:
        """A connection from a charge point in the same event loop (`evse sim`): the client's end of an
        in-memory link to `url`; this CSMS serves the other end like a WebSocket connection."""
        client_end, server_end = memory_pair(urlsplit(url).path or "/")
        task = asyncio.get_running_loop().create_task(self._ws_handler(server_end), name="dev-csms-link")
        self._links.add(task)
        task.add_done_callback(self._links.discard)
        return client_end

    def answer(self, cp_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        now = _now()
        if action == "BootNotification":
            return {"status": "Accepted", "currentTime": now, "interval": HEARTBEAT_INTERVAL_S}
        if action == "Heartbeat":
            return {"currentTime": now}
        if action == "Authorize":
            return {"idTagInfo": {"status": "Accepted"}}
        if action == "StartTransaction":
            tx_id = next(self._tx_ids)
            self.transactions[cp_id] = tx_id
            self.started[tx_id] = payload
            return {"transactionId": tx_id, "idTagInfo": {"status": "Accepted"}}
        if action == "StopTransaction":
            if self.transactions.get(cp_id) == payload.get("transactionId"):
                self.transactions.pop(cp_id, None)
            return {"idTagInfo": {"status": "Accepted"}}
        if action == "DataTransfer":
            return {"status": "Accepted"}
        return {}

    async def _ws_handler(self, connection: ServerConnection | MemorySocket) -> None:
        path = connection.request.path if connection.request else "/?"
        cp_id = path.rstrip("/").rsplit("/", 1)[-1] or "?"
        peer = _Peer(cp_id, connection, self)
        self.peers[cp_id] = peer
        self.line(cp_id, "==", f"connected ({connection.remote_address[0]})")
        try:
            await peer.start()
        except websockets.ConnectionClosed:
            pass
        finally:
            if self.peers.get(cp_id) is peer:
                del self.peers[cp_id]
            self.line(cp_id, "==", "disconnected")

    async def _control(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            action = str(body["action"])
            payload = dict(body.get("payload", {}))
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": "expected JSON {cp?, action, payload}"}, status=400)
        if action == "RemoteStopTransaction" and "transactionId" not in payload:
            cp = body.get("cp") or next(iter(self.peers), "")
            if cp not in self.transactions:
                return web.json_response({"error": f"no open transaction known for {cp!r}"}, status=409)
            payload["transactionId"] = self.transactions[cp]
        cp_id = body.get("cp") or (next(iter(self.peers)) if len(self.peers) == 1 else None)
        peer = self.peers.get(cp_id or "")
        if peer is None:
            return web.json_response({"error": f"charge point {cp_id!r} is not connected"}, status=404)
        try:
            result = await peer.call_raw(action, payload)
        except Exception as exc:
            return web.json_response({"error": str(exc)}, status=502)
        return web.json_response({"cp": peer.id, "result": result})

    async def run(self, host: str, port: int, control_port: int) -> None:
        app = web.Application()
        app.router.add_post("/send", self._control)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", control_port).start()
        try:
            async with serve(self._ws_handler, host, port, subprotocols=[SUBPROTOCOL]):  # type: ignore[list-item]
                print(
                    f"dev CSMS on ws://{host}:{port}/<charge point id>, control on http://127.0.0.1:{control_port}",
                    file=self.out,
                    flush=True,
                )
                await asyncio.Event().wait()
        finally:
            await runner.cleanup()


class _Peer(ChargePoint):
    def __init__(self, cp_id: str, connection: ServerConnection | MemorySocket, csms: DevCsms) -> None:
        super().__init__(cp_id, connection, response_timeout=CALL_TIMEOUT_S, logger=_quiet)
        self.csms = csms
        self._n = itertools.count(1)

    async def start(self) -> None:
        while True:
            raw = await self._connection.recv()
            with contextlib.suppress(Exception):
                await self._route(raw if isinstance(raw, str) else raw.decode("utf-8", "replace"))

    async def _route(self, raw: str) -> None:
        try:
            msg = unpack(raw)
        except Exception:
            self.csms.line(self.id, "→", f"(unreadable) {redact(raw)[:200]}")
            return
        if msg.message_type_id == MessageType.Call:
            self.csms.received.append((self.id, msg.action, msg.payload))
            self.csms.line(self.id, "→", f"{msg.action} {_brief(msg.payload)}")
            answer = self.csms.answer(self.id, msg.action, msg.payload)
            await self._connection.send(msg.create_call_result(answer).to_json())
            self.csms.line(self.id, "←", f"{msg.action} result {_brief(answer)}")
        else:
            kind = "result" if msg.message_type_id == MessageType.CallResult else "ERROR"
            detail = msg.payload if kind == "result" else f"{msg.error_code} {msg.error_description}"
            self.csms.line(self.id, "→", f"{kind} {_brief(detail)}")
            self._response_queue.put_nowait(msg)

    async def call_raw(self, action: str, payload: dict[str, Any]) -> Any:
        call = Call(unique_id=f"dev-{next(self._n)}", action=action, payload=payload)
        self.csms.line(self.id, "←", f"{action} {_brief(payload)}")
        async with self._call_lock:
            await self._connection.send(call.to_json())
            response = await self._get_specific_response(call.unique_id, self._response_timeout)
        if response.message_type_id == MessageType.CallError:
            raise RuntimeError(f"{response.error_code}: {response.error_description}")
        return response.payload


def _brief(value: Any) -> str:
    return redact(json.dumps(value, separators=(", ", ": "), default=str))


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")  # wall-clock ok: CSMS time
