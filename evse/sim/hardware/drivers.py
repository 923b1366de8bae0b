"""Registration of the simulated drivers: driver name "sim" for every hardware role.

Each factory returns the driver object of the connector's plant in the station's `SimWorld`, after applying the
connector's params as overrides of that driver's settings (`evse.sim.settings`), so

    [connectors.hardware.power]
    driver = "sim"
    max_current_a = 200

gives connector N a 200 A simulated module. An unknown or ill-typed param is a `DriverError` naming it.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from evse.hardware.registry import DriverContext, DriverError, register
from evse.sim.hil import attach_if_external
from evse.sim.plant import ConnectorPlant
from evse.sim.world import world_of

S = TypeVar("S", bound=msgspec.Struct)


def override(settings: S, params: dict[str, Any], what: str, context: DriverContext) -> S:
    if not params:
        return settings
    merged = {**msgspec.structs.asdict(settings), **params}
    try:
        return msgspec.convert(merged, type(settings))
    except msgspec.ValidationError as exc:
        allowed = ", ".join(f.name for f in msgspec.structs.fields(settings))
        raise DriverError(
            f"connector {context.connector_id}: simulated {what}: {exc} (allowed params: {allowed}); fix the "
            f"configuration"
        ) from exc


def _plant(context: DriverContext) -> ConnectorPlant:
    """The connector's plant; with an external vehicle on a real CAN link, its stand-in is attached (HIL)."""
    world = world_of(context)
    plant = world.plant(context.connector_id)
    attach_if_external(world, context.connector_id, context.settings)
    return plant


def _no_params(params: dict[str, Any], what: str, context: DriverContext) -> None:
    if params:
        raise DriverError(
            f"connector {context.connector_id}: the simulated {what} takes no params (got "
            f"{', '.join(sorted(params))}); remove them"
        )


#: connector settings (evse.config.schema.ConnectorSettings) that size the simulated power module by default
CONNECTOR_POWER_KEYS = ("max_voltage_v", "min_voltage_v", "max_current_a", "max_power_w")


def _power(params: dict[str, Any], context: DriverContext) -> Any:
    plant = _plant(context)
    sized = {**_connector_ratings(context), **params}
    plant.power.settings = override(plant.power.settings, sized, "power module", context)
    return plant.power


def _connector_ratings(context: DriverContext) -> dict[str, Any]:
    """The connector's own ratings from the configuration, when the context carries it: a simulated module is
    as big as the connector it feeds unless its params say otherwise."""
    lookup = getattr(context.settings, "connector", None)
    if not callable(lookup):
        return {}
    try:
        connector = lookup(context.connector_id)
    except KeyError:
        return {}
    return {key: getattr(connector, key) for key in CONNECTOR_POWER_KEYS if hasattr(connector, key)}


def _contactors(params: dict[str, Any], context: DriverContext) -> Any:
    plant = _plant(context)
    plant.contactors.settings = override(plant.contactors.settings, params, "contactors", context)
    return plant.contactors


def _imd(params: dict[str, Any], context: DriverContext) -> Any:
    plant = _plant(context)
    plant.imd.settings = override(plant.imd.settings, params, "insulation monitor", context)
    return plant.imd


def _lock(params: dict[str, Any], context: DriverContext) -> Any:
    plant = _plant(context)
    plant.lock.settings = override(plant.lock.settings, params, "connector lock", context)
    return plant.lock


def _pilot(params: dict[str, Any], context: DriverContext) -> Any:
    plant = _plant(context)
    plant.pilot.settings = override(plant.pilot.settings, params, "control pilot", context)
    return plant.pilot


def _lines(params: dict[str, Any], context: DriverContext) -> Any:
    plant = _plant(context)
    plant.lines.settings = override(plant.lines.settings, params, "vehicle lines", context)
    return plant.lines


def _temperatures(params: dict[str, Any], context: DriverContext) -> Any:
    plant = _plant(context)
    plant.temperatures.settings = override(plant.temperatures.settings, params, "temperatures", context)
    return plant.temperatures


def _meter(params: dict[str, Any], context: DriverContext) -> Any:
    _no_params(params, "energy meter", context)
    return _plant(context).meter


def _estop(params: dict[str, Any], context: DriverContext) -> Any:
    _no_params(params, "emergency stop", context)
    return world_of(context).estop  # one button for the station, whichever connector asks


def _can(params: dict[str, Any], context: DriverContext) -> Any:
    _no_params(params, "CAN channel", context)
    return world_of(context).charger_channel(context.connector_id)


for _role, _factory in {
    "power": _power,
    "contactors": _contactors,
    "imd": _imd,
    "lock": _lock,
    "pilot": _pilot,
    "lines": _lines,
    "temperatures": _temperatures,
    "meter": _meter,
    "estop": _estop,
    "can": _can,
}.items():
    register(_role, "sim", _factory, replace=True)
