"""Each finding rule fires on stored sessions that show its pattern and stays silent on look-alikes that don't."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from evse.diagnostics.report import build_report
from evse.diagnostics.rules import (
    connector_failures,
    insulation_decline,
    pilot_drift,
    recurring_fault,
    vehicle_incompatible,
)
from evse.diagnostics.settings import DiagnosticsSettings
from evse.session.events import EventBus
from evse.session.stages import Reason, Stage
from tests.diagnostics.conftest import Recorded
from tests.store.fleet import SessionSpec, publish_session

pytestmark = pytest.mark.looptime
S = DiagnosticsSettings()


def series(
    n: int, connector_id: int = 1, standard: str = "ccs", **per_session: Callable[[int], object]
) -> Callable[[EventBus], None]:
    """Publish `n` sessions on one connector; each keyword maps the session index to a spec field value."""

    def publish(bus: EventBus) -> None:
        t = 0.0
        for i in range(n):
            spec = SessionSpec(
                session_id=f"c{connector_id}-{i:03d}",
                connector_id=connector_id,
                standard=standard,
                t0_s=t + 100.0,
                identity={"evccid": f"CAR{i % 7}"},
                protocol_version="din70121",
                pilot_v=9.0,
                energy_s=5,
            )
            for name, value in per_session.items():
                setattr(spec, name, value(i))
            t = publish_session(bus, spec)

    return publish


noise = random.Random(5)


# ---------------------------------------------------------------- pilot drift
async def test_pilot_drift_found_with_its_failures(record: Recorded) -> None:
    def fail(i: int) -> Stage | None:
        return Stage.BMS_WAKE_UP if i in (27, 28) else Stage.CONNECTION_DETECTION if i == 29 else None

    conn = await record(series(30, pilot_v=lambda i: 9.0 - 0.02 * i, fail_stage=fail))
    [finding] = pilot_drift(conn, S)
    assert finding.evidence["failures"] == {"bms_wake_up": 2, "connection_detection": 1}
    assert "CP high level drifted from 8.9 V to 8.5 V over 30 sessions" in finding.summary
    assert "2 wake-up failures, 1 connection detection failure" in finding.summary


async def test_pilot_stable_with_noise_is_no_finding(record: Recorded) -> None:
    conn = await record(series(60, pilot_v=lambda i: 8.9 + noise.gauss(0, 0.08)))
    assert pilot_drift(conn, S) == []


async def test_one_low_stretch_in_the_middle_is_no_drift(record: Recorded) -> None:
    # a few sessions with a poor reading (a vehicle with a worn inlet), then back to normal: no trend
    conn = await record(series(40, pilot_v=lambda i: 8.3 if 10 <= i < 30 and i % 2 else 8.95))
    assert pilot_drift(conn, S) == []


async def test_too_few_sessions_for_a_trend(record: Recorded) -> None:
    conn = await record(series(S.trend_min_sessions - 1, pilot_v=lambda i: 9.0 - 0.2 * i))
    assert pilot_drift(conn, S) == []


async def test_only_the_recent_window_counts(record: Recorded) -> None:
    # drifted long ago, then level: the recent window shows no movement, the whole history does
    conn = await record(series(60, pilot_v=lambda i: 9.0 - 0.03 * i if i < 30 else 8.1))
    assert pilot_drift(conn, DiagnosticsSettings(trend_window_sessions=20)) == []
    assert len(pilot_drift(conn, DiagnosticsSettings(trend_window_sessions=60))) == 1


# ---------------------------------------------------------------- vehicle incompatibility
def chademo_station(bad_fails: Callable[[int], bool], others_fail: bool = False) -> Callable[[EventBus], None]:
    def publish(bus: EventBus) -> None:
        t = 0.0
        for i in range(30):
            bad = i % 6 == 0
            spec = SessionSpec(
                session_id=f"s{i:03d}",
                connector_id=3,
                standard="chademo",
                t0_s=t + 100.0,
                identity={"signature": "old-car" if bad else f"car-{i % 4}"},
                protocol_version="0.9" if bad else "1.0",
                energy_s=5,
            )
            if (bad and bad_fails(i)) or (not bad and others_fail):
                spec.fail_stage = Stage.PARAMETER_NEGOTIATION
                spec.fail_reason = Reason.VEHICLE_INCOMPATIBLE
            t = publish_session(bus, spec)

    return publish


async def test_vehicle_failing_every_attempt_is_named(record: Recorded) -> None:
    conn = await record(chademo_station(lambda i: True))
    [finding] = vehicle_incompatible(conn, S)
    assert finding.evidence["vehicle_key"] == "signature:old-car"
    assert "fails parameter negotiation on all 5 attempts (CHAdeMO 0.9)" in finding.summary
    assert finding.evidence["others_ok"] == 25


async def test_vehicle_failing_now_and_then_is_no_finding(record: Recorded) -> None:
    conn = await record(chademo_station(lambda i: i in (0, 12)))  # 2 of 5
    assert vehicle_incompatible(conn, S) == []


async def test_connector_failing_everyone_does_not_blame_a_vehicle(record: Recorded) -> None:
    conn = await record(chademo_station(lambda i: True, others_fail=True))
    assert vehicle_incompatible(conn, S) == []


async def test_rejected_authorization_is_not_incompatibility(record: Recorded) -> None:
    def publish(bus: EventBus) -> None:
        chademo_station(lambda i: False)(bus)
        t = 1e6
        for i in range(4):
            spec = SessionSpec(
                session_id=f"rej{i}",
                connector_id=3,
                standard="chademo",
                t0_s=t,
                identity={"signature": "no-contract"},
                protocol_version="1.0",
                fail_stage=Stage.AUTHORIZATION,
                fail_reason=Reason.AUTHORIZATION_REJECTED,
            )
            t = publish_session(bus, spec) + 100

    conn = await record(publish)
    assert vehicle_incompatible(conn, S) == []


# ---------------------------------------------------------------- insulation decline
async def test_insulation_decline_found(record: Recorded) -> None:
    def ohm(i: int) -> float:
        return 40e6 * 0.85**i

    def fail(i: int) -> Stage | None:
        return Stage.INSULATION_TEST if ohm(i) < 100e3 else None

    conn = await record(series(40, insulation_ohm=ohm, fail_stage=fail, fail_reason=lambda i: Reason.INSULATION_FAULT))
    [finding] = insulation_decline(conn, S)
    assert finding.evidence["insulation_faults"] == 3
    assert "insulation resistance falling session over session" in finding.summary
    assert finding.evidence["lowest_ohm"] == pytest.approx(ohm(39))


async def test_insulation_varying_by_vehicle_is_no_finding(record: Recorded) -> None:
    conn = await record(series(60, insulation_ohm=lambda i: noise.uniform(5e6, 80e6)))
    assert insulation_decline(conn, S) == []


async def test_one_wet_vehicle_is_no_decline(record: Recorded) -> None:
    conn = await record(series(40, insulation_ohm=lambda i: 300e3 if i == 35 else 30e6))
    assert insulation_decline(conn, S) == []


# ---------------------------------------------------------------- recurring fault
async def test_recurring_fault_found(record: Recorded) -> None:
    conn = await record(series(10, fault_at_s=lambda i: 2.0 if i % 3 == 0 else None))
    [finding] = recurring_fault(conn, S)
    assert finding.evidence == {"connector_id": 1, "code": "over_temperature", "count": 4, "sessions": 4}


async def test_rare_fault_is_no_finding(record: Recorded) -> None:
    conn = await record(series(10, fault_at_s=lambda i: 2.0 if i in (2, 7) else None))
    assert recurring_fault(conn, S) == []


# ---------------------------------------------------------------- connector failures
def two_connectors(
    fails_on_1: Callable[[int], bool], fails_on_2: Callable[[int], bool], one_car: bool = False
) -> Callable[[EventBus], None]:
    def publish(bus: EventBus) -> None:
        t = 0.0
        for i in range(30):
            for c, fails in ((1, fails_on_1), (2, fails_on_2)):
                spec = SessionSpec(
                    session_id=f"c{c}-{i:03d}",
                    connector_id=c,
                    standard="ccs",
                    t0_s=t + 100.0,
                    identity={"evccid": "ONE" if one_car and fails(i) else f"CAR{i % 9}"},
                    protocol_version="din70121",
                    pilot_v=None,  # no pilot readings: the rule must work without them
                    energy_s=5,
                )
                if fails(i):
                    spec.fail_stage = Stage.BMS_WAKE_UP
                    spec.fail_detail = "SLAC: no CM_SLAC_PARM.REQ"
                t = publish_session(bus, spec)

    return publish


async def test_connector_failing_wake_up_for_many_vehicles_is_named(record: Recorded) -> None:
    conn = await record(two_connectors(lambda i: i % 5 == 0, lambda i: False))
    [finding] = connector_failures(conn, S)
    assert finding.subject == "connector 1" and finding.evidence["failed"] == 6 and finding.evidence["vehicles"] >= 2
    assert "6 of 30 sessions failed in wake-up (timeout)" in finding.summary and "0 of 30" in finding.summary


async def test_failures_spread_over_connectors_or_one_vehicle_are_not_the_connector(record: Recorded) -> None:
    conn = await record(two_connectors(lambda i: i % 5 == 0, lambda i: i % 6 == 0))
    assert connector_failures(conn, S) == []


async def test_one_vehicle_failing_on_a_connector_is_not_the_connector(record: Recorded) -> None:
    conn = await record(two_connectors(lambda i: i % 5 == 0, lambda i: False, one_car=True))
    assert connector_failures(conn, S) == []


async def test_pilot_drift_subsumes_the_connector_finding(record: Recorded) -> None:
    def publish(bus: EventBus) -> None:
        t = 0.0
        for i in range(30):
            for c in (1, 2):
                worn = c == 1
                spec = SessionSpec(
                    session_id=f"c{c}-{i:03d}",
                    connector_id=c,
                    standard="ccs",
                    t0_s=t + 100.0,
                    identity={"evccid": f"CAR{i % 9}"},
                    protocol_version="din70121",
                    pilot_v=9.0 - 0.02 * i if worn else 9.0,
                    energy_s=5,
                )
                if worn and i % 5 == 4:
                    spec.fail_stage = Stage.BMS_WAKE_UP
                t = publish_session(bus, spec)

    conn = await record(publish)
    assert [f.rule for f in connector_failures(conn, S)] == ["connector_failures"]
    report = build_report(conn, S)
    assert [(f.rule, f.subject) for f in report.findings] == [("pilot_drift", "connector 1")]


async def test_a_single_connector_has_nothing_to_be_compared_with(record: Recorded) -> None:
    conn = await record(series(30, fail_stage=lambda i: Stage.BMS_WAKE_UP if i % 5 == 4 else None))
    assert connector_failures(conn, S) == []
