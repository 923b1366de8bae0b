"""The recorder writes what the events say: one session's every part, 1 Hz samples, the handshake trace and
the window around faults; the publisher is never blocked."""

from __future__ import annotations

from pathlib import Path

import pytest

from evse.session.events import EventBus, SessionStarted, StageChanged
from evse.session.stages import Reason, Stage
from evse.store.reader import SessionNotFound, SessionReader
from evse.store.recorder import SessionRecorder, vehicle_key
from evse.store.settings import StoreSettings
from tests.store.fleet import SessionSpec, publish_session

pytestmark = pytest.mark.looptime


def ccs_spec(**kw: object) -> SessionSpec:
    base: dict[str, object] = dict(
        session_id="s1",
        connector_id=1,
        standard="ccs",
        t0_s=100.0,
        identity={"evccid": "0A1B2C3D4E5F", "mac": "02:00:00:00:00:01"},
        protocol_version="din70121",
        pilot_v=8.95,
        insulation_ohm=30e6,
        energy_s=20,
    )
    base.update(kw)
    return SessionSpec(**base)  # type: ignore[arg-type]


async def test_complete_session_is_recorded_whole(bus: EventBus, recorder: SessionRecorder, db_path: Path) -> None:
    publish_session(bus, ccs_spec())
    await recorder.flush()
    reader = SessionReader(db_path)
    s = reader.get("s1")
    assert s["connector_id"] == 1 and s["standard"] == "ccs" and s["protocol_version"] == "din70121"
    assert s["vehicle_key"] == "evccid:0A1B2C3D4E5F"
    assert s["identity"]["mac"] == "02:00:00:00:00:01"
    assert s["outcome_kind"] == "completed" and s["outcome_reason"] == "completed"
    assert s["outcome_stage"] == "energy_transfer"
    assert s["authorization_status"] == "accepted"
    assert [st["stage"] for st in s["stages"]][:3] == ["connection_detection", "bms_wake_up", "authorization"]
    assert all(st["exited_s"] is not None and st["exited_s"] >= st["entered_s"] for st in s["stages"])
    assert s["limits"]["vehicle_max_current_a"] == 200.0
    assert [(lim["source"], lim["current_limit_a"]) for lim in s["limits_over_time"]] == [
        ("vehicle", 200.0),
        ("cable_temperature", 120.0),
    ]
    # 2 Hz in, 1 Hz stored
    assert len(s["samples"]) == 20
    assert s["samples"][1]["t_s"] - s["samples"][0]["t_s"] == pytest.approx(1.0)
    assert s["samples"][0]["temperatures"] == {"cable": 30.0}
    assert s["soc_start_pct"] == pytest.approx(20.05) and s["soc_end_pct"] > s["soc_start_pct"]
    assert s["peak_power_w"] == pytest.approx(max(x["power_w"] for x in s["samples"]), rel=0.01)
    assert s["energy_wh"] > 0
    # the pilot reading came before SessionStarted and is attached to the session
    assert s["pilot"] == [{"t_s": 0.0, "line": "cp", "voltage_v": 8.95, "nominal_v": 9.0}]
    assert s["insulation"][0]["resistance_ohm"] == 30e6 and s["insulation_ohm"] == 30e6
    # handshake trace only: no energy-transfer frames (102#...) without a fault
    assert s["trace"] and all("102#" not in r["text"] for r in s["trace"])
    assert s["stage_durations"]["energy_transfer"] == pytest.approx(20.0)
    assert reader.sessions()[0]["id"] == "s1"
    reader.close()


async def test_fault_during_energy_transfer_keeps_a_trace_window(
    bus: EventBus, recorder: SessionRecorder, db_path: Path
) -> None:
    publish_session(bus, ccs_spec(fault_at_s=10.0, energy_s=30))
    await recorder.flush()
    s = SessionReader(db_path).get("s1")
    assert s["outcome_kind"] == "failed" and s["outcome_reason"] == "safety_trip"
    assert s["faults"][0]["code"] == "over_temperature" and s["faults"][0]["tripped"] is True
    et = [r for r in s["trace"] if "102#" in r["text"]]
    fault_t = s["faults"][0]["t_s"]
    window = StoreSettings().fault_trace_window_s
    assert et, "the frames before the fault are kept"
    assert all(fault_t - window <= r["t_s"] <= fault_t + window for r in et)
    assert min(r["t_s"] for r in et) == pytest.approx(fault_t - window)


async def test_handshake_failure_keeps_outcome_and_evidence(
    bus: EventBus, recorder: SessionRecorder, db_path: Path
) -> None:
    publish_session(
        bus,
        ccs_spec(fail_stage=Stage.INSULATION_TEST, fail_reason=Reason.INSULATION_FAULT, fail_detail="42 kΩ < 50 kΩ"),
    )
    await recorder.flush()
    s = SessionReader(db_path).get("s1")
    assert (s["outcome_kind"], s["outcome_stage"], s["outcome_reason"]) == (
        "failed",
        "insulation_test",
        "insulation_fault",
    )
    assert s["outcome_detail"] == "42 kΩ < 50 kΩ"
    assert s["insulation"][0]["passed"] is False
    assert s["samples"] == [] and s["energy_wh"] == 0.0
    assert s["stages"][-1]["stage"] == "insulation_test"


async def test_publisher_never_blocks_and_overflow_is_counted(db_path: Path) -> None:
    bus = EventBus()
    rec = SessionRecorder(db_path, StoreSettings(queue_max_events=10), bus)
    # not started: nothing drains the queue, yet publishing returns at once
    bus.subscribe(rec.on_event)
    for n in range(25):
        bus.publish(SessionStarted(connector_id=1, session_id=f"x{n}", t_s=float(n), standard="ccs"))
    assert rec.stats.received == 25 and rec.stats.dropped == 15
    assert bus.errors == 0


async def test_batches_commit_many_events_in_few_transactions(bus: EventBus, recorder: SessionRecorder) -> None:
    for n in range(5):
        publish_session(bus, ccs_spec(session_id=f"s{n}", t0_s=1000.0 * n))
    await recorder.flush()
    assert recorder.stats.sessions_recorded == 5
    assert recorder.stats.commits < recorder.stats.ops_written / 20


async def test_interrupted_session_is_closed_on_next_start(bus: EventBus, db_path: Path) -> None:
    rec = SessionRecorder(db_path, StoreSettings(), bus)
    await rec.start()
    bus.publish(SessionStarted(connector_id=2, session_id="dead", t_s=5.0, standard="gbt"))
    bus.publish(StageChanged(connector_id=2, session_id="dead", t_s=6.0, stage=Stage.BMS_WAKE_UP, previous=Stage.IDLE))
    await rec.stop()  # the daemon "dies": no SessionEnded
    rec2 = SessionRecorder(db_path, StoreSettings(), EventBus())
    await rec2.start()
    await rec2.stop()
    s = SessionReader(db_path).get("dead")
    assert s["ended_at"] is not None and s["outcome_reason"] == "shutdown"
    assert s["outcome_stage"] == "bms_wake_up" and "interrupted" in s["outcome_detail"]


async def test_unknown_session_is_a_clear_miss(recorder: SessionRecorder, db_path: Path) -> None:
    await recorder.flush()
    with pytest.raises(SessionNotFound):
        SessionReader(db_path).get("nope")


def test_vehicle_key_prefers_the_strongest_identity() -> None:
    assert vehicle_key({"vin": "LSV1", "mac": "x"}) == "vin:LSV1"
    assert vehicle_key({"mac": "02:00", "evccid": "0200"}) == "evccid:0200"
    assert vehicle_key({"signature": "abc"}) == "signature:abc"
    # the keys the adapters use: CCS evcc_id, CHAdeMO vehicle_signature (next to its declared parameters)
    assert vehicle_key({"evcc_id": "0A1B2C3D4E5F", "protocol": "din"}) == "evccid:0A1B2C3D4E5F"
    assert vehicle_key({"max_battery_voltage_v": "410", "vehicle_signature": "9f2c"}) == "signature:9f2c"
    assert vehicle_key({"vin": "  ", "mac": "02:00"}) == "mac:02:00"
    assert vehicle_key({"b": "2", "a": "1"}) == "a=1;b=2"
    assert vehicle_key({}) is None
