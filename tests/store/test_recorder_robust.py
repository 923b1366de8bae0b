"""The recorder survives what a buggy or racing publisher may send, and a failing disk does not stop it."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evse.session.events import (
    Event,
    EventBus,
    FaultRaised,
    MeterSample,
    PilotQuality,
    SessionEnded,
    SessionStarted,
    StageChanged,
    TraceRecord,
)
from evse.session.stages import Outcome, Reason, Stage
from evse.store.database import connect
from evse.store.reader import SessionReader
from evse.store.recorder import SessionRecorder
from evse.store.writer import StoreWriter

pytestmark = pytest.mark.looptime

_EXAMPLE = itertools.count()
SIDS = st.sampled_from(["a", "b", None])
CONNECTORS = st.sampled_from([1, 2])
T = st.floats(min_value=0, max_value=1e4, allow_nan=False)


def _event(kind: str, connector: int, sid: str | None, t: float, stage: Stage) -> Event:
    base: dict[str, Any] = {"connector_id": connector, "session_id": sid, "t_s": t}
    if kind == "start":
        return SessionStarted(**base, standard="gbt")
    if kind == "stage":
        return StageChanged(**base, stage=stage, previous=Stage.IDLE)
    if kind == "meter":
        return MeterSample(**base, voltage_v=400.0, current_a=10.0, power_w=4e3, energy_wh=1.0, soc_pct=50.0)
    if kind == "trace":
        return TraceRecord(**base, direction="rx", kind="can", text="(0.0) can0 123#00")
    if kind == "pilot":
        return PilotQuality(**base, line="cc1", voltage_v=4.0, nominal_v=4.0)
    if kind == "fault":
        return FaultRaised(**base, code="over_voltage", detail="x", tripped=True)
    return SessionEnded(
        **base, outcome=Outcome.of(stage, Reason.TIMEOUT), stage_durations_s={stage: 1.0}, energy_wh=0.0
    )


EVENTS = st.lists(
    st.builds(
        _event,
        st.sampled_from(["start", "stage", "meter", "trace", "pilot", "fault", "end"]),
        CONNECTORS,
        SIDS,
        T,
        st.sampled_from(list(Stage)),
    ),
    max_size=40,
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(events=EVENTS)
async def test_arbitrary_event_sequences_never_break_the_store(tmp_path: Path, events: list[Event]) -> None:
    path = tmp_path / f"s{next(_EXAMPLE)}.sqlite"  # one fresh file per example (tmp_path is per test)
    bus = EventBus()
    rec = SessionRecorder(path, bus=bus)
    await rec.start()
    for event in events:
        bus.publish(event)
    await rec.flush()
    await rec.stop()
    assert bus.errors == 0 and rec.stats.write_errors == 0
    conn = connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    started = {e.session_id for e in events if isinstance(e, SessionStarted) and e.session_id}
    stored = {r[0] for r in conn.execute("SELECT id FROM sessions")}
    assert stored == started
    conn.close()


async def test_a_failing_write_is_counted_and_recording_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = EventBus()
    rec = SessionRecorder(tmp_path / "s.sqlite", bus=bus)
    await rec.start()
    real_apply = StoreWriter.apply
    calls = {"n": 0}

    def flaky(self: StoreWriter, ops: list[Any]) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("disk I/O error")
        return real_apply(self, ops)

    monkeypatch.setattr(StoreWriter, "apply", flaky)
    bus.publish(SessionStarted(connector_id=1, session_id="lost", t_s=0.0, standard="ccs"))
    await rec.flush()
    bus.publish(SessionStarted(connector_id=2, session_id="kept", t_s=1.0, standard="ccs"))
    await rec.flush()
    await rec.stop()
    assert rec.stats.write_errors == 1
    assert [s["id"] for s in SessionReader(tmp_path / "s.sqlite").sessions()] == ["kept"]


async def test_a_broken_station_snapshot_does_not_reach_the_publisher(tmp_path: Path) -> None:
    class Broken:
        def snapshot(self, connector_id: int) -> Any:
            raise RuntimeError("boom")

    bus = EventBus()
    rec = SessionRecorder(tmp_path / "s.sqlite", bus=bus, station=Broken())  # type: ignore[arg-type]
    await rec.start()
    bus.publish(SessionStarted(connector_id=1, session_id="x", t_s=0.0, standard="ccs"))
    bus.publish(
        StageChanged(connector_id=1, session_id="x", t_s=1.0, stage=Stage.BMS_WAKE_UP, previous=Stage.AUTHORIZATION)
    )
    await rec.flush()
    await rec.stop()
    assert bus.errors == 0
    assert SessionReader(tmp_path / "s.sqlite").get("x")["authorization_status"] == "accepted"
