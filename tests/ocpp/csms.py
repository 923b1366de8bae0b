"""A CSMS for the tests, built on the `ocpp` package's server side: every CALL from the charge point is recorded
(and schema-validated by the package), answers are scripted per action, and the test can send CALLs back."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websockets
from ocpp.exceptions import OCPPError
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from tests.ocpp import strict_capture

NOW = "2026-01-01T00:00:00Z"


@dataclass
class Script:
    boot: list[tuple[str, int]] = field(default_factory=lambda: [("Accepted", 300)])
    id_tags: dict[str, str] = field(default_factory=dict)  # id tag → status (default Accepted)
    start_error: bool = False  # answer StartTransaction with a CALLERROR


class CsmsPeer(ChargePoint):
    """The CSMS's end of one charge point connection."""

    def __init__(self, cp_id: str, connection: ServerConnection, csms: TestCsms) -> None:
        super().__init__(cp_id, connection, response_timeout=5)
        self.csms = csms

    async def route_message(self, raw_msg: str) -> None:
        self.csms.raw.append(raw_msg)
        strict_capture.sent_by_charge_point(self.csms.calls_sent, raw_msg)
        self.csms._changed.set()
        try:
            msg = json.loads(raw_msg)
            if isinstance(msg, list) and msg and msg[0] == 2:
                self.csms.record(self.id, msg[2], msg[3], msg[1])
        except (ValueError, IndexError, TypeError):
            pass
        await super().route_message(raw_msg)

    async def _handle_call(self, msg: Any) -> Any:
        try:
            return await super()._handle_call(msg)
        except OCPPError as exc:  # a schema violation of the charge point's CALL
            self.csms.violations.append(f"{msg.action}: {exc}")
            raise

    async def request(self, action: str, **kwargs: Any) -> Any:
        return await self.call(getattr(call, action)(**kwargs), suppress=False)

    @on("BootNotification")
    def boot(self, **_: Any) -> Any:
        script = self.csms.script.boot
        status, interval = script.pop(0) if len(script) > 1 else script[0]
        return call_result.BootNotification(current_time=NOW, interval=interval, status=status)

    @on("Heartbeat")
    def heartbeat(self) -> Any:
        return call_result.Heartbeat(current_time=NOW)

    @on("StatusNotification")
    def status(self, **_: Any) -> Any:
        return call_result.StatusNotification()

    @on("Authorize")
    def authorize(self, id_tag: str) -> Any:
        return call_result.Authorize(id_tag_info={"status": self.csms.script.id_tags.get(id_tag, "Accepted")})

    @on("StartTransaction")
    def start_transaction(self, id_tag: str, **_: Any) -> Any:
        if self.csms.script.start_error:
            raise RuntimeError("scripted failure")  # → CALLERROR InternalError
        return call_result.StartTransaction(
            transaction_id=next(self.csms.tx_ids),
            id_tag_info={"status": self.csms.script.id_tags.get(id_tag, "Accepted")},
        )

    @on("StopTransaction")
    def stop_transaction(self, **_: Any) -> Any:
        return call_result.StopTransaction()

    @on("MeterValues")
    def meter_values(self, **_: Any) -> Any:
        return call_result.MeterValues()

    @on("DataTransfer")
    def data_transfer(self, **_: Any) -> Any:
        return call_result.DataTransfer(status="Accepted")

    @on("DiagnosticsStatusNotification")
    def diagnostics_status(self, **_: Any) -> Any:
        return call_result.DiagnosticsStatusNotification()

    @on("FirmwareStatusNotification")
    def firmware_status(self, **_: Any) -> Any:
        return call_result.FirmwareStatusNotification()

    @on("SignedFirmwareStatusNotification")
    def signed_firmware_status(self, **_: Any) -> Any:
        return call_result.SignedFirmwareStatusNotification()

    @on("SecurityEventNotification")
    def security_event(self, **_: Any) -> Any:
        return call_result.SecurityEventNotification()

    @on("LogStatusNotification")
    def log_status(self, **_: Any) -> Any:
        return call_result.LogStatusNotification()


class TestCsms:
    __test__ = False  # not a pytest class

    def __init__(
        self, *, password: str | None = None, ssl_context: ssl.SSLContext | None = None, port: int = 0
    ) -> None:
        self.script = Script()
        self.password = password
        self.ssl_context = ssl_context
        self.port = port
        self.received: list[tuple[str, str, dict[str, Any], str]] = []  # (cp id, action, payload, unique id)
        self.violations: list[str] = []
        self.raw: list[str] = []  # every frame received, as sent
        self.peers: dict[str, CsmsPeer] = {}
        self.connections = 0
        self.auth_headers: list[str | None] = []
        self.tx_ids = itertools.count(1001)
        self.calls_sent: dict[str, str] = {}  # unique id → action of every CALL this CSMS sent
        self._server: Server | None = None
        self._changed = asyncio.Event()

    def record(self, cp_id: str, action: str, payload: dict[str, Any], unique_id: str) -> None:
        self.received.append((cp_id, action, payload, unique_id))
        self._changed.set()

    def actions(self, *names: str) -> list[tuple[str, dict[str, Any]]]:
        return [(a, p) for _, a, p, _ in self.received if not names or a in names]

    async def wait_for(
        self,
        action: str,
        predicate: Callable[[dict[str, Any]], bool] = lambda p: True,
        timeout_s: float = 5.0,
        count: int = 1,
        after: int = 0,
    ) -> dict[str, Any]:
        """The `count`-th CALL `action` matching `predicate` among those received after index `after`."""

        async def until() -> dict[str, Any]:
            while True:
                hits = [p for _, a, p, _ in self.received[after:] if a == action and predicate(p)]
                if len(hits) >= count:
                    return hits[count - 1]
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(until(), timeout_s)

    def _check_auth(self, connection: ServerConnection, request: Request) -> Response | None:
        header = request.headers.get("Authorization")
        self.auth_headers.append(header)
        if self.password is None:
            return None
        cp_id = request.path.rstrip("/").rsplit("/", 1)[-1]
        expected = "Basic " + base64.b64encode(f"{cp_id}:{self.password}".encode()).decode()
        if header != expected:
            return connection.respond(401, "bad credentials\n")
        return None

    async def _handler(self, connection: ServerConnection) -> None:
        cp_id = connection.request.path.rstrip("/").rsplit("/", 1)[-1] if connection.request else "?"
        send = connection.send

        async def send_and_note(message: Any, *args: Any, **kwargs: Any) -> None:
            strict_capture.sent_by_csms(self.calls_sent, message)  # the answer is checked against its action
            await send(message, *args, **kwargs)

        connection.send = send_and_note  # type: ignore[method-assign]
        peer = CsmsPeer(cp_id, connection, self)
        self.peers[cp_id] = peer
        self.connections += 1
        self._changed.set()
        try:
            await peer.start()
        except websockets.ConnectionClosed:
            pass

    async def start(self) -> int:
        self._server = await serve(
            self._handler,
            "127.0.0.1",
            self.port,
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            process_request=self._check_auth,
            ssl=self.ssl_context,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def wait_connected(self, cp_id: str, timeout_s: float = 5.0) -> CsmsPeer:
        async def until() -> CsmsPeer:
            while cp_id not in self.peers:
                self._changed.clear()
                await self._changed.wait()
            return self.peers[cp_id]

        return await asyncio.wait_for(until(), timeout_s)
