"""`evse sessions …` and `evse diagnose` over a store recorded through the real event path."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from evse.cli import main
from evse.session.events import EventBus
from evse.session.stages import Reason, Stage
from evse.store.recorder import SessionRecorder
from tests.store.fleet import SessionSpec, plant_fleet, publish_session

pytestmark = pytest.mark.looptime


@pytest.fixture
async def state_dir(tmp_path: Path) -> Path:
    bus = EventBus()
    rec = SessionRecorder(tmp_path / "sessions.sqlite", bus=bus)
    await rec.start()
    t = plant_fleet(bus, n=24)
    publish_session(
        bus,
        SessionSpec(
            session_id="plotme",
            connector_id=1,
            standard="ccs",
            t0_s=t + 100,
            identity={"evccid": "0A1B2C3D4E5F"},
            protocol_version="iso15118-2",
            pilot_v=8.97,
            energy_s=120,
        ),
    )
    publish_session(
        bus,
        SessionSpec(
            session_id="nostart",
            connector_id=4,
            standard="gbt",
            t0_s=t + 1000,
            identity={"vin": "LSV0000000000001"},
            protocol_version="gbt-2015",
            fail_stage=Stage.INSULATION_TEST,
            fail_reason=Reason.INSULATION_FAULT,
            fail_detail="41 kΩ below 50 kΩ",
        ),
    )
    await rec.flush()
    await rec.stop()
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_newest_first_with_outcome(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sessions", "list", "--state-dir", str(state_dir), "--limit", "3")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("ID") and len(lines) == 4
    assert lines[1].startswith("nostart") and "FAILED in insulation test: insulation_fault" in lines[1]
    assert lines[2].startswith("plotme") and "completed" in lines[2]
    code, out, _ = run(capsys, "sessions", "list", "--state-dir", str(state_dir), "--failed", "--connector", "3")
    assert code == 0 and all("FAILED in parameter negotiation" in line for line in out.splitlines()[1:])


def test_show_prints_stages_evidence_and_trace(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sessions", "show", "nostart", "--state-dir", str(state_dir))
    assert code == 0
    assert "outcome FAILED in insulation test: insulation_fault — 41 kΩ below 50 kΩ" in out
    assert "insulation_test" in out and "vin:LSV0000000000001" in out
    assert "trace (" in out and "can0 1826F456#" in out
    code, out, _ = run(capsys, "sessions", "show", "plotme", "--json", "--state-dir", str(state_dir))
    data = json.loads(out)
    assert data["id"] == "plotme" and len(data["samples"]) == 120 and data["pilot"][0]["voltage_v"] == 8.97


def test_unknown_session_and_missing_store_are_one_clear_sentence(
    state_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "sessions", "show", "nope", "--state-dir", str(state_dir))
    assert code != 0 and err.strip() == "evse: no stored session with id 'nope': see `evse sessions list`"
    code, _, err = run(capsys, "diagnose", "--state-dir", str(tmp_path / "empty"))
    assert code != 0 and "no session database at" in err and "Traceback" not in err


def test_export_jsonl_and_csv(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sessions", "export", "--state-dir", str(state_dir))
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == 98 and rows[-1]["id"] == "nostart"
    assert rows[-1]["outcome_reason"] == "insulation_fault" and rows[-1]["identity"] == {"vin": "LSV0000000000001"}
    out_file = state_dir / "export.csv"
    code, _, _ = run(
        capsys, "sessions", "export", "--format", "csv", "-o", str(out_file), "--state-dir", str(state_dir)
    )
    table = list(csv.DictReader(io.StringIO(out_file.read_text(encoding="utf-8"))))
    assert code == 0 and len(table) == 98 and table[-1]["outcome_stage"] == "insulation_test"
    assert json.loads(table[-1]["identity"]) == {"vin": "LSV0000000000001"}


def test_diagnose_text_and_json(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diagnose", "--state-dir", str(state_dir))
    assert code == 0 and "By connector:" in out and "Failures by stage and reason:" in out
    assert "fails parameter negotiation" in out
    code, out, _ = run(capsys, "diagnose", "--json", "--state-dir", str(state_dir))
    report = json.loads(out)
    assert report["sessions"] == 98 and {f["rule"] for f in report["findings"]} >= {"vehicle_incompatible"}


def test_plot_writes_a_png(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for session_id in ("plotme", "nostart"):
        target = state_dir / f"{session_id}.png"
        code, out, _ = run(capsys, "sessions", "plot", session_id, "-o", str(target), "--state-dir", str(state_dir))
        assert code == 0 and out.strip() == f"wrote {target}"
        data = target.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_state_dir_from_the_configuration(state_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "evse.toml"
    config.write_text(
        f'[station]\nstate_dir = "{state_dir}"\n[[connectors]]\nid = 1\nstandard = "ccs"\n', encoding="utf-8"
    )
    code, out, _ = run(capsys, "sessions", "list", "--config", str(config), "--limit", "1")
    assert code == 0 and out.splitlines()[1].startswith("nostart")
    config.write_text("[station]\nstate_dir = 5\n", encoding="utf-8")
    code, _, err = run(capsys, "diagnose", "--config", str(config))
    assert code != 0 and "station.state_dir" in err and "Traceback" not in err
