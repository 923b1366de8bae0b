"""Checks across values that a per-field type cannot express: unique connector ids, voltage and temperature
ranges in the right order, driver names the hardware registry knows (and the params of drivers that declare their
settings struct), a vehicle link that fits the standard.

They run on the raw TOML data (after the type pass found nothing), so every problem is reported at once and
with the key path the user wrote.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

import msgspec.inspect as mi

from evse.config.errors import Problem
from evse.config.schema import HOMEPLUG_LINK, NO_RFID, REGISTRY_ROLE, SIM_DRIVER, SIM_LINK, ConnectorHardware
from evse.config.validate import check

HARDWARE_ROLES = tuple(ConnectorHardware.__struct_fields__)
EMERGENCY_STOP_ROLE = "emergency_stop"
CAN_STANDARDS = ("chademo", "gbt")


def check_semantics(data: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    connectors = data.get("connectors", [])
    if not isinstance(connectors, list):
        return problems
    if not connectors:
        problems.append(
            Problem(
                "connectors",
                "at least one connector is required",
                "add a `[[connectors]]` table with `id` and `standard`",
            )
        )
    seen: dict[int, int] = {}
    for index, connector in enumerate(connectors):
        path = f"connectors[{index}]"
        if not isinstance(connector, dict):
            continue
        cid = connector.get("id")
        if not isinstance(cid, int):
            pass
        elif cid in seen:
            problems.append(
                Problem(
                    f"{path}.id",
                    f"duplicate connector id {cid} (also connectors[{seen[cid]}])",
                    "give every connector its own id",
                )
            )
        elif cid is not None:
            seen[cid] = index
        problems += _check_connector(path, connector)
    problems += _check_driver(EMERGENCY_STOP_ROLE, EMERGENCY_STOP_ROLE, _table(data.get(EMERGENCY_STOP_ROLE)))
    problems += _check_rfid_driver(_table(data.get("rfid")))
    return problems


def _check_rfid_driver(table: dict[str, Any]) -> list[Problem]:
    name = table.get("driver", NO_RFID)
    if not isinstance(name, str) or name == NO_RFID:
        return []
    known = known_drivers("rfid")
    if known is None:
        return []
    known.discard(SIM_DRIVER)  # there is no simulated reader: the API's authorize stands in for cards
    if name in known:
        return _check_params("rfid", name, "rfid", table)
    return [
        Problem(
            "rfid.driver",
            f"unknown RFID reader driver {name!r}",
            "use none or one of: " + ", ".join(sorted(known)) + " (real drivers need `pip install evse[hardware]`)",
        )
    ]


def _check_connector(path: str, connector: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    low, high = _number(connector.get("min_voltage_v", 150.0)), _number(connector.get("max_voltage_v", 500.0))
    if low is not None and high is not None and low >= high:
        problems.append(
            Problem(
                f"{path}.min_voltage_v",
                f"must be below max_voltage_v ({high} V), got {low} V",
                "lower min_voltage_v or raise max_voltage_v",
            )
        )
    start, end = (
        _number(connector.get("cable_derating_start_c", 60.0)),
        _number(connector.get("cable_derating_end_c", 90.0)),
    )
    if start is not None and end is not None and start >= end:
        problems.append(
            Problem(
                f"{path}.cable_derating_start_c",
                f"must be below cable_derating_end_c ({end} °C), got {start} °C",
                "derating starts at the lower temperature and reaches zero current at the higher",
            )
        )
    standard = connector.get("standard")
    link = _table(connector.get("vehicle_link"))
    interface = link.get("interface", SIM_LINK)
    if not isinstance(interface, str):  # the type pass has reported it
        interface = SIM_LINK
    simulated = interface == SIM_LINK
    if standard == "ccs" and interface not in (SIM_LINK, HOMEPLUG_LINK):
        problems.append(
            Problem(
                f"{path}.vehicle_link.interface",
                f"a CCS connector talks over HomePlug Green PHY, not {interface!r}",
                f'use "{HOMEPLUG_LINK}" (with channel = the PLC network interface) or "{SIM_LINK}"',
            )
        )
    elif standard in CAN_STANDARDS and interface not in (SIM_LINK, *_can_interfaces()):
        known = ", ".join(sorted(_can_interfaces()))
        problems.append(
            Problem(
                f"{path}.vehicle_link.interface",
                f"unknown CAN interface {interface!r}",
                f'use "{SIM_LINK}" or a python-can interface: {known}',
            )
        )
    if not simulated and not link.get("channel"):
        problems.append(
            Problem(
                f"{path}.vehicle_link.channel",
                f"is required for interface {interface!r}",
                'name the device, e.g. channel = "can0"',
            )
        )
    vehicle = connector.get("vehicle")
    if isinstance(vehicle, str) and simulated:
        problems += _check_vehicle_profile(f"{path}.vehicle", vehicle, standard)
    if vehicle is not None and not simulated:
        problems.append(
            Problem(
                f"{path}.vehicle",
                'a simulated vehicle needs vehicle_link.interface = "sim"',
                "remove `vehicle` on real hardware",
            )
        )
    hardware = _table(connector.get("hardware"))
    for role in HARDWARE_ROLES:
        problems += _check_driver(role, f"{path}.hardware.{role}", _table(hardware.get(role)))
    return problems


def _check_vehicle_profile(path: str, name: str, standard: object) -> list[Problem]:
    from evse.sim.profile import ProfileError, load_profile

    try:
        profile = load_profile(name)
    except ProfileError as error:
        return [Problem(path, str(error).split(";")[0], "name a built-in profile (`evse sim --list-profiles`)")]
    if profile.standard != standard:
        return [
            Problem(
                path,
                f"profile {name!r} is a {profile.standard} vehicle, the connector is {standard}",
                f"pick a {standard} profile",
            )
        ]
    return []


def _check_driver(role: str, path: str, table: dict[str, Any]) -> list[Problem]:
    name = table.get("driver", SIM_DRIVER)
    if not isinstance(name, str):
        return []
    known = known_drivers(role)
    if known is None:
        return []
    if name in known:
        return _check_params(role, name, path, table)
    return [
        Problem(
            f"{path}.driver",
            f"unknown {role} driver {name!r}",
            "use one of: " + ", ".join(sorted(known)) + " (real drivers need `pip install evse[hardware]`)",
        )
    ]


def _check_params(role: str, name: str, path: str, table: dict[str, Any]) -> list[Problem]:
    """A driver that declares its params' settings struct gets them checked now, not when the station starts."""
    from evse.hardware.registry import params_type

    kind = params_type(REGISTRY_ROLE.get(role, role), name)
    params = table.get("params", {})
    if kind is None or not isinstance(params, dict):  # not declared, or the type pass has reported it
        return []
    problems: list[Problem] = []
    check(mi.type_info(kind), params, f"{path}.params", problems)
    return problems


def known_drivers(role: str) -> set[str] | None:
    """Driver names the hardware registry knows for `role`, or None when no registry is installed (then any
    name passes here and the station reports a missing driver when it starts)."""
    try:
        registry = importlib.import_module("evse.hardware.registry")
    except ModuleNotFoundError as error:
        if error.name in ("evse.hardware.registry",):
            return None
        raise
    lookup = getattr(registry, "known", None)
    if not callable(lookup):
        return None
    return {SIM_DRIVER, *_as_names(lookup(REGISTRY_ROLE.get(role, role)))}


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _table(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_names(names: Iterable[str] | None) -> set[str]:
    return set(names or ())


def _can_interfaces() -> frozenset[str]:
    import can.interfaces

    return frozenset(can.interfaces.VALID_INTERFACES)
