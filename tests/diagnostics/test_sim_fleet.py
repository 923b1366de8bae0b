"""The "done when" on real simulated sessions: GB/T sessions run by the real session runner, stage API, GB/T
adapter and simulated BMS on the virtual clock (the GB/T suite's rig), with causes planted through the
simulation's own fault injection — a worn CC1 contact on one connector, a vehicle model whose BMS never
closes its contactors, insulation declining on another connector. Their events go through the recorder into
SQLite, and `diagnose` must name each cause with its evidence and nothing else.

Each rig is one connector session, so its events are relabelled with the connector (and a unique session id)
they stand for. The CC1 level at plug-in comes from the session itself (a `PilotQuality` event published when
connection detection completes), so the worn-contact finding rests on the real evidence path."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest

from evse.diagnostics.report import build_report
from evse.diagnostics.settings import DiagnosticsSettings
from evse.session.events import Event, EventBus
from evse.sim import faults
from evse.store.database import connect
from evse.store.recorder import SessionRecorder
from tests.gbt.simrig import GbtRig

pytestmark = [pytest.mark.looptime, pytest.mark.slow]

ROUNDS = 10
INSULATION_CONNECTOR, WORN_CONNECTOR, MIXED_CONNECTOR = 1, 2, 3
BAD_VIN = "LBADFW00000000001"
#: GB/T CC1 nominal level when inserted and latched (gbt27930.md, charger sequence step 1)
CC1_NOMINAL_V = 4.0


async def run_session(bus: EventBus, connector_id: int, n: int, rng: random.Random) -> None:
    bad = connector_id == MIXED_CONNECTOR and n % 3 == 1
    vin = BAD_VIN if bad else f"LSVGOOD{connector_id}{rng.randrange(5):02d}0000000"[:17]
    rig = GbtRig(battery={"soc_pct": 79.9}, protocol={"vin": vin}, seed=100 * connector_id + n)
    frac = n / (ROUNDS - 1)
    if connector_id == INSULATION_CONNECTOR:
        ohm = 50e6 * (0.02**frac)
        faults.inject(rig.world, 1, "insulation_degradation", {"resistance_ohm": ohm, "location": "cable"})
    if connector_id == WORN_CONNECTOR:
        faults.inject(rig.world, 1, "worn_pilot_contact", {"offset_v": 1.2 * frac})
    if bad:
        rig.vehicle.inject("contactor_never_closes")
    session_id = f"c{connector_id}-{n:02d}"

    def relabel(event: Event) -> None:
        bus.publish(dataclasses.replace(event, connector_id=connector_id, session_id=session_id))

    rig.bus.subscribe(relabel)
    rig.plant.lines.set_input("cc1", CC1_NOMINAL_V)  # the plug is in: what the station reads at plug-in
    await rig.run()


async def test_simulated_fleet_diagnose_names_each_planted_cause(tmp_path: Path) -> None:
    bus = EventBus()
    recorder = SessionRecorder(tmp_path / "sessions.sqlite", bus=bus)
    await recorder.start()
    rng = random.Random(3)
    for n in range(ROUNDS):
        for connector_id in (INSULATION_CONNECTOR, WORN_CONNECTOR, MIXED_CONNECTOR):
            await run_session(bus, connector_id, n, rng)
    await recorder.flush()
    await recorder.stop()

    conn = connect(tmp_path / "sessions.sqlite", readonly=True)
    report = build_report(conn, DiagnosticsSettings(trend_min_sessions=8, trend_edge_sessions=2))
    by_rule = {f.rule: f for f in report.findings}
    assert sorted(by_rule) == ["insulation_decline", "pilot_drift", "vehicle_incompatible"], [
        f.text() for f in report.findings
    ]
    pilot = by_rule["pilot_drift"]
    assert pilot.subject == f"connector {WORN_CONNECTOR}" and pilot.evidence["line"] == "cc1"
    assert pilot.evidence["last_v"] - pilot.evidence["first_v"] > 0.8
    assert pilot.evidence["failures"].get("connection_detection", 0) >= 2
    vehicle = by_rule["vehicle_incompatible"]
    assert vehicle.evidence["vehicle_key"] == f"vin:{BAD_VIN}" and vehicle.evidence["attempts"] == 3
    assert vehicle.evidence["stage"] == "parameter_negotiation" and vehicle.evidence["failed"] == 3
    insulation = by_rule["insulation_decline"]
    assert insulation.subject == f"connector {INSULATION_CONNECTOR}"
    assert insulation.evidence["last_ohm"] < 0.25 * insulation.evidence["first_ohm"]
    # every real session left its handshake evidence
    row = conn.execute("SELECT COUNT(*) FROM sessions s WHERE NOT EXISTS (SELECT 1 FROM trace t WHERE t.sid = s.sid)")
    assert row.fetchone()[0] == 0
