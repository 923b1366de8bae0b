"""The daemon's real wiring (`serve()` on a configuration: station, OCPP client, store + API) hands the local API
what only it knows: GET /metrics shows the OCPP link (connected, queue depth) to a loopback development CSMS and
the vehicle link's CAN counters (a python-can `virtual` channel), and on SIGTERM every driver is shut down and the
CAN channel the builder opened is closed. Real sockets on loopback, real time, short bounds."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

from evse.api.client import call
from evse.config.loader import parse_config
from evse.daemon import wiring
from evse.daemon.exitcodes import EXIT_OK
from evse.daemon.main import serve
from evse.ocpp.dev_csms import DevCsms

CONFIG = """
[station]
id = "T-WIRED"
state_dir = "{state}"
free_vend = true
[[connectors]]
id = 1
standard = "chademo"
vehicle_link = {{ interface = "virtual", channel = "{channel}" }}
[ocpp]
enabled = true
csms_url = "ws://127.0.0.1:{csms_port}"
charge_point_id = "CP-WIRED"
[api]
port = {api_port}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metric_lines(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(name + "{") or line.startswith(name + " ")]


async def test_metrics_show_the_ocpp_link_and_can_counters_and_stop_releases_drivers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    csms_port, api_port = free_port(), free_port()
    channel = f"evse-wired-{uuid.uuid4().hex[:8]}"
    config = parse_config(
        CONFIG.format(state=tmp_path / "state", channel=channel, csms_port=csms_port, api_port=api_port)
    )
    csms_log = io.StringIO()
    dev_csms = DevCsms(csms_log)
    csms = asyncio.create_task(dev_csms.run("127.0.0.1", csms_port, free_port()))
    built: list[wiring.Wiring] = []
    real_build = wiring.build

    def spy(*args: Any) -> wiring.Wiring:
        built.append(real_build(*args))
        return built[-1]

    monkeypatch.setattr(wiring, "build", spy)
    (tmp_path / "state").mkdir()
    daemon = asyncio.create_task(serve(config))
    url = f"http://127.0.0.1:{api_port}"
    metrics = ""
    try:

        async def connected() -> bool:
            nonlocal metrics
            with contextlib.suppress(OSError):
                metrics = await asyncio.to_thread(_get_text, url + "/metrics")
            return metric_lines(metrics, "evse_ocpp_connected") == ["evse_ocpp_connected 1"]

        async with asyncio.timeout(20):
            while not await connected():  # noqa: ASYNC110 - polling the daemon over HTTP
                await asyncio.sleep(0.1)
        assert "CP-WIRED → BootNotification" in csms_log.getvalue(), metrics
        (depth,) = metric_lines(metrics, "evse_ocpp_queue_depth")
        assert depth.split()[1].isdigit()
        name = f'channel="virtual:{channel}"'
        for counter in ("error_frames", "bus_off_events", "frames_received", "frames_sent", "send_failures"):
            lines = metric_lines(metrics, f"evse_can_{counter}_total")
            assert lines and name in lines[0], (counter, lines)
        status = await asyncio.to_thread(call, url, "GET", "/api/status")
        assert status["station_id"] == "T-WIRED" and "rfid" not in status  # no reader configured
        (composed,) = built
        assert [s.name for s in composed.services] == ["station", "ocpp", "store+api"]
        assert all(s.alive() for s in composed.services)
        link = composed.station.connectors[1].spec.roles.can
        assert not link.closed
    finally:
        os.kill(os.getpid(), signal.SIGTERM)
        code = await asyncio.wait_for(daemon, 20)
        csms.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await csms
    assert code == EXIT_OK
    assert link.closed  # released after the last safe state
    assert composed.station.drivers() == []


def _get_text(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


async def test_ocpp_service_liveness_reaches_the_watchdog() -> None:
    class Ocpp:
        healthy = True
        client = None

        def alive(self) -> bool:
            return self.healthy

    ocpp = Ocpp()
    service = wiring.OcppDaemonService(ocpp)
    assert service.alive()
    ocpp.healthy = False
    assert not service.alive()
    assert service.status().connected is False and service.status().queue_depth == 0
    assert wiring.OcppDaemonService(object()).alive()  # a service without alive(): nothing to report


async def test_ocpp_stop_drains_the_queue_only_while_connected() -> None:
    class Client:
        online = True
        queue: list[object] = []

    class Ocpp:
        def __init__(self) -> None:
            self.client = Client()
            self.journal: list[str] = []

        async def drain(self, timeout_s: float) -> bool:
            self.journal.append(f"drain({timeout_s:g})")
            return True

        async def stop(self) -> None:
            self.journal.append("stop")

    ocpp = Ocpp()
    await wiring.OcppDaemonService(ocpp).stop(4.0)
    await wiring.OcppDaemonService(ocpp).stop(60.0)
    assert ocpp.journal == ["drain(2)", "stop", f"drain({wiring.OCPP_DRAIN_MAX_S:g})", "stop"]
    ocpp.client.online = False  # offline: nothing could be delivered, stop at once
    ocpp.journal.clear()
    await wiring.OcppDaemonService(ocpp).stop(60.0)
    assert ocpp.journal == ["stop"]


class RecordingSensors:
    """A `temperatures` driver with a background task, like the real ones: `shutdown()` must be called once."""

    journal: list[str] = []

    def __init__(self, name: str, fail: bool) -> None:
        self.name, self.fail = name, fail

    def readings_c(self) -> dict[str, float]:
        return {"dc_plus": 25.0}

    def add_listener(self, listener: Any) -> None:
        pass

    def shutdown(self) -> None:
        RecordingSensors.journal.append(f"shutdown {self.name}")
        if self.fail:
            raise RuntimeError("port already gone")


async def test_stop_shuts_every_driver_down_after_the_last_safe_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evse.hardware import registry

    def factory(params: dict[str, Any], context: registry.DriverContext) -> RecordingSensors:
        return RecordingSensors(f"c{context.connector_id}", fail=context.connector_id == 1)

    registry.register("temperatures", "recording", factory, replace=True)
    RecordingSensors.journal = []
    try:
        config = parse_config(
            f'[station]\nstate_dir = "{tmp_path}"\n[ocpp]\nenabled = false\n[api]\nenabled = false\n'
            '[[connectors]]\nid = 1\nstandard = "chademo"\n'
            'hardware = { temperatures = { driver = "recording" } }\n'
            '[[connectors]]\nid = 2\nstandard = "gbt"\n'
            'hardware = { temperatures = { driver = "recording" } }\n'
        )
        built: list[wiring.Wiring] = []
        real_build = wiring.build

        def spy(*args: Any) -> wiring.Wiring:
            built.append(real_build(*args))
            real_safe_state = built[-1].station.safe_state

            def safe_state() -> None:
                RecordingSensors.journal.append("safe_state")
                real_safe_state()

            built[-1].station.safe_state = safe_state
            return built[-1]

        monkeypatch.setattr(wiring, "build", spy)
        daemon = asyncio.create_task(serve(config))
        await asyncio.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)
        assert await asyncio.wait_for(daemon, 20) == EXIT_OK
    finally:
        registry.unregister("temperatures", "recording")
    # the first driver's failing shutdown does not keep the second one's port open
    assert RecordingSensors.journal[-3:] == ["safe_state", "shutdown c1", "shutdown c2"]


async def test_stop_lets_the_stop_transaction_reach_a_connected_csms(tmp_path: Path) -> None:
    csms_port = free_port()
    dev_csms = DevCsms(io.StringIO())
    csms = asyncio.create_task(dev_csms.run("127.0.0.1", csms_port, free_port()))
    config = parse_config(
        f'[station]\nstate_dir = "{tmp_path}"\nfree_vend = true\n[api]\nenabled = false\n'
        f'[ocpp]\nenabled = true\ncsms_url = "ws://127.0.0.1:{csms_port}"\nbackoff_initial_s = 0.2\n'
        '[[connectors]]\nid = 1\nstandard = "chademo"\nvehicle = "chademo-1.0-40kwh"\n'
    )
    daemon = asyncio.create_task(serve(config))
    try:
        async with asyncio.timeout(20):
            while "StartTransaction" not in [a for _, a, _ in dev_csms.received]:  # noqa: ASYNC110 - a peer's log
                await asyncio.sleep(0.05)
    finally:
        os.kill(os.getpid(), signal.SIGTERM)
        code = await asyncio.wait_for(daemon, 20)
        csms.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await csms
    assert code == EXIT_OK
    assert "StopTransaction" in [a for _, a, _ in dev_csms.received]


async def test_the_power_module_bus_is_counted_and_closed(tmp_path: Path) -> None:
    """A real driver with its own CAN bus (InfyPower modules on a python-can `virtual` channel): the bus is among
    the station's CAN channels for /metrics, and releasing the drivers ends the group's task and closes the bus."""
    from evse.session.events import EventBus
    from evse.station.build import build_station

    bus_name = f"evse-modules-{uuid.uuid4().hex[:8]}"
    config = parse_config(
        f'[station]\nstate_dir = "{tmp_path}"\n[[connectors]]\nid = 1\nstandard = "chademo"\n'
        f'hardware = {{ power_module = {{ driver = "infypower", params = {{ interface = "virtual", channel = '
        f'"{bus_name}", group = 1, modules = [1] }} }} }}\n'
    )
    station = build_station(config, bus=EventBus())
    names = [channel.name for channel in station.can_channels()]
    assert f"virtual:{bus_name}" in names
    (module_bus,) = [c for c in station.can_channels() if c.name == f"virtual:{bus_name}"]
    group = station.connectors[1].spec.roles.power
    assert group in station.drivers() and not module_bus.closed
    station.shutdown_drivers()
    await asyncio.sleep(0)
    assert module_bus.closed and group._task.done()  # type: ignore[attr-defined]
    assert station.drivers() == []
