"""`evse sim`: listings, argument and scenario errors as one sentence, and a short run end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from evse.cli import main
from evse.config.errors import UserError
from evse.sim.cli import parse_speed

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "config" / "sim.toml")


def test_list_profiles_and_faults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--list-profiles"]) == 0
    assert "ccs-800v-77kwh" in capsys.readouterr().out
    assert main(["sim", "--list-faults"]) == 0
    out = capsys.readouterr().out
    assert "insulation_degradation" in out and "resistance_ohm=40000.0" in out


def test_speed_argument() -> None:
    assert parse_speed("max") is None and parse_speed("60") == 60.0
    with pytest.raises(UserError, match="neither 'max' nor a number"):
        parse_speed("fast")
    with pytest.raises(UserError, match="above 0"):
        parse_speed("0")


def write(tmp_path: Path, body: str) -> str:
    path = tmp_path / "s.toml"
    path.write_text(body)
    return str(path)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ('[[events]]\nat_s = 0\nconnector = 9\nplug = "gbt-2015-60kwh"\n', "configuration does not have"),
        ('[[events]]\nat_s = 0\nconnector = 1\nplug = "gbt-2015-60kwh"\n', "a ccs connector"),
        ("[[events]]\nat_s = 0\n", "exactly one action"),
    ],
)
def test_scenario_problems_end_in_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, needle: str
) -> None:
    code = main(["sim", "--config", CONFIG, "--scenario", write(tmp_path, body)])
    err = capsys.readouterr().err
    assert code != 0 and needle in err and "Traceback" not in err


def test_short_run_prints_lines_and_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = (
        '[scenario]\nname = "short"\nend_after_s = 30\n'
        '[[events]]\nat_s = 1\nconnector = 2\nplug = "chademo-1.0-40kwh"\n'
        '[[events]]\nat_s = 5\nconnector = 2\nfault = "lock_stuck"\n'
    )
    assert main(["sim", "--config", CONFIG, "--scenario", write(tmp_path, body), "--plain", "--seed", "4"]) == 0
    out = capsys.readouterr().out
    assert "plugged in: CHAdeMO 1.0 hatchback" in out and "fault injected: lock_stuck" in out
    assert "Sessions" in out and "Handshake durations" in out and "\x1b" not in out


def test_configured_vehicles_join_connectors_the_scenario_leaves_alone() -> None:
    import msgspec

    from evse.config.schema import Config, ConnectorSettings
    from evse.sim.cli import with_configured_vehicles
    from evse.sim.scenario import parse_scenario

    config = Config(
        connectors=[
            ConnectorSettings(id=1, standard="gbt", vehicle="gbt-2011-57kwh"),
            ConnectorSettings(id=2, standard="chademo", vehicle="chademo-0.9-24kwh"),
        ]
    )
    scenario = parse_scenario({"events": [{"at_s": 5, "connector": 2, "plug": "chademo-1.0-40kwh"}]})
    events = with_configured_vehicles(scenario, config).events
    assert [(e.connector_id, e.at_s, e.profile.name if e.profile else "") for e in events] == [
        (2, 5.0, "CHAdeMO 1.0 hatchback (40 kWh)"),
        (1, 0.0, "GB/T 2011 van (57 kWh LFP)"),
    ]
    broken = msgspec.structs.replace(config, connectors=[ConnectorSettings(id=3, standard="gbt", vehicle="bus")])
    with pytest.raises(UserError, match="connector 3: no vehicle profile named 'bus'"):
        with_configured_vehicles(scenario, broken)


def test_demo_like_run_through_the_station(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The whole path: scenario → station (session, supervisor, adapters) → simulated vehicles → summary."""
    body = """
[scenario]
name = "mini-demo"
unplug_after_s = 2
end_after_s = 900

[[events]]
at_s = 0
connector = 2
plug = "chademo-1.0-40kwh"
soc_pct = 78.5
protocol = { target_soc_pct = 80 }

[[events]]
at_s = 1
connector = 3
plug = "gbt-2015-60kwh"
soc_pct = 40

[[events]]
connector = 3
on_stage = "energy_transfer"
after_s = 10
fault = "insulation_degradation"
params = { resistance_ohm = 20000.0, location = "vehicle" }
"""
    assert main(["sim", "--config", CONFIG, "--scenario", write(tmp_path, body), "--plain"]) == 0
    out = capsys.readouterr().out
    sessions = [line for line in out.splitlines() if line.startswith("| ") and "kWh |" in line]
    chademo = next(line for line in sessions if "2 chademo" in line)
    gbt = next(line for line in sessions if "3 gbt" in line)
    assert "stopped_by_vehicle" in chademo or "completed" in chademo
    assert "78 → 80 %" in chademo
    assert "failed in energy_transfer: insulation_fault" in gbt
    assert "connector 3: safety: insulation" in out


def test_same_seed_same_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = '[[events]]\nat_s = 0\nconnector = 2\nplug = "chademo-1.0-40kwh"\nsoc_pct = 79\n'
    path = write(tmp_path, body)
    summaries = []
    for _ in range(2):
        assert main(["sim", "--config", CONFIG, "--scenario", path, "--plain", "--seed", "11"]) == 0
        out = capsys.readouterr().out
        summaries.append(out[out.index("Sessions") :])
    assert summaries[0] == summaries[1] and "79 → 80 %" in summaries[0]
