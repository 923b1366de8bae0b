"""`make demo` with OCPP: the simulated station's client talks to the development CSMS in the same (virtual-clock)
event loop, the CSMS's readable log appears in the output, and every session's transaction reaches it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from evse.cli import main
from evse.clock import new_virtual_loop, set_wall_epoch
from evse.config.schema import load_config
from evse.sim.cli import OcppOptions, simulate
from evse.sim.scenario import parse_scenario
from evse.sim.world import SimWorld, activate

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "config" / "sim.toml")

MINI = {
    "scenario": {"name": "ocpp-mini", "unplug_after_s": 2, "end_after_s": 600},
    "events": [
        {"at_s": 0, "connector": 2, "plug": "chademo-1.0-40kwh", "soc_pct": 78.5, "protocol": {"target_soc_pct": 80}},
        {"at_s": 1, "connector": 3, "plug": "gbt-2015-60kwh", "soc_pct": 40},
        {"connector": 3, "on_stage": "parameter_negotiation", "after_s": 0.2, "fault": "bms_silence"},
    ],
}


def test_make_demo_shows_the_csms_log_and_every_transaction(capsys: pytest.CaptureFixture[str]) -> None:
    """The demo path itself (`evse sim --config config/sim.toml`, the default scenario, virtual clock)."""
    assert main(["sim", "--config", CONFIG, "--plain"]) == 0
    out = capsys.readouterr().out
    log = [line for line in out.splitlines() if "EVSE-SIM-1 " in line]
    for action in ("BootNotification", "StatusNotification", "StartTransaction", "MeterValues", "StopTransaction"):
        assert any(f"→ {action} " in line for line in log), action
    assert any("HandshakeReport" in line for line in log)
    assert any('"errorCode": "EVCommunicationError"' in line for line in log)
    assert any('"errorCode": "GroundFailure"' in line for line in log)
    sessions = [line for line in out.splitlines() if line.startswith("| ") and " kWh |" in line]
    transactions = [line for line in out[out.index("| transaction |") :].splitlines()[2:] if line.startswith("| ")]
    # every session of the demo reached the insulation test (a transaction), and every transaction was stopped
    assert len(sessions) == 4 and len(transactions) == 4
    assert all("(open)" not in line for line in transactions)


def _run_mini(ocpp: OcppOptions | None) -> list:
    config = load_config(CONFIG)
    world = SimWorld(config.sim, 3)
    loop = new_virtual_loop()
    activate(world)  # the station's "sim" drivers drive this world
    try:
        asyncio.set_event_loop(loop)
        set_wall_epoch(loop)
        return loop.run_until_complete(simulate(config, parse_scenario(MINI), world, plain=True, ocpp=ocpp))
    finally:
        activate(None)
        asyncio.set_event_loop(None)
        loop.close()


def test_the_csms_receives_each_sessions_transaction_and_the_handshake_report(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ocpp = OcppOptions()
    records = _run_mini(ocpp)
    capsys.readouterr()
    actions = [a for _, a, _ in ocpp.received]
    assert actions[0] == "BootNotification"
    starts = [p for _, a, p in ocpp.received if a == "StartTransaction"]
    stops = [p for _, a, p in ocpp.received if a == "StopTransaction"]
    assert sorted(s["connectorId"] for s in starts) == [2, 3] == sorted(r.connector_id for r in records)
    assert sorted(s["transactionId"] for s in stops) == [1, 2]  # the ids the CSMS gave, each stopped once
    chademo = next(s for s in stops if s["meterStop"] > 0)
    assert chademo["transactionData"][-1]["sampledValue"][0]["context"] == "Transaction.End"
    report = next(p for _, a, p in ocpp.received if a == "DataTransfer" and p.get("messageId") == "HandshakeReport")
    data = json.loads(report["data"])
    assert data["connectorId"] == 3 and data["stage"] == "parameter_negotiation" and data["reason"] == "timeout"


def test_same_seed_same_csms_log(capsys: pytest.CaptureFixture[str]) -> None:
    """No socket between client and CSMS: the OCPP exchange is as reproducible as the simulation."""
    runs = []
    for _ in range(2):
        ocpp = OcppOptions()
        _run_mini(ocpp)
        runs.append([(a, {k: v for k, v in p.items() if k != "timestamp"}) for _, a, p in ocpp.received])
    capsys.readouterr()
    assert [a for a, _ in runs[0]] == [a for a, _ in runs[1]]
    assert [p.get("meterStop") for a, p in runs[0] if a == "StopTransaction"] == [
        p.get("meterStop") for a, p in runs[1] if a == "StopTransaction"
    ]


def test_no_ocpp_opts_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text('[[events]]\nat_s = 0\nconnector = 2\nplug = "chademo-1.0-40kwh"\nsoc_pct = 79\n')
    assert main(["sim", "--config", CONFIG, "--scenario", str(scenario), "--plain", "--no-ocpp"]) == 0
    out = capsys.readouterr().out
    assert "EVSE-SIM-1 →" not in out and "OCPP" not in out and "79 → 80 %" in out


def test_external_csms_needs_real_time(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--config", CONFIG, "--csms", "ws://127.0.0.1:9000"]) != 0
    err = capsys.readouterr().err
    assert "--speed 1" in err and "Traceback" not in err
