"""The local API's HTTP/1.1 server (`evse.api.http`) on raw sockets: routing (404, 405 with Allow, HEAD), bodies
(Content-Length, chunked, 100-continue, the size limit), keep-alive, the streamed response, malformed requests
(400, never a crash), and stopping with a request still running. Real loopback sockets, short bounds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evse.api import http as web

LIMIT = 1024


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    text = f"{request.method} {request.match_info} {dict(request.query)} {len(body)} {body[:20]!r}"
    return web.Response(text=text)


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello", headers={"X-Test": "1"})


async def stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for i in range(3):
        await response.write(f"data: {i}\n\n".encode())
    return response


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(30)
    return web.Response(text="late")


async def errors(request: web.Request, handler: web.Handler) -> web.Response | web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPError as error:
        return web.Response(text=f"error {error.status}", status=error.status, headers=error.headers)


@pytest.fixture
async def server() -> AsyncIterator[tuple[web.Server, int]]:
    app = web.Application(middlewares=[errors], client_max_size=LIMIT)
    app.router.add_get("/hello", hello)
    app.router.add_post("/items/{item_id}", echo)
    app.router.add_delete("/items/{item_id}", echo)
    app.router.add_get("/stream", stream)
    app.router.add_get("/slow", slow)
    srv = web.Server(app)
    port = await srv.start("127.0.0.1", 0)
    yield srv, port
    await srv.close(grace_s=0.5)


async def exchange(port: int, data: bytes, *, read_all: bool = True) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(5):
            return await reader.read() if read_all else await reader.read(65536)
    finally:
        writer.close()


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


async def test_routes_params_query_and_keep_alive(server: tuple[web.Server, int]) -> None:
    _, port = server
    two = (
        b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /items/a%2Fb%20c?x=1&x=2&y=a+b HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
    )
    data = await exchange(port, two)
    first, second = data.split(b"HTTP/1.1 ")[1:]
    assert first.startswith(b"200 OK") and b"X-Test: 1" in first and first.endswith(b"hello")
    assert b"Content-Type: text/plain; charset=utf-8" in first
    assert second.startswith(b"200 OK") and b"Connection: close" in second
    assert second.endswith(b"POST {'item_id': 'a/b c'} {'x': '1', 'y': 'a b'} 3 b'abc'")


async def test_unknown_path_is_404_and_wrong_method_405_with_allow(server: tuple[web.Server, int]) -> None:
    _, port = server
    assert status_of(await exchange(port, b"GET /nothing HTTP/1.1\r\nConnection: close\r\n\r\n")) == 404
    assert status_of(await exchange(port, b"GET /hello/ HTTP/1.1\r\nConnection: close\r\n\r\n")) == 404
    response = await exchange(port, b"PUT /items/1 HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert status_of(response) == 405 and b"Allow: DELETE,POST\r\n" in response
    response = await exchange(port, b"POST /hello HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert status_of(response) == 405 and b"Allow: GET,HEAD\r\n" in response


async def test_head_answers_the_get_headers_without_a_body(server: tuple[web.Server, int]) -> None:
    _, port = server
    response = await exchange(port, b"HEAD /hello HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert status_of(response) == 200 and b"Content-Length: 5\r\n" in response and response.endswith(b"\r\n\r\n")


async def test_chunked_body_and_100_continue(server: tuple[web.Server, int]) -> None:
    _, port = server
    head = b"POST /items/7 HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    chunked = head + b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"
    assert (await exchange(port, chunked)).endswith(b"5 b'abcde'")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /items/7 HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
    async with asyncio.timeout(5):
        assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"hi")
        assert (await reader.read()).endswith(b"2 b'hi'")
    writer.close()


async def test_a_body_over_the_limit_is_413_and_the_connection_closes(server: tuple[web.Server, int]) -> None:
    _, port = server
    big = b"POST /items/1 HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (LIMIT + 1) + b"x" * (LIMIT + 1)
    response = await exchange(port, big)
    assert status_of(response) == 413 and b"Connection: close" in response
    chunks = b"".join(b"100\r\n" + b"x" * 256 + b"\r\n" for _ in range(5))
    response = await exchange(port, b"POST /items/1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)
    assert status_of(response) == 413


async def test_an_unread_body_is_skipped_before_the_next_request(server: tuple[web.Server, int]) -> None:
    _, port = server
    data = b"GET /hello HTTP/1.1\r\nContent-Length: 4\r\n\r\njunkGET /hello HTTP/1.1\r\nConnection: close\r\n\r\n"
    assert (await exchange(port, data)).count(b"HTTP/1.1 200 OK") == 2


async def test_streamed_response_is_chunked_on_1_1_and_plain_on_1_0(server: tuple[web.Server, int]) -> None:
    _, port = server
    response = await exchange(port, b"GET /stream HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in response and b"Content-Type: text/event-stream\r\n" in response
    assert response.endswith(b"9\r\ndata: 2\n\n\r\n0\r\n\r\n")
    response = await exchange(port, b"GET /stream HTTP/1.0\r\n\r\n")
    assert b"Transfer-Encoding" not in response and response.endswith(b"data: 0\n\ndata: 1\n\ndata: 2\n\n")


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"GET /hello\r\n\r\n", 400),
        (b"GET /hello HTTP/2.0\r\n\r\n", 400),
        (b"G(T /hello HTTP/1.1\r\n\r\n", 400),
        (b"GET hello HTTP/1.1\r\n\r\n", 400),
        (b"GET /hello HTTP/1.1\r\nBad Header: x\r\n\r\n", 400),
        (b"GET /hello HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400),
        (b"POST /items/1 HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST /items/1 HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n", 400),
        (b"POST /items/1 HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"GET /hello HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n", 431),
    ],
)
async def test_malformed_requests_are_refused(
    server: tuple[web.Server, int], request_bytes: bytes, status: int
) -> None:
    _, port = server
    response = await exchange(port, request_bytes)
    assert status_of(response) == status and b"Connection: close" in response


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(max_size=300))
async def test_arbitrary_bytes_never_crash_the_server(server: tuple[web.Server, int], garbage: bytes) -> None:
    _, port = server
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(garbage + b"\r\n\r\n")
    writer.write_eof()
    async with asyncio.timeout(5):
        response = await reader.read()
    writer.close()
    assert response == b"" or response.startswith(b"HTTP/1.1 ")
    assert (await exchange(port, b"GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n")).endswith(b"hello")


async def test_close_cancels_a_request_still_running_after_the_grace(server: tuple[web.Server, int]) -> None:
    srv, port = server
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /slow HTTP/1.1\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(0.05)
    started = asyncio.get_running_loop().time()
    await srv.close(grace_s=0.2)
    assert asyncio.get_running_loop().time() - started < 2.0
    async with asyncio.timeout(5):
        assert await reader.read() == b""  # the connection was closed without an answer
    writer.close()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_close_ends_idle_keep_alive_connections_at_once(server: tuple[web.Server, int]) -> None:
    srv, port = server
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /hello HTTP/1.1\r\n\r\n")
    async with asyncio.timeout(5):
        assert (await reader.readuntil(b"hello")).startswith(b"HTTP/1.1 200 OK")
    started = asyncio.get_running_loop().time()
    await srv.close(grace_s=3.0)
    assert asyncio.get_running_loop().time() - started < 1.0  # not the grace: nothing was running
    async with asyncio.timeout(5):
        assert await reader.read() == b""
    writer.close()
