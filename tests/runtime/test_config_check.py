"""`evse config check`: every kind of bad input gives a clear `key.path: message — fix` line and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from evse.cli import main
from evse.config.errors import EXIT_CONFIG
from evse.config.loader import load_config

REPO = Path(__file__).resolve().parents[2]

GOOD = """
[station]
id = "T-1"
state_dir = "./var/state"

[[connectors]]
id = 1
standard = "ccs"

[[connectors]]
id = 2
standard = "chademo"
"""


def check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "evse.toml"
    path.write_text(text, encoding="utf-8")
    code = main(["config", "check", str(path)])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_good_config_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = check(tmp_path, GOOD, capsys)
    assert code == 0, out
    assert "OK" in out and "2 connector(s)" in out


BAD_CASES = {
    "negative current": (
        GOOD.replace('standard = "chademo"', 'standard = "chademo"\nmax_current_a = -5'),
        "connectors[1].max_current_a: must be > 0 A, got -5 A",
    ),
    "typo in a key": (
        GOOD.replace('standard = "ccs"', 'standard = "ccs"\nmax_curent_a = 100'),
        "connectors[0].max_curent_a: unknown key — did you mean `max_current_a`?",
    ),
    "unknown section": (GOOD + "\n[ocp]\nenabled = true\n", "ocp: unknown key — did you mean `ocpp`?"),
    "string for a number": (
        GOOD.replace('standard = "ccs"', 'standard = "ccs"\nmax_voltage_v = "920"'),
        "connectors[0].max_voltage_v: must be a number, got a string '920'",
    ),
    "unknown standard": (
        GOOD.replace('"chademo"', '"type2"'),
        'connectors[1].standard: must be one of "ccs", "chademo", "gbt", got \'type2\'',
    ),
    "duplicate connector id": (GOOD.replace("id = 2", "id = 1"), "connectors[1].id: duplicate connector id 1"),
    "missing required key": (GOOD.replace("id = 2\n", ""), "connectors[1].id: is required — add `id = ...`"),
    "connector id below 1": (GOOD.replace("id = 2", "id = 0"), "connectors[1].id: must be >= 1, got 0"),
    "voltage range inverted": (
        GOOD.replace('standard = "ccs"', 'standard = "ccs"\nmin_voltage_v = 600\nmax_voltage_v = 500'),
        "connectors[0].min_voltage_v: must be below max_voltage_v (500.0 V), got 600.0 V",
    ),
    "derating range inverted": (
        GOOD.replace('standard = "ccs"', 'standard = "ccs"\ncable_derating_start_c = 95'),
        "connectors[0].cable_derating_start_c: must be below cable_derating_end_c",
    ),
    "bad log level": (GOOD + '\n[logging]\nlevel = "verbose"\n', "logging.level: must be one of"),
    "no connectors": ('[station]\nid = "T"\n', "connectors: at least one connector is required"),
    "TOML syntax error": (GOOD + "\n[station\n", "not valid TOML"),
    "CAN interface unknown": (
        GOOD.replace('standard = "chademo"', 'standard = "chademo"\nvehicle_link = { interface = "socketcann" }'),
        "connectors[1].vehicle_link.interface: unknown CAN interface 'socketcann'",
    ),
    "CAN channel missing": (
        GOOD.replace('standard = "chademo"', 'standard = "chademo"\nvehicle_link = { interface = "socketcan" }'),
        "connectors[1].vehicle_link.channel: is required for interface 'socketcan'",
    ),
    "boolean as string": (
        GOOD.replace('state_dir = "./var/state"', 'free_vend = "yes"'),
        "station.free_vend: must be true or false",
    ),
    "hardware role not a table": (
        GOOD.replace('standard = "ccs"', 'standard = "ccs"\nhardware = { lock = "sim" }'),
        "connectors[0].hardware.lock: must be a table, got a string",
    ),
    "unknown vehicle profile": (
        GOOD.replace('standard = "ccs"', 'standard = "ccs"\nvehicle = "tesla-roadster"'),
        "connectors[0].vehicle: no vehicle profile named 'tesla-roadster'",
    ),
    "vehicle of another standard": (
        GOOD.replace('standard = "chademo"', 'standard = "chademo"\nvehicle = "gbt-2015-60kwh"'),
        "connectors[1].vehicle: profile 'gbt-2015-60kwh' is a gbt vehicle, the connector is chademo",
    ),
    "empty station id": (GOOD.replace('id = "T-1"', 'id = ""'), "station.id: must not be empty"),
}


@pytest.mark.parametrize("text, expected", BAD_CASES.values(), ids=BAD_CASES.keys())
def test_bad_config_is_rejected_with_a_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    code, out = check(tmp_path, text, capsys)
    assert code == EXIT_CONFIG
    assert expected in out
    assert "Traceback" not in out


def test_every_problem_is_reported_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = GOOD.replace('standard = "chademo"', 'standard = "chademo"\nmax_current_a = -5\nmax_power_w = "x"')
    text = text.replace('id = "T-1"', 'id = "T-1"\ncolour = "red"') + '\n[logging]\nformat = "xml"\n'
    code, out = check(tmp_path, text, capsys)
    assert code == EXIT_CONFIG
    for path in ("connectors[1].max_current_a", "connectors[1].max_power_w", "station.colour", "logging.format"):
        assert f"{path}:" in out, out
    assert "4 configuration problems" in out


def test_missing_file_is_one_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["config", "check", str(tmp_path / "nope.toml")])
    err = capsys.readouterr().err
    assert code != 0
    assert "nope.toml not found — pass an existing file" in err
    assert "Traceback" not in err


def test_unknown_driver_name_lists_the_known_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("evse.hardware.registry", reason="the hardware registry validates driver names")
    text = GOOD.replace('standard = "ccs"', 'standard = "ccs"\nhardware.power_module = { driver = "acme_nonexistent" }')
    code, out = check(tmp_path, text, capsys)
    assert code == EXIT_CONFIG
    assert "connectors[0].hardware.power_module.driver: unknown power_module driver 'acme_nonexistent'" in out
    assert "use one of:" in out and "sim" in out


def test_driver_params_are_checked_against_the_drivers_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A built-in driver declares its params' settings struct: a misspelt or out-of-range param is a config-check
    problem at its key path, not a failure when the station starts."""
    text = GOOD.replace(
        'standard = "ccs"',
        'standard = "ccs"\nhardware.insulation_monitor = { driver = "bender_isocha", params = { prot = "/dev/ttyS2" } }'
        '\nhardware.contactors = { driver = "gpio", params = { feedback_timeout_s = -1 } }',
    )
    code, out = check(tmp_path, text, capsys)
    assert code == EXIT_CONFIG
    assert "connectors[0].hardware.insulation_monitor.params.prot" in out, out
    assert "connectors[0].hardware.contactors.params.feedback_timeout_s" in out, out


def test_real_cli_process_exits_non_zero_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace("id = 2", "id = -1"), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "evse", "config", "check", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == EXIT_CONFIG
    assert "connectors[1].id: must be >= 1, got -1" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_shipped_sim_config_is_valid() -> None:
    config = load_config(REPO / "config" / "sim.toml")
    assert [(c.id, c.standard) for c in config.connectors] == [(1, "ccs"), (2, "chademo"), (3, "gbt")]
    assert all(c.vehicle_link.interface == "sim" for c in config.connectors)
    assert config.ocpp.enabled and config.ocpp.csms_url.startswith("ws://127.0.0.1:9000")
    assert (config.api.host, config.api.port) == ("127.0.0.1", 8080)
    assert config.station.state_dir == "./var/state" and config.station.free_vend


def test_evse_run_refuses_an_invalid_configuration_with_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace("id = 2", "id = 1") + '\n[logging]\nlevel = "loud"\n', encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "evse", "run", "--config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == EXIT_CONFIG
    assert "connectors[1].id: duplicate connector id 1" in proc.stderr and "logging.level:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_evse_run_with_an_unwritable_state_dir_is_one_sentence(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    path = tmp_path / "evse.toml"
    path.write_text(GOOD.replace("./var/state", str(blocker / "state")), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "evse", "run", "--config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 69
    assert "cannot create the state directory" in proc.stderr and "station.state_dir" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_config_show_prints_effective_values_without_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    path = tmp_path / "evse.toml"
    text = GOOD.replace('standard = "ccs"', 'standard = "ccs"\nhardware.meter = { params = { password = "s3cret" } }')
    path.write_text(text, encoding="utf-8")
    assert main(["config", "show", str(path)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["station"]["id"] == "T-1" and shown["connectors"][1]["max_current_a"] == 125.0  # a default
    assert shown["connectors"][0]["hardware"]["meter"]["params"]["password"] == "***"
    assert shown["daemon"]["shutdown_timeout_s"] == 15.0


def test_diagnostics_and_rfid_sections_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tuned = GOOD + (
        "[diagnostics]\npilot_drift_v = 0.5\nrecurring_fault_count = 5\n"
        "[store]\nretention_days = 90\nmax_size_mb = 64\n"
        '[rfid]\ndriver = "pn532"\nconnectors = [2]\nparams = { port = "/dev/ttyUSB2", poll_interval_s = 0.5 }\n'
    )
    code, out = check(tmp_path, tuned, capsys)
    assert code == 0, out
    config = load_config(tmp_path / "evse.toml")
    assert config.diagnostics.pilot_drift_v == 0.5 and config.diagnostics.recurring_fault_count == 5
    assert config.rfid.params["port"] == "/dev/ttyUSB2" and config.rfid.connectors == [2]
    bad = GOOD + ('[diagnostics]\npilot_drift_v = -1\ninsulation_decline_ratio = 2\n[rfid]\ndriver = "acr122"\n')
    code, out = check(tmp_path, bad, capsys)
    assert code == EXIT_CONFIG
    for key in ("diagnostics.pilot_drift_v", "diagnostics.insulation_decline_ratio", "rfid.driver"):
        assert key in out, (key, out)
    assert "unknown RFID reader driver 'acr122'" in out and "use none or one of: pn532" in out
    # a known driver's params are checked against its settings struct before anything starts
    code, out = check(
        tmp_path, GOOD + '[rfid]\ndriver = "pn532"\nparams = { baud = 9600, poll_interval_s = -1 }\n', capsys
    )
    assert code == EXIT_CONFIG
    assert "rfid.params.baud" in out and "rfid.params.poll_interval_s" in out, out
    code, out = check(tmp_path, GOOD + '[rfid]\ndriver = "pn532"\nconnectors = [9]\n', capsys)
    assert (
        code == EXIT_CONFIG and "rfid.connectors names connector 9, which is not configured (connectors: 1, 2)" in out
    )


def test_the_diagnostics_section_reaches_the_api(tmp_path: Path) -> None:
    from evse.api.service import create_service
    from evse.session.events import EventBus
    from tests.api.conftest import FakeStation

    config_file = tmp_path / "evse.toml"
    config_file.write_text(
        GOOD.replace("./var/state", str(tmp_path)) + "[api]\nport = 0\n[diagnostics]\nrecurring_fault_count = 7\n",
        encoding="utf-8",
    )
    config = load_config(config_file)
    service = create_service(config, FakeStation(), EventBus())
    assert service.api is not None and service.api.ctx.diagnostics.recurring_fault_count == 7
    service.api.close()
