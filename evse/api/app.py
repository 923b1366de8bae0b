"""The local HTTP API (aiohttp): read endpoints, the event stream and /metrics; the write endpoints are in
`evse.api.commands`. Every error a client can cause is a 4xx with `{"error": "<one sentence>"}`; an
unexpected exception is a 500 with a generic message (and a logged traceback), never a stack in the response.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import structlog
from aiohttp import web

from evse.api.metrics import CanChannelsProvider, OcppStatusProvider, RfidStatusProvider, StationMetrics
from evse.api.openapi import build_spec
from evse.api.serialize import dumps, event_dict, snapshot_dict
from evse.api.settings import ApiSettings
from evse.api.sim import SimControl
from evse.api.stream import STREAM_TYPES, EventHub
from evse.diagnostics.settings import DiagnosticsSettings
from evse.station.control import StationControl
from evse.store.database import StoreError
from evse.store.reader import SessionNotFound, SessionReader
from evse.store.recorder import SessionRecorder

log = structlog.get_logger("evse.api")
T = TypeVar("T")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """A client error: HTTP status and one sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class ApiContext:
    settings: ApiSettings
    station: StationControl
    station_id: str = "evse"
    db_path: Path | None = None
    recorder: SessionRecorder | None = None
    sim: SimControl | None = None
    token: str | None = None
    config_view: dict[str, Any] = field(default_factory=dict)
    diagnostics: DiagnosticsSettings = field(default_factory=DiagnosticsSettings)
    metrics: StationMetrics = field(default_factory=StationMetrics)
    hub: EventHub | None = None
    ocpp: OcppStatusProvider | None = None
    can_channels: CanChannelsProvider | None = None
    rfid: RfidStatusProvider | None = None
    bus_errors: Callable[[], int] | None = None
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    _reader: SessionReader | None = None
    _executor: ThreadPoolExecutor | None = None

    def __post_init__(self) -> None:
        if self.hub is None:
            self.hub = EventHub(self.settings.event_queue_max, self.settings.max_event_clients)

    async def read(self, fn: Callable[[SessionReader], T]) -> T:
        """Run a store query on the API's reader thread (SQLite never blocks the event loop)."""
        if self.db_path is None:
            raise ApiError(404, "no session store is configured for this daemon")
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evse-api-store")

        def call() -> T:
            if self._reader is None:
                assert self.db_path is not None
                self._reader = SessionReader(self.db_path)
            return fn(self._reader)

        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        except StoreError as error:
            raise ApiError(404, str(error)) from None

    def close(self) -> None:
        if self._executor is not None:
            reader, self._reader = self._reader, None
            if reader is not None:
                self._executor.submit(reader.close)
            self._executor.shutdown(wait=True)
            self._executor = None


CTX = web.AppKey("ctx", ApiContext)


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.Response(text=dumps(value), status=status, content_type="application/json")


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return json_response({"error": error.message}, error.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        reason = {404: "no such endpoint: see /api/openapi.json", 405: f"method {request.method} is not allowed here"}
        response = json_response({"error": reason.get(exc.status, exc.reason)}, exc.status)
        if "Allow" in exc.headers:  # RFC 9110: a 405 lists the methods that are allowed
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("API request failed", path=request.path)
        return json_response({"error": "internal error; the daemon log has the details"}, 500)


def require_token(request: web.Request) -> None:
    ctx = request.app[CTX]
    if ctx.token is None:
        raise ApiError(403, "write requests are disabled: set api.token_file to a file holding a token")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise ApiError(401, "this request needs the API token: send 'Authorization: Bearer <token>'")
    if not hmac.compare_digest(given.strip().encode(), ctx.token.encode()):
        raise ApiError(401, "the API token is wrong: use the one in the configured api.token_file")


def int_param(value: str | None, name: str, *, low: int, high: int) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer, got {value!r}") from None
    if not low <= number <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}, got {number}")
    return number


def bool_param(value: str | None, name: str) -> bool | None:
    if value is None:
        return None
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise ApiError(400, f"{name} must be true or false, got {value!r}")


def connector_of(request: web.Request) -> int:
    ctx = request.app[CTX]
    connector_id = int_param(request.match_info["connector_id"], "connector_id", low=1, high=999)
    assert connector_id is not None
    if connector_id not in ctx.station.connector_ids():
        known = ", ".join(str(c) for c in ctx.station.connector_ids())
        raise ApiError(404, f"there is no connector {connector_id} (connectors: {known})")
    return connector_id


# ---------------------------------------------------------------- read endpoints
async def openapi(request: web.Request) -> web.Response:
    return json_response(build_spec(request.app[CTX].settings.max_page))


async def status(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    store: dict[str, Any] = {"configured": ctx.db_path is not None}
    if ctx.recorder is not None:
        s = ctx.recorder.stats
        store.update(received=s.received, dropped=s.dropped, write_errors=s.write_errors, sessions=s.sessions_recorded)
    connectors = [snapshot_dict(ctx.station.snapshot(c)) for c in ctx.station.connector_ids()]
    body: dict[str, Any] = {
        "station_id": ctx.station_id,
        "simulated": ctx.sim is not None,
        "connectors": connectors,
        "store": store,
    }
    if ctx.rfid is not None:
        body["rfid"] = ctx.rfid().as_dict()
    return json_response(body)


async def connectors(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    return json_response([snapshot_dict(ctx.station.snapshot(c)) for c in ctx.station.connector_ids()])


async def connector(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    return json_response(snapshot_dict(ctx.station.snapshot(connector_of(request))))


async def sessions(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    q = request.query
    limit = int_param(q.get("limit"), "limit", low=1, high=ctx.settings.max_page) or 50
    offset = int_param(q.get("offset"), "offset", low=0, high=10**9) or 0
    connector_id = int_param(q.get("connector_id"), "connector_id", low=1, high=999)
    failed = bool_param(q.get("failed"), "failed") or False
    rows = await ctx.read(
        lambda r: r.sessions(limit=limit, offset=offset, connector_id=connector_id, failed_only=failed)
    )
    return json_response(rows)


async def session(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    session_id = request.match_info["session_id"]
    with_samples = bool_param(request.query.get("samples"), "samples")
    try:
        found = await ctx.read(lambda r: r.get(session_id, with_samples=with_samples is not False))
    except SessionNotFound:
        raise ApiError(404, f"no stored session with id {session_id!r}") from None
    return json_response(found)


async def trace(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    session_id = request.match_info["session_id"]
    try:
        return json_response(await ctx.read(lambda r: r.trace(session_id)))
    except SessionNotFound:
        raise ApiError(404, f"no stored session with id {session_id!r}") from None


async def diagnose(request: web.Request) -> web.Response:
    # the diagnosis rules (and statistics) load on the first request, not with the daemon: operators ask rarely
    from evse.diagnostics.report import build_report

    ctx = request.app[CTX]
    report = await ctx.read(lambda r: build_report(r.conn, ctx.diagnostics).to_dict())
    return json_response(report)


async def config(request: web.Request) -> web.Response:
    return json_response(request.app[CTX].config_view)


async def metrics(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    extra: dict[str, tuple[str, float]] = {}
    if ctx.recorder is not None:
        s = ctx.recorder.stats
        extra["evse_store_events_dropped_total"] = ("Events the session recorder had to drop", s.dropped)
        extra["evse_store_write_errors_total"] = ("Session store batches that failed to commit", s.write_errors)
        extra["evse_store_sessions_recorded_total"] = ("Sessions recorded since start", s.sessions_recorded)
    if ctx.bus_errors is not None:
        extra["evse_event_subscriber_errors_total"] = ("Event subscribers that raised", ctx.bus_errors())
    text = ctx.metrics.render(
        ctx.station, ocpp=ctx.ocpp, can_channels=ctx.can_channels, rfid=ctx.rfid, extra_counters=extra
    )
    return web.Response(
        text=text, content_type="text/plain", charset="utf-8", headers={"X-Content-Type-Options": "nosniff"}
    )


async def events(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    assert ctx.hub is not None
    connector_id = int_param(request.query.get("connector_id"), "connector_id", low=1, high=999)
    types = frozenset(STREAM_TYPES)
    if "types" in request.query:
        asked = {t.strip() for t in request.query["types"].split(",") if t.strip()}
        unknown = asked - types
        if unknown or not asked:
            raise ApiError(
                400, f"unknown event type(s) {', '.join(sorted(unknown)) or '(none)'}; known: {', '.join(STREAM_TYPES)}"
            )
        types = frozenset(asked)
    client = ctx.hub.join(connector_id, types)
    if client is None:
        raise ApiError(503, f"too many event-stream clients ({ctx.hub.max_clients}); close one and retry")
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    try:
        await response.prepare(request)
        await response.write(b": evse event stream\n\n")
        seq = 0
        while not ctx.closing.is_set():
            if not client.queue:
                client.wake.clear()
                try:
                    async with asyncio.timeout(ctx.settings.keepalive_s):
                        await client.wake.wait()
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
            while client.queue:
                event = client.queue.popleft()
                seq += 1
                payload = dumps(event_dict(event))
                await response.write(f"id: {seq}\nevent: {type(event).__name__}\ndata: {payload}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        ctx.hub.leave(client)
    return response
