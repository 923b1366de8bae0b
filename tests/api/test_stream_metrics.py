"""The HMI event stream (server-sent events) and GET /metrics (checked with prometheus_client's parser)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from evse.api.metrics import OcppStatusInfo
from evse.session.events import MeterSample, StageChanged, TraceRecord
from evse.session.stages import Stage
from tests.api.conftest import Running

STREAM_TIMEOUT_S = 5.0


async def read_events(resp: aiohttp.ClientResponse, n: int) -> list[tuple[str, dict[str, Any]]]:
    """The next `n` events (comments and keep-alives skipped)."""
    out: list[tuple[str, dict[str, Any]]] = []
    name = ""
    async with asyncio.timeout(STREAM_TIMEOUT_S):
        while len(out) < n:
            line = (await resp.content.readline()).decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                out.append((name, json.loads(line[6:])))
    return out


async def test_event_stream_carries_stage_changes_and_measurements(running: Running) -> None:
    async with running.http.get(running.url + "/api/events") as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream"
        assert (await resp.content.readline()).startswith(b": evse event stream")
        bus = running.bus
        bus.publish(StageChanged(connector_id=1, session_id="s", t_s=1.0, stage=Stage.BMS_WAKE_UP, previous=Stage.IDLE))
        bus.publish(TraceRecord(connector_id=1, session_id="s", t_s=1.1, direction="rx", kind="can", text="x"))
        bus.publish(
            MeterSample(
                connector_id=1,
                session_id="s",
                t_s=2.0,
                voltage_v=400.0,
                current_a=100.0,
                power_w=4e4,
                energy_wh=10.0,
                soc_pct=30.0,
            )
        )
        [(n1, stage), (n2, meter)] = await read_events(resp, 2)
    assert n1 == "StageChanged" and stage["stage"] == "bms_wake_up" and stage["previous"] == "idle"
    assert n2 == "MeterSample" and meter["power_w"] == 4e4 and meter["soc_pct"] == 30.0  # the trace record is left out


async def test_event_stream_filters_and_keepalive(running: Running) -> None:
    url = running.url + "/api/events?connector_id=2&types=StageChanged"
    async with running.http.get(url) as resp:
        await resp.content.readline()
        running.bus.publish(
            StageChanged(connector_id=1, session_id="a", t_s=1.0, stage=Stage.PRE_CHARGE, previous=Stage.IDLE)
        )
        running.bus.publish(
            MeterSample(
                connector_id=2, session_id="b", t_s=1.0, voltage_v=1.0, current_a=1.0, power_w=1.0, energy_wh=0.0
            )
        )
        running.bus.publish(
            StageChanged(connector_id=2, session_id="b", t_s=2.0, stage=Stage.STOPPING, previous=Stage.ENERGY_TRANSFER)
        )
        [(_, only)] = await read_events(resp, 1)
        assert only["connector_id"] == 2 and only["stage"] == "stopping"
        async with asyncio.timeout(STREAM_TIMEOUT_S):
            while (await resp.content.readline()) != b": keep-alive\n":
                pass
    async with running.http.get(running.url + "/api/events?types=Bogus") as resp:
        assert resp.status == 400 and "unknown event type(s) Bogus" in (await resp.json())["error"]


async def test_too_many_stream_clients_is_a_503(running: Running) -> None:
    hub = running.service.ctx.hub
    assert hub is not None
    hub.max_clients = 1
    async with running.http.get(running.url + "/api/events") as first:
        await first.content.readline()
        async with running.http.get(running.url + "/api/events") as second:
            assert second.status == 503


async def test_metrics_parse_and_count_sessions_faults_energy(running: Running) -> None:
    from tests.store.fleet import SessionSpec, publish_session

    publish_session(
        running.bus,
        SessionSpec(
            session_id="m1",
            connector_id=1,
            standard="ccs",
            t0_s=1e7,
            identity={"evccid": "X"},
            protocol_version="din70121",
            energy_s=10,
            fault_at_s=5.0,
        ),
    )
    running.service.set_ocpp_status(lambda: OcppStatusInfo(connected=True, queue_depth=3))

    class Channel:
        name = "can0"
        error_frames = 7
        bus_off_events = 1
        frames_received = 100
        frames_sent = 90
        send_failures = 0

    running.service.set_can_channels(lambda: [Channel()])
    async with running.http.get(running.url + "/metrics") as resp:
        assert resp.status == 200 and resp.content_type == "text/plain"
        text = await resp.text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    # the fixture's fleet was published before the API subscribed; this session was not
    assert (
        samples[
            (
                "evse_sessions_total",
                (("connector", "1"), ("outcome", "failed"), ("reason", "safety_trip"), ("stage", "energy_transfer")),
            )
        ]
        == 1
    )
    assert samples[("evse_faults_total", (("code", "over_temperature"), ("connector", "1"), ("tripped", "true")))] == 1
    assert samples[("evse_energy_delivered_wh_total", (("connector", "1"),))] > 0
    assert samples[("evse_stage_duration_seconds_count", (("stage", "bms_wake_up"),))] == 1
    assert samples[("evse_stage_duration_seconds_bucket", (("le", "1.0"), ("stage", "bms_wake_up")))] == 0
    assert samples[("evse_stage_duration_seconds_bucket", (("le", "2.0"), ("stage", "bms_wake_up")))] == 1
    assert (
        samples[("evse_connector_status", (("connector", "2"), ("standard", "chademo"), ("status", "Charging")))] == 1
    )
    assert samples[("evse_connector_power_w", (("connector", "2"),))] == 47_820.0
    assert samples[("evse_ocpp_connected", ())] == 1 and samples[("evse_ocpp_queue_depth", ())] == 3
    assert samples[("evse_can_error_frames_total", (("channel", "can0"),))] == 7
    assert samples[("evse_store_events_dropped_total", ())] == 0
    assert families["evse_stage_duration_seconds"].type == "histogram"
