"""The issue's "done when": a simulated fleet with planted causes — worn pins, a firmware mismatch, insulation
decline — recorded through the real event path (events → recorder → SQLite) gives a report naming each cause
with its evidence, and no finding on healthy sessions."""

from __future__ import annotations

import pytest

from evse.diagnostics.report import build_report, render_text
from tests.diagnostics.conftest import Recorded
from tests.store.fleet import BAD_SIGNATURE, INSULATION_CONNECTOR, WORN_CONNECTOR, good_fleet, plant_fleet

pytestmark = pytest.mark.looptime


async def test_planted_fleet_names_every_cause_with_evidence_and_nothing_else(record: Recorded) -> None:
    conn = await record(plant_fleet)
    report = build_report(conn)
    by_rule = {f.rule: f for f in report.findings}
    assert sorted(by_rule) == ["insulation_decline", "pilot_drift", "vehicle_incompatible"], report.findings

    pilot = by_rule["pilot_drift"]
    assert pilot.subject == f"connector {WORN_CONNECTOR}"
    assert pilot.evidence["first_v"] > 8.7 and pilot.evidence["last_v"] < 8.5
    assert pilot.evidence["failures"] == {"bms_wake_up": 6}
    assert "CP high level drifted from 8.8 V to 8.4 V over 40 sessions; 6 wake-up failures" in pilot.summary
    assert "pins" in pilot.advice

    vehicle = by_rule["vehicle_incompatible"]
    assert vehicle.evidence["vehicle_key"] == f"signature:{BAD_SIGNATURE}"
    assert "fails parameter negotiation on all 5 attempts (CHAdeMO 0.9)" in vehicle.summary
    assert vehicle.evidence["reasons"] == {"vehicle_incompatible": 5}
    assert "firmware" in vehicle.advice

    insulation = by_rule["insulation_decline"]
    assert insulation.subject == f"connector {INSULATION_CONNECTOR}"
    assert insulation.evidence["last_ohm"] < 0.05 * insulation.evidence["first_ohm"]

    # the statistics around the findings
    assert report.sessions == 160 and report.failed == 11
    rates = {r.key: r for r in report.by_connector}
    assert rates["connector 2"].failed == 6 and rates["connector 1"].failed == 0
    assert {(f.stage, f.reason, f.count) for f in report.failures} == {
        ("bms_wake_up", "timeout", 6),
        ("parameter_negotiation", "vehicle_incompatible", 5),
    }
    assert report.by_vehicle[0].key == f"signature:{BAD_SIGNATURE}" and report.by_vehicle[0].success_pct == 0.0
    protocols = {r.key: r for r in report.by_protocol}
    assert protocols["chademo 0.9"].failed == 5 and protocols["chademo 1.0"].failed == 0
    text = render_text(report)
    assert "Findings:" in text and "CHAdeMO 0.9" in text and "connector 2: CP high level" in text


async def test_healthy_fleet_has_no_findings(record: Recorded) -> None:
    conn = await record(lambda bus: good_fleet(bus, n_per_connector=40, seed=3))
    report = build_report(conn)
    assert report.findings == []
    assert report.failed == 0 and report.sessions == 160
    assert "Findings: none" in render_text(report)


async def test_empty_store_says_so(record: Recorded) -> None:
    conn = await record(lambda bus: None)
    assert render_text(build_report(conn)) == "No finished sessions are stored yet: nothing to diagnose."
