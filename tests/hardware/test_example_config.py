"""config/example-hardware.toml names our drivers with params each driver accepts."""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec

from evse.config.schema import REGISTRY_ROLE
from evse.hardware import registry
from evse.hardware.drivers import settings as s

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example-hardware.toml"

#: (registry role, driver) → its params struct
PARAMS: dict[tuple[str, str], type[msgspec.Struct]] = {
    ("power", "infypower"): s.InfyPowerSettings,
    ("imd", "bender_isocha"): s.BenderIsoChaSettings,
    ("meter", "modbus_meter"): s.ModbusMeterSettings,
    ("contactors", "gpio"): s.GpioContactorsSettings,
    ("lock", "gpio"): s.GpioLockSettings,
    ("lines", "gpio"): s.GpioVehicleLinesSettings,
    ("estop", "gpio"): s.GpioEmergencyStopSettings,
    ("temperatures", "iio"): s.IioTemperaturesSettings,
}


def test_every_driver_of_ours_in_the_example_gets_valid_params() -> None:
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    roles = [(REGISTRY_ROLE["emergency_stop"], data["emergency_stop"])]
    for connector in data["connectors"]:
        roles += [(REGISTRY_ROLE[name], table) for name, table in connector["hardware"].items()]
    checked = 0
    for role, table in roles:
        kind = PARAMS.get((role, table["driver"]))
        if kind is not None:
            assert table["driver"] in registry.known(role)
            msgspec.convert(table.get("params", {}), kind)
            checked += 1
    assert checked == 15
