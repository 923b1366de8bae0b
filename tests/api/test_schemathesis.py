"""schemathesis against the running API: every operation of the OpenAPI description, with generated valid and
invalid requests — no 5xx, responses (status, content type, body) match the description, invalid input is
refused with a 4xx. The server runs on its own loop in a thread (schemathesis calls are synchronous)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from evse.api.metrics import RfidStatusInfo
from evse.api.openapi import build_spec
from evse.api.service import ApiService
from evse.api.settings import ApiSettings
from evse.session.events import EventBus
from evse.store.recorder import SessionRecorder
from tests.api.conftest import TOKEN, FakeConfig, FakeSim, FakeStation
from tests.store.fleet import plant_fleet

SETTINGS = ApiSettings(port=0)
# the event stream never ends, so it is exercised in test_stream_metrics instead
schema = schemathesis.openapi.from_dict(build_spec(SETTINGS.max_page)).exclude(path="/api/events")


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    token_file = tmp / "token"
    token_file.write_text(TOKEN, encoding="utf-8")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def up() -> tuple[ApiService, SessionRecorder]:
        bus = EventBus()
        recorder = SessionRecorder(Path(tmp) / "sessions.sqlite", bus=bus)
        await recorder.start()
        plant_fleet(bus, n=12)
        await recorder.flush()
        config = FakeConfig(ApiSettings(port=0, token_file=str(token_file)))
        service = ApiService(config, bus, FakeStation(), recorder, FakeSim())
        # the daemon's extras (/api/status and /metrics): an RFID reader that is faulted
        service.set_rfid_status(lambda: RfidStatusInfo("pn532", "rfid_reader_silent", 3, 1, {"accepted": 2}))
        await service.start()
        return service, recorder

    service, recorder = asyncio.run_coroutine_threadsafe(up(), loop).result(timeout=30)

    async def down() -> None:
        await service.stop(2.0)
        await recorder.stop()

    yield service.url
    asyncio.run_coroutine_threadsafe(down(), loop).result(timeout=30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_description(case: schemathesis.Case, api_url: str) -> None:
    case.call_and_validate(base_url=api_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
