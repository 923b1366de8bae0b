"""config/example-yeti-board.toml: a valid configuration whose yeti roles get params their drivers accept, with
one set of board settings per port (the drivers refuse conflicting ones)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec

from evse.config.loader import load_config
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
