"""The local API's HTTP/1.1 server on asyncio streams: the part of aiohttp.web the API used — a route table with
`{name}` segments, requests (method, percent-decoded path, query, headers, body), JSON/text responses, a streamed
response for the event stream — and nothing else.

Why not aiohttp: importing it costs the daemon ~6 MiB of resident memory (its client, connector and two TLS
contexts with the system CA bundle come with `aiohttp.web`), a third of the footprint budget left after the CCS
stack (issue 10). The API is local and small; this server is ~300 lines, bounded everywhere:

* a request head is at most `MAX_HEAD_BYTES` and `MAX_HEADERS` lines; a body at most `Application.client_max_size`
  (read when the handler asks for it, as aiohttp did: a larger one is a 413);
* `Content-Length` and chunked bodies, `Expect: 100-continue`, keep-alive (HTTP/1.1) with an idle limit, HEAD on
  every GET route, 404 and 405 (with `Allow`) from the route table;
* a malformed request is answered 400 and the connection closed; a handler's exception is the application's
  middlewares' business (the API turns it into a JSON 500).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

#: longest request line + headers (aiohttp's limit per line is 8190 bytes; a whole head of 16 KiB is plenty for
#: the API's clients)
MAX_HEAD_BYTES = 16 * 1024
MAX_HEADERS = 100
#: an idle keep-alive connection is closed after this (aiohttp's keepalive_timeout)
KEEPALIVE_S = 75.0
#: a client that opened a connection or started a request must send its head / body within this
READ_TIMEOUT_S = 30.0

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class HTTPError(Exception):
    """An HTTP error the server or a route table raises (404, 405, 413, 400); `headers` go into the response."""

    def __init__(self, status: int, headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.reason = HTTPStatus(status).phrase
        self.headers = dict(headers or {})
        super().__init__(f"{status} {self.reason}")


class Headers(Mapping[str, str]):
    """Request headers, names case-insensitive; a repeated header keeps its values joined by ', ' (RFC 9110 §5.3)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._values: dict[str, str] = {}
        for name, value in pairs:
            key = name.lower()
            self._values[key] = f"{self._values[key]}, {value}" if key in self._values else value

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values


class Query(Mapping[str, str]):
    """The query string's parameters (`+` and %-escapes decoded); `get` and `[]` give a name's first value."""

    def __init__(self, query: str) -> None:
        self._first: dict[str, str] = {}
        for name, value in parse_qsl(query, keep_blank_values=True, errors="replace"):
            self._first.setdefault(name, value)

    def __getitem__(self, name: str) -> str:
        return self._first[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._first)

    def __len__(self) -> int:
        return len(self._first)


class Application(dict[str, Any]):
    """Shared state for the handlers (`request.app[key]`), the route table and the middlewares."""

    def __init__(self, *, middlewares: list[Middleware] | None = None, client_max_size: int = 1024**2) -> None:
        super().__init__()
        self.middlewares = list(middlewares or [])
        self.client_max_size = client_max_size
        self.router = Router()


@dataclass
class Request:
    method: str
    path: str
    query: Query
    headers: Headers
    app: Application
    version: str = "HTTP/1.1"
    match_info: dict[str, str] = field(default_factory=dict)
    _body: Callable[[], Awaitable[bytes]] | None = None

    async def read(self) -> bytes:
        """The body (at most `app.client_max_size` bytes, else HTTPError 413); empty when there is none."""
        if self._body is None:
            return b""
        read, self._body = self._body, None
        return await read()


class Response:
    def __init__(
        self,
        *,
        text: str | None = None,
        body: bytes = b"",
        status: int = 200,
        content_type: str = "text/plain",
        charset: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.body = text.encode(charset or "utf-8") if text is not None else body
        if text is not None or charset is not None:
            content_type = f"{content_type}; charset={charset or 'utf-8'}"
        self.headers: dict[str, str] = {"Content-Type": content_type, **(headers or {})}


class StreamResponse:
    """A response whose body the handler writes piece by piece (the event stream): chunked on HTTP/1.1."""

    def __init__(self, *, status: int = 200, headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.headers = dict(headers or {})
        self._connection: _Connection | None = None

    async def prepare(self, request: Request) -> None:
        connection = _CONNECTIONS.get(id(request))
        assert connection is not None, "prepare() outside a request"
        self._connection = connection
        await connection.start_stream(request, self)

    async def write(self, data: bytes) -> None:
        assert self._connection is not None, "write() before prepare()"
        await self._connection.write_chunk(data)


Handler = Callable[[Request], Awaitable[Response | StreamResponse]]
Middleware = Callable[[Request, Handler], Awaitable[Response | StreamResponse]]


class Router:
    """Routes by method and path pattern; a `{name}` segment matches one non-empty path segment."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, tuple[str, ...], Handler]] = []

    def add_get(self, pattern: str, handler: Handler) -> None:
        self._add("GET", pattern, handler)

    def add_post(self, pattern: str, handler: Handler) -> None:
        self._add("POST", pattern, handler)

    def add_delete(self, pattern: str, handler: Handler) -> None:
        self._add("DELETE", pattern, handler)

    def _add(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, tuple(pattern.split("/")), handler))

    def resolve(self, method: str, raw_path: str) -> tuple[Handler, dict[str, str]]:
        """The handler and path parameters for a request; HTTPError 404 or 405 (with `Allow`) otherwise."""
        segments = [unquote(s, errors="replace") for s in raw_path.split("/")]
        allowed: set[str] = set()
        for route_method, pattern, handler in self._routes:
            params = _match(pattern, segments)
            if params is None:
                continue
            if route_method == method or (route_method == "GET" and method == "HEAD"):
                return handler, params
            allowed |= {route_method, "HEAD"} if route_method == "GET" else {route_method}
        if allowed:
            raise HTTPError(405, {"Allow": ",".join(sorted(allowed))})
        raise HTTPError(404)


def _match(pattern: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    if len(pattern) != len(segments):
        return None
    params: dict[str, str] = {}
    for part, segment in zip(pattern, segments, strict=True):
        if part.startswith("{") and part.endswith("}"):
            if not segment:
                return None
            params[part[1:-1]] = segment
        elif part != segment:
            return None
    return params


#: the connection serving each request being handled (StreamResponse.prepare finds its connection here)
_CONNECTIONS: dict[int, _Connection] = {}


class Server:
    """Serves `app` on (host, port); `close()` stops accepting, lets running requests finish briefly, then ends."""

    def __init__(self, app: Application) -> None:
        self.app = app
        self._server: asyncio.Server | None = None
        self._tasks: dict[asyncio.Task[None], _Connection] = {}

    async def start(self, host: str, port: int) -> int:
        """Listen (OSError if the address cannot be bound); the port actually bound."""
        self._server = await asyncio.start_server(self._accept, host, port, limit=MAX_HEAD_BYTES)
        return int(self._server.sockets[0].getsockname()[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connection = _Connection(self.app, reader, writer)
        self._tasks[task] = connection
        try:
            await connection.serve()
        finally:
            self._tasks.pop(task, None)

    async def close(self, grace_s: float) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task, connection in tuple(self._tasks.items()):
            if connection.idle:  # between requests: nothing to finish
                task.cancel()
        if self._tasks:
            _done, pending = await asyncio.wait(tuple(self._tasks), timeout=grace_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=grace_s)


class _Connection:
    def __init__(self, app: Application, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.app, self.reader, self.writer = app, reader, writer
        self.streaming = False
        self.chunked = False
        self.idle = True  # waiting for a request's head
        self.body_left = 0  # bytes of the current request's body not read yet (-1: chunked, unread)

    async def serve(self) -> None:
        try:
            first = True
            while True:
                self.idle = True
                try:
                    async with asyncio.timeout(READ_TIMEOUT_S if first else KEEPALIVE_S):
                        head = await self.reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                    return
                except asyncio.LimitOverrunError:
                    await self._send_error(HTTPError(431), close=True)
                    return
                self.idle = first = False
                try:
                    request = self._parse(head)
                except HTTPError as error:
                    await self._send_error(error, close=True)
                    return
                if not await self._handle(request):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()

    def _parse(self, head: bytes) -> Request:
        try:
            lines = head[:-4].decode("utf-8", errors="replace").split("\r\n")
            method, target, version = lines[0].split(" ")
        except ValueError:
            raise HTTPError(400) from None
        if not _TOKEN.fullmatch(method) or version not in ("HTTP/1.1", "HTTP/1.0") or len(lines) > MAX_HEADERS + 1:
            raise HTTPError(400)
        pairs: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not _TOKEN.fullmatch(name):  # also refuses obsolete line folding (RFC 9112 §5.2)
                raise HTTPError(400)
            pairs.append((name, value.strip(" \t")))
        headers = Headers(pairs)
        if target.startswith(("http://", "https://")):  # absolute-form (RFC 9112 §3.2.2)
            parts = urlsplit(target)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if not target.startswith("/"):
            raise HTTPError(400)
        path, _, query = target.partition("?")
        self.chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        if "Transfer-Encoding" in headers and not self.chunked:
            raise HTTPError(501)
        length = headers.get("Content-Length", "0" if not self.chunked else "")
        if not self.chunked and not length.isdigit():
            raise HTTPError(400)  # several, negative or garbage lengths (RFC 9112 §6.3)
        self.body_left = -1 if self.chunked else int(length)
        request = Request(method, path, Query(query), headers, self.app, version)
        if self.body_left:
            request._body = lambda: self._read_body(request)
        return request

    async def _read_body(self, request: Request) -> bytes:
        limit = self.app.client_max_size
        if self.body_left > limit:
            raise HTTPError(413)
        if request.headers.get("Expect", "").lower() == "100-continue":
            self.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        async with asyncio.timeout(READ_TIMEOUT_S):
            if not self.chunked:
                body = await self.reader.readexactly(self.body_left)
                self.body_left = 0
                return body
            return await self._read_chunks(limit)

    async def _read_chunks(self, limit: int) -> bytes:
        body = bytearray()
        while True:
            size_line = await self.reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                raise HTTPError(400) from None
            if size == 0:
                while await self.reader.readuntil(b"\r\n") != b"\r\n":  # trailer fields, ignored
                    pass
                self.body_left = 0
                return bytes(body)
            if len(body) + size > limit:
                raise HTTPError(413)
            body += await self.reader.readexactly(size)
            if await self.reader.readexactly(2) != b"\r\n":
                raise HTTPError(400)

    async def _handle(self, request: Request) -> bool:
        """Serve one request; whether the connection stays open for the next."""
        keep_alive = request.version == "HTTP/1.1" and request.headers.get("Connection", "").lower() != "close"
        self.streaming = False
        _CONNECTIONS[id(request)] = self
        try:
            try:
                handler, request.match_info = self.app.router.resolve(request.method, request.path)
            except HTTPError as error:
                handler = _raiser(error)
            for middleware in reversed(self.app.middlewares):
                handler = _wrap(middleware, handler)
            response = await handler(request)
        finally:
            _CONNECTIONS.pop(id(request), None)
        if self.streaming:
            if self.chunked_out:
                self.writer.write(b"0\r\n\r\n")
                await self.writer.drain()
            return keep_alive and self.chunked_out and await self._drain_body(request)
        assert isinstance(response, Response)
        keep_alive = keep_alive and await self._drain_body(request)
        await self._send(request, response, keep_alive)
        return keep_alive

    async def _drain_body(self, request: Request) -> bool:
        """Read and drop a body the handler left unread; False when it cannot be (too large or malformed, or the
        client waits for a 100 Continue it will not get: then the connection closes after the response)."""
        if not self.body_left:
            return True
        if request.headers.get("Expect", "").lower() == "100-continue":
            return False
        try:
            await self._read_body(Request("", "", Query(""), Headers([]), self.app))
        except HTTPError:
            return False
        return True

    async def _send(self, request: Request, response: Response, keep_alive: bool) -> None:
        headers = {**response.headers, "Content-Length": str(len(response.body))}
        self.writer.write(self._head(response.status, headers, keep_alive))
        if request.method != "HEAD":
            self.writer.write(response.body)
        await self.writer.drain()

    async def _send_error(self, error: HTTPError, *, close: bool) -> None:
        body = f'{{"error": "{error.reason}"}}'.encode()
        headers = {"Content-Type": "application/json; charset=utf-8", "Content-Length": str(len(body)), **error.headers}
        self.writer.write(self._head(error.status, headers, not close) + body)
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()

    def _head(self, status: int, headers: Mapping[str, str], keep_alive: bool) -> bytes:
        date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())  # wall-clock ok: the HTTP Date header
        lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", f"Date: {date}", "Server: evse"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if not keep_alive:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")

    async def start_stream(self, request: Request, response: StreamResponse) -> None:
        self.streaming = True
        self.chunked_out = request.version == "HTTP/1.1"
        headers = dict(response.headers)
        if self.chunked_out:
            headers["Transfer-Encoding"] = "chunked"
        self.writer.write(self._head(response.status, headers, self.chunked_out))
        await self.writer.drain()

    async def write_chunk(self, data: bytes) -> None:
        if self.chunked_out:
            data = b"%x\r\n%s\r\n" % (len(data), data)
        self.writer.write(data)
        await self.writer.drain()

    chunked_out = False


def _raiser(error: HTTPError) -> Handler:
    async def handler(request: Request) -> Response:
        raise error

    return handler


def _wrap(middleware: Middleware, handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response | StreamResponse:
        return await middleware(request, handler)

    return wrapped
