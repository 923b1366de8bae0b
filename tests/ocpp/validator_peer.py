"""The independent strict validator (tests/ocpp/validator/validator.js: npm `ocpp-rpc` in strict mode) as a
second CSMS the Python tests drive: start it on a free loopback port, send CALLs, read the violations it reports."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
from pathlib import Path
from typing import Any

VALIDATOR_DIR = Path(__file__).parent / "validator"


class ValidatorPeer:
    def __init__(self) -> None:
        self.port = 0
        self.events: list[dict[str, Any]] = []
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._refs = itertools.count(1)
        self._changed = asyncio.Event()

    @property
    def violations(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] in ("violation", "fatal")]

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        return [e["params"] for e in self.events if e["event"] == "call" and method in (None, e["method"])]

    async def start(self, port: int = 0) -> None:
        node = shutil.which("node")
        if node is None or not (VALIDATOR_DIR / "node_modules" / "ocpp-rpc").is_dir():
            raise RuntimeError("the strict validator needs node and `npm ci` in tests/ocpp/validator (make test)")
        self._process = await asyncio.create_subprocess_exec(
            node,
            str(VALIDATOR_DIR / "validator.js"),
            str(port),
            cwd=VALIDATOR_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())
        first = await self.wait_event(lambda e: e["event"] == "listening", 10.0)
        self.port = int(first["port"])

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        while line := await self._process.stdout.readline():
            with contextlib.suppress(ValueError):
                self.events.append(json.loads(line))
                self._changed.set()

    async def wait_event(self, predicate: Any, timeout_s: float = 5.0) -> dict[str, Any]:
        async def until() -> dict[str, Any]:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(until(), timeout_s)

    async def wait_call(self, method: str, predicate: Any = lambda p: True, timeout_s: float = 5.0) -> dict[str, Any]:
        event = await self.wait_event(
            lambda e: e["event"] == "call" and e["method"] == method and predicate(e["params"]), timeout_s
        )
        return dict(event["params"])

    async def call(self, method: str, params: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
        assert self._process is not None and self._process.stdin is not None
        ref = f"r{next(self._refs)}"
        self._process.stdin.write((json.dumps({"ref": ref, "method": method, "params": params}) + "\n").encode())
        await self._process.stdin.drain()
        event = await self.wait_event(lambda e: e.get("ref") == ref, timeout_s)
        if event["event"] == "error":
            raise AssertionError(f"{method}: {event['error']}")
        return dict(event["result"])

    async def stop(self) -> None:
        if self._process is not None:
            if self._process.stdin is not None:
                self._process.stdin.close()
            with contextlib.suppress(ProcessLookupError):
                self._process.terminate()
            await self._process.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
