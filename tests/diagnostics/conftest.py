from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from evse.session.events import EventBus
from evse.store.database import connect
from evse.store.recorder import SessionRecorder

#: records what `publish(bus)` publishes, through the real recorder, and returns a read-only connection
Recorded = Callable[[Callable[[EventBus], object]], Awaitable[sqlite3.Connection]]


@pytest.fixture
def record(tmp_path: Path) -> Recorded:
    async def run(publish: Callable[[EventBus], object]) -> sqlite3.Connection:
        path = tmp_path / "sessions.sqlite"
        bus = EventBus()
        rec = SessionRecorder(path, bus=bus)
        await rec.start()
        publish(bus)
        await rec.flush()
        await rec.stop()
        return connect(path, readonly=True)

    return run
