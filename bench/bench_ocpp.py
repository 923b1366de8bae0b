"""OCPP client figures against a local CSMS (the dev CSMS of `evse csms`, on loopback):

- replay of N queued transaction messages after reconnect (messages/s, and the memory the replay allocates),
  against a baseline of N sequential request/answer pairs over a bare websockets echo on the same loopback;
- CALL → CALLRESULT round trip (Heartbeat) through the whole client stack (schema validation both ways, ocpp
  package, websockets), against the same bare websockets echo round trip.
"""

from __future__ import annotations

import asyncio
import io
import resource
import socket
import tempfile
import time
from typing import Any

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from bench.harness import Result, Stats
from evse.ocpp.db import OcppDatabase
from evse.ocpp.dev_csms import DevCsms
from evse.ocpp.queue import TransactionQueue
from evse.ocpp.service import OcppService
from evse.ocpp.settings import OcppSettings
from evse.session.events import EventBus
from evse.station.control import Authorization, AuthorizationStatus, Authorizer, ConnectorSnapshot

METER_PAYLOAD: dict[str, Any] = {
    "connectorId": 1,
    "meterValue": [
        {
            "timestamp": "2026-01-01T00:00:00.000Z",
            "sampledValue": [
                {"value": "12345", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": "40000", "measurand": "Power.Active.Import", "unit": "W"},
                {"value": "100", "measurand": "Current.Import", "unit": "A"},
                {"value": "400", "measurand": "Voltage", "unit": "V"},
            ],
        }
    ],
}


class _Station:
    """The least a StationControl must do for the OCPP client to run."""

    def connector_ids(self) -> list[int]:
        return [1]

    def snapshot(self, connector_id: int) -> ConnectorSnapshot:
        raise NotImplementedError

    async def authorize(self, connector_id: int, id_tag: str) -> Authorization:
        return Authorization(AuthorizationStatus.ACCEPTED, id_tag)

    async def remote_start(self, connector_id: int, id_tag: str) -> bool:
        return False

    async def stop(self, connector_id: int, reason: str) -> bool:
        return False

    def set_available(self, connector_id: int, available: bool) -> bool:
        return True

    def set_csms_limit(self, connector_id: int, current_a: float | None, power_w: float | None) -> None:
        pass

    async def unlock(self, connector_id: int) -> bool:
        return True

    def set_authorizer(self, authorizer: Authorizer) -> None:
        pass


class _Null(io.StringIO):
    """The dev CSMS's message log, discarded (its cost is not the client's)."""

    def write(self, text: str) -> int:
        return len(text)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _settings(port: int) -> OcppSettings:
    return OcppSettings(
        enabled=True,
        csms_url=f"ws://127.0.0.1:{port}",
        charge_point_id="BENCH",
        heartbeat_interval_s=0,
        meter_sample_interval_s=0,
        clock_aligned_interval_s=0,
        backoff_initial_s=0.05,
    )


async def _with_csms(body: Any) -> Any:
    port, control = _free_port(), _free_port()
    server = asyncio.create_task(DevCsms(_Null()).run("127.0.0.1", port, control))
    await asyncio.sleep(0.2)
    try:
        return await body(port)
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)


async def _until(predicate: Any, poll_s: float = 0.002) -> None:
    while not predicate():  # noqa: ASYNC110 (benchmark polling, not control code)
        await asyncio.sleep(poll_s)


async def _replay(n: int) -> tuple[float, float]:
    """(messages/s, growth of the peak resident set during the replay in MiB). tracemalloc would slow the
    replay several times over, so memory is the process's peak RSS (ru_maxrss) before and after."""
    with tempfile.TemporaryDirectory() as state_dir:
        db = OcppDatabase.in_dir(state_dir)
        queue = TransactionQueue(db)
        local = queue.begin(1, "BENCH", None, 0, "2026-01-01T00:00:00.000Z")
        with db.transaction():
            for _ in range(n - 2):
                queue._push("MeterValues", METER_PAYLOAD, local)
        queue.end(local, 12345, "2026-01-01T01:00:00.000Z", "Local")
        db.close()

        async def body(port: int) -> tuple[float, float]:
            bus = EventBus()
            service = OcppService(_settings(port), bus, _Station(), state_dir=state_dir)
            rss_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            await service.start()
            assert service.client is not None
            client = service.client
            await client.accepted.wait()
            t0 = time.perf_counter()
            await _until(client.queue.empty)
            elapsed = time.perf_counter() - t0
            rss_growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before_kib
            await service.stop()
            return n / elapsed, rss_growth_kib / 1024

        result: tuple[float, float] = await _with_csms(body)
        return result


async def _round_trips(n: int) -> list[float]:
    async def body(port: int) -> list[float]:
        with tempfile.TemporaryDirectory() as state_dir:
            service = OcppService(_settings(port), EventBus(), _Station(), state_dir=state_dir)
            await service.start()
            assert service.client is not None
            await service.client.accepted.wait()
            cp = service.client.cp
            assert cp is not None
            samples = []
            for _ in range(n):
                t0 = time.perf_counter()
                await cp.call_raw("Heartbeat", {})
                samples.append((time.perf_counter() - t0) * 1e6)
            await service.stop()
            return samples

    result: list[float] = await _with_csms(body)
    return result


async def _echo(n: int, frame: str) -> list[float]:
    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", compression=None, proxy=None) as ws:
            samples = []
            for _ in range(n):
                t0 = time.perf_counter()
                await ws.send(frame)
                await ws.recv()
                samples.append((time.perf_counter() - t0) * 1e6)
            return samples


def run(quick: bool) -> list[Result]:
    n_replay = 500 if quick else 10_000
    n_rtt = 200 if quick else 3_000
    rate, peak_mib = asyncio.run(_replay(n_replay))
    echo_frame = '[2,"q1-0","MeterValues",' + str(METER_PAYLOAD).replace("'", '"') + "]"
    echo = asyncio.run(_echo(n_replay, echo_frame))
    echo_rate = n_replay / (sum(echo) / 1e6)
    rtt = Stats.of(asyncio.run(_round_trips(n_rtt)))
    base = Stats.of(asyncio.run(_echo(n_rtt, '[2,"1","Heartbeat",{}]')))
    return [
        Result(
            f"OCPP queue replay after reconnect ({n_replay} messages)",
            "msg/s",
            rate,
            baseline=echo_rate,
            baseline_name="bare websocket request/answer",
            higher_is_better=True,
            n=n_replay,
            note=f"peak RSS grew {peak_mib:.1f} MiB during the replay",
        ),
        Result(
            "OCPP CALL → CALLRESULT round trip (Heartbeat, local CSMS)",
            "µs",
            rtt.median,
            rtt.p99,
            baseline=base.median,
            baseline_name="bare websocket echo",
            n=rtt.n,
        ),
    ]
