"""Fixtures of the OCPP tests: a real CSMS on loopback, a station double, and a client with short timings."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from evse.ocpp.service import OcppService
from evse.ocpp.settings import OcppSettings
from evse.session.events import EventBus
from tests.ocpp import strict_capture
from tests.ocpp.csms import TestCsms
from tests.ocpp.station_double import StationDouble


def fast_settings(port: int, **overrides: Any) -> OcppSettings:
    values: dict[str, Any] = {
        "enabled": True,
        "csms_url": f"ws://127.0.0.1:{port}",
        "charge_point_id": "CP1",
        "connect_timeout_s": 2.0,
        "response_timeout_s": 2.0,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.2,
        "boot_retry_s": 0.2,
        "heartbeat_interval_s": 0,
        "meter_sample_interval_s": 0,
        "clock_aligned_interval_s": 0,
        "transaction_message_retry_s": 1,
    }
    values.update(overrides)
    return OcppSettings(**values)


@pytest.fixture(scope="session")
def strict_checker() -> Iterator[strict_capture.StrictFrameChecker]:
    checker = strict_capture.StrictFrameChecker()
    yield checker
    checker.close()


@pytest.fixture(autouse=True)
def strictly_valid_frames(strict_checker: strict_capture.StrictFrameChecker) -> Iterator[None]:
    """Every frame the charge point sent to a test CSMS during the test passes the independent strict validator
    (npm ocpp-rpc, strict mode): zero violations."""
    strict_capture.CAPTURED.clear()
    yield
    frames = list(strict_capture.CAPTURED)
    strict_capture.CAPTURED.clear()
    if not frames:
        return
    verdict = strict_checker.check(frames)
    assert verdict["checked"] == len(frames)
    assert verdict["violations"] == [], verdict["violations"]


@pytest.fixture
async def csms() -> AsyncIterator[TestCsms]:
    server = TestCsms()
    await server.start()
    yield server
    await server.stop()
    # the CSMS validated every CALL of the charge point against the `ocpp` package's schemas
    assert server.violations == [], server.violations


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
def station(bus: EventBus) -> StationDouble:
    return StationDouble(bus)


ServiceFactory = Callable[..., "asyncio.Future[OcppService]"]


@pytest.fixture
async def make_service(tmp_path: Path, bus: EventBus, station: StationDouble) -> AsyncIterator[Any]:
    services: list[OcppService] = []

    async def make(port: int, *, state_dir: Path | None = None, station_: Any = None, **overrides: Any) -> OcppService:
        service = OcppService(
            fast_settings(port, **overrides),
            bus,
            station_ or station,
            state_dir=state_dir or tmp_path,
            rng=random.Random(1),
        )
        await service.start()
        services.append(service)
        return service

    yield make
    for service in services:
        await service.stop()


async def until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async def poll() -> None:
        while not predicate():  # noqa: ASYNC110 (polling state of the thing under test)
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout_s)
