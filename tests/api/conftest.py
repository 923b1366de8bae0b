"""Test doubles of the station and the simulator, and a running API on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from evse.api.service import ApiService
from evse.api.settings import ApiSettings
from evse.api.sim import SimControlError
from evse.session.events import EventBus
from evse.station.control import (
    Authorization,
    AuthorizationStatus,
    Authorizer,
    ConnectorSnapshot,
    ConnectorStatus,
)
from evse.store.recorder import SessionRecorder
from tests.store.fleet import plant_fleet

TOKEN = "s3cret-token-for-tests"


class FakeStation:
    """A StationControl double: two connectors, commands recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.available = {1: True, 2: True}
        self.busy = {2}

    def connector_ids(self) -> list[int]:
        return [1, 2]

    def snapshot(self, connector_id: int) -> ConnectorSnapshot:
        charging = connector_id in self.busy
        return ConnectorSnapshot(
            connector_id=connector_id,
            standard="ccs" if connector_id == 1 else "chademo",
            status=ConnectorStatus.CHARGING if charging else ConnectorStatus.AVAILABLE,
            stage="energy_transfer" if charging else "idle",
            session_id="live-2" if charging else None,
            id_tag="TAG" if charging else None,
            voltage_v=398.5 if charging else 0.0,
            current_a=120.0 if charging else 0.0,
            power_w=47_820.0 if charging else 0.0,
            energy_wh=1234.0 if charging else 0.0,
            soc_pct=55.0 if charging else None,
            current_limit_a=125.0,
            limit_source="cable_temperature" if charging else "charger",
        )

    async def authorize(self, connector_id: int, id_tag: str) -> Authorization:
        self.calls.append(("authorize", connector_id, id_tag))
        status = AuthorizationStatus.ACCEPTED if id_tag != "BLOCKED" else AuthorizationStatus.BLOCKED
        return Authorization(status, id_tag, source="allow_list")

    async def remote_start(self, connector_id: int, id_tag: str) -> bool:
        self.calls.append(("remote_start", connector_id, id_tag))
        return connector_id not in self.busy

    async def stop(self, connector_id: int, reason: str) -> bool:
        self.calls.append(("stop", connector_id, reason))
        return connector_id in self.busy

    def set_available(self, connector_id: int, available: bool) -> bool:
        self.calls.append(("set_available", connector_id, available))
        self.available[connector_id] = available
        return connector_id not in self.busy

    def set_csms_limit(self, connector_id: int, current_a: float | None, power_w: float | None) -> None:
        self.calls.append(("set_csms_limit", connector_id, current_a, power_w))

    async def unlock(self, connector_id: int) -> bool:
        return True

    def set_authorizer(self, authorizer: Authorizer) -> None:
        pass


@dataclass
class FakeSim:
    """A SimControl double."""

    calls: list[tuple[Any, ...]] = field(default_factory=list)
    plugged: dict[int, str] = field(default_factory=dict)
    faults: dict[int, set[str]] = field(default_factory=dict)

    def profiles(self) -> list[str]:
        return ["ccs-400v-hatchback", "chademo-0.9-leaf"]

    def fault_catalogue(self) -> list[dict[str, Any]]:
        return [{"name": "worn_pilot_contact", "description": "worn CP contact", "params": {"offset_v": 1.2}}]

    def active_faults(self, connector_id: int) -> list[dict[str, Any]]:
        return [{"name": n, "params": {}} for n in sorted(self.faults.get(connector_id, set()))]

    async def plug(self, connector_id: int, profile: str, soc_pct: float | None = None) -> None:
        if profile not in self.profiles():
            raise SimControlError(f"no vehicle profile named {profile!r}; use one of {', '.join(self.profiles())}")
        if connector_id in self.plugged:
            raise SimControlError(f"connector {connector_id} already has a vehicle plugged in; unplug it first")
        self.plugged[connector_id] = profile
        self.calls.append(("plug", connector_id, profile, soc_pct))

    async def unplug(self, connector_id: int) -> None:
        if self.plugged.pop(connector_id, None) is None:
            raise SimControlError(f"no vehicle is plugged into connector {connector_id}")
        self.calls.append(("unplug", connector_id))

    def inject_fault(self, connector_id: int, name: str, params: dict[str, Any]) -> None:
        if name != "worn_pilot_contact":
            raise SimControlError(f"unknown fault {name!r}; known faults: worn_pilot_contact")
        self.faults.setdefault(connector_id, set()).add(name)
        self.calls.append(("inject", connector_id, name, params))

    def clear_fault(self, connector_id: int, name: str) -> bool:
        present = name in self.faults.get(connector_id, set())
        self.faults.get(connector_id, set()).discard(name)
        return present


@dataclass(frozen=True)
class FakeConfig:
    api: ApiSettings
    station: Any = None

    def redacted(self) -> dict[str, Any]:
        return {"api": {"token_file": self.api.token_file}, "ocpp": {"password": "***"}}


@dataclass
class Running:
    service: ApiService
    station: FakeStation
    sim: FakeSim
    bus: EventBus
    http: aiohttp.ClientSession
    recorder: SessionRecorder

    @property
    def url(self) -> str:
        return self.service.url

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "api-token"
    path.write_text(TOKEN + "\n", encoding="utf-8")
    return path


@pytest.fixture
async def running(tmp_path: Path, token_file: Path) -> AsyncIterator[Running]:
    bus = EventBus()
    station = FakeStation()
    sim = FakeSim()
    recorder = SessionRecorder(tmp_path / "sessions.sqlite", bus=bus)
    await recorder.start()
    plant_fleet(bus, n=24)
    await recorder.flush()
    config = FakeConfig(ApiSettings(port=0, token_file=str(token_file), keepalive_s=0.2))
    service = ApiService(config, bus, station, recorder, sim)
    await service.start()
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        yield Running(service, station, sim, bus, http, recorder)
    await service.stop(2.0)
    service.close()
    await recorder.stop()
