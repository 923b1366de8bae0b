"""Vehicle profiles: data files (`evse/sim/profiles/*.toml`) loaded into `VehicleProfile`.

A profile file has three tables:

    [vehicle]   name, standard ("ccs" | "chademo" | "gbt"), description
    [battery]   the battery model's parameters (`evse.sim.battery.BatteryParams`)
    [<standard>] what that protocol's simulated vehicle needs (handed over as a dict)

A profile is named by its file stem (`ccs-400v-77kwh`) or given as a path. Anything wrong in a file ends in a
`ProfileError` whose message names the file, the table and the key.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from evse.sim.battery import BatteryParams, TractionBattery
from evse.sim.interfaces import VehicleProfile

PROFILE_DIR = Path(__file__).with_name("profiles")
STANDARDS = ("ccs", "chademo", "gbt")
_VEHICLE_KEYS = {"name", "standard", "description"}


class ProfileError(Exception):
    """A vehicle profile cannot be found or is malformed; the message says which file and what to fix."""


def builtin_profiles() -> dict[str, Path]:
    """The profiles shipped with evse, by name."""
    return {p.stem: p for p in sorted(PROFILE_DIR.glob("*.toml"))}


def resolve(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ProfileError(f"vehicle profile {path} does not exist; check the path")
        return path
    builtin = builtin_profiles()
    if str(name_or_path) in builtin:
        return builtin[str(name_or_path)]
    raise ProfileError(
        f"no vehicle profile named {name_or_path!r} (built in: {', '.join(builtin)}); use one of those or a path "
        f"to a .toml file"
    )


def load_profile(name_or_path: str | Path) -> VehicleProfile:
    """Load and validate one profile."""
    path = resolve(name_or_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"vehicle profile {path} is not valid TOML ({exc}); fix the syntax") from exc
    return parse_profile(data, source=str(path))


def parse_profile(data: dict[str, Any], source: str = "<profile>") -> VehicleProfile:
    vehicle = data.get("vehicle")
    if not isinstance(vehicle, dict):
        raise ProfileError(f"vehicle profile {source} has no [vehicle] table; add one with name and standard")
    unknown = set(vehicle) - _VEHICLE_KEYS
    if unknown:
        raise ProfileError(
            f"vehicle profile {source}: [vehicle] has unknown key(s) {', '.join(sorted(unknown))}; "
            f"allowed are {', '.join(sorted(_VEHICLE_KEYS))}"
        )
    name, standard = vehicle.get("name"), vehicle.get("standard")
    if not isinstance(name, str) or not name:
        raise ProfileError(f"vehicle profile {source}: [vehicle] name must be a non-empty string")
    if standard not in STANDARDS:
        raise ProfileError(
            f"vehicle profile {source}: [vehicle] standard is {standard!r}; use one of {', '.join(STANDARDS)}"
        )
    battery = data.get("battery")
    if not isinstance(battery, dict):
        raise ProfileError(f"vehicle profile {source} has no [battery] table; add the battery model's parameters")
    battery_params(battery, source)  # validate now, not when the car is plugged in
    protocol = data.get(standard, {})
    if not isinstance(protocol, dict):
        raise ProfileError(f"vehicle profile {source}: [{standard}] must be a table")
    others = set(data) - {"vehicle", "battery", standard}
    if others:
        raise ProfileError(
            f"vehicle profile {source} has table(s) {', '.join(sorted(others))} that a {standard} vehicle does not "
            f"use; remove them or fix [vehicle] standard"
        )
    return VehicleProfile(
        name=name,
        standard=standard,
        battery=dict(battery),
        protocol=dict(protocol),
        description=str(vehicle.get("description", "")),
    )


def battery_params(battery: dict[str, Any], source: str = "<profile>") -> BatteryParams:
    try:
        return msgspec.convert(battery, BatteryParams)
    except msgspec.ValidationError as exc:
        # msgspec says e.g. "Expected `int`, got `str` - at `$.cells_series`"
        text = str(exc).replace("$.", "battery.").replace(" - at ", " at ")
        raise ProfileError(f"vehicle profile {source}: {text}; fix the [battery] table") from exc


def make_battery(profile: VehicleProfile, **overrides: Any) -> TractionBattery:
    """A fresh battery for `profile`; `overrides` replace [battery] values (e.g. soc_pct from a scenario)."""
    return TractionBattery(battery_params({**profile.battery, **overrides}, profile.name))


def with_overrides(profile: VehicleProfile, battery: dict[str, Any], protocol: dict[str, Any]) -> VehicleProfile:
    """A copy of `profile` with some [battery] and protocol values replaced (scenario `soc_pct = 10`, …)."""
    merged_battery = {**profile.battery, **battery}
    battery_params(merged_battery, profile.name)
    return dataclasses.replace(profile, battery=merged_battery, protocol={**profile.protocol, **protocol})
