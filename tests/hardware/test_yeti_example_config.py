"""config/example-yeti-board.toml: a valid configuration whose yeti roles get params their drivers accept, with
one set of board settings per port (the drivers refuse conflicting ones)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec
import pytest

from evse.config.errors import ConfigError
from evse.config.loader import load_config, parse_config
from evse.config.schema import REGISTRY_ROLE
from evse.hardware import registry
from evse.hardware.drivers.yeti.factory import board_settings
from evse.hardware.drivers.yeti.settings import (
    YetiBoardSettings,
    YetiContactorsSettings,
    YetiLockSettings,
    YetiPilotSettings,
    YetiTemperaturesSettings,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example-yeti-board.toml"
PARAMS: dict[str, type[YetiBoardSettings]] = {
    "pilot": YetiPilotSettings,
    "contactors": YetiContactorsSettings,
    "lock": YetiLockSettings,
    "temperatures": YetiTemperaturesSettings,
}


def test_the_example_loads_and_every_yeti_role_has_valid_params() -> None:
    config = load_config(str(EXAMPLE))
    assert [c.standard for c in config.connectors] == ["ccs", "ccs"]
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    boards: dict[str, set[YetiBoardSettings]] = {}
    connectors: set[tuple[str, int]] = set()
    for connector in data["connectors"]:
        for name, table in connector["hardware"].items():
            if table["driver"] != "yeti":
                continue
            role = REGISTRY_ROLE[name]
            assert "yeti" in registry.known(role)
            settings = msgspec.convert(table["params"], PARAMS[role])
            boards.setdefault(settings.port, set()).add(board_settings(settings))
            if isinstance(settings, YetiPilotSettings):
                connectors.add((settings.port, settings.connector))
    assert len(boards) == 1 and all(len(found) == 1 for found in boards.values())
    assert len(connectors) == 2  # the two station connectors use the board's two connectors


def test_config_check_validates_yeti_params_through_the_entry_points() -> None:
    """The yeti factories are entry points declaring their params struct: a misspelt param in the example is found
    by the configuration check, at its key path, before the board's port is opened."""
    for role, kind in PARAMS.items():
        assert registry.params_type(role, "yeti") is kind
    text = EXAMPLE.read_text(encoding="utf-8")
    broken = text.replace("feedback_timeout_s", "feedbak_timeout_s", 1)
    assert broken != text
    with pytest.raises(ConfigError) as error:
        parse_config(broken, "broken.toml")
    assert ".hardware.contactors.params.feedbak_timeout_s" in str(error.value), str(error.value)
