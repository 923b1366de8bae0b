from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from evse.session.events import EventBus
from evse.store.recorder import SessionRecorder
from evse.store.settings import StoreSettings


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "sessions.sqlite"


@pytest.fixture
async def recorder(bus: EventBus, db_path: Path) -> AsyncIterator[SessionRecorder]:
    rec = SessionRecorder(db_path, StoreSettings(), bus)
    await rec.start()
    yield rec
    await rec.stop()
