"""A real HTTP server on loopback (aiohttp) for firmware downloads and diagnostics/log uploads."""

from __future__ import annotations

from typing import Any

from aiohttp import web


class HttpPeer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}  # served at /fw/<name>
        self.uploads: dict[str, bytes] = {}
        self.fail_uploads = 0  # answer this many uploads with 503 first
        self.requests: list[str] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _get(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(f"GET {request.path}")
        data = self.files.get(request.match_info["name"])
        return web.Response(status=404) if data is None else web.Response(body=data)

    async def _post(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(f"POST {request.path}")
        if self.fail_uploads > 0:
            self.fail_uploads -= 1
            return web.Response(status=503)
        reader = await request.multipart()
        async for part in reader:
            if getattr(part, "filename", None):
                self.uploads[str(part.filename)] = await part.read()  # type: ignore[union-attr]
        return web.Response(status=201)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/fw/{name}", self._get)
        app.router.add_post("/upload", self._post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server: Any = site._server
        self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
