"""Hardware drivers chosen by name from the configuration, python-can style.

A connector's configuration names one driver per hardware role, e.g. (TOML)

    [connectors.hardware.power]
    driver = "sim"                # or "my_rectifier", or a third-party driver
    max_current_a = 250           # everything else is the driver's own parameters

and the station builder calls `create("power", "sim", {"max_current_a": 250}, context=ctx)`.

Roles (the names used in the configuration, and the Protocol each driver implements, from `evse.hardware.roles`):
`pilot` (ControlPilot), `lines` (VehicleLines), `lock` (ConnectorLock), `imd` (InsulationMonitor), `power`
(PowerModule), `contactors` (Contactors), `meter` (EnergyMeter), `temperatures` (Temperatures), `estop`
(EmergencyStop), `can` (CanChannel, the vehicle link of CHAdeMO / GB/T) and `rfid` (CardReader: one per station,
created by the daemon's `[rfid]` section with `context.connector_id` 0).

Where drivers come from:
* built-in registrations: `register(role, name, factory)` — the simulated drivers (`evse.sim.hardware`, name "sim")
  register lazily, on the first lookup, so importing this module stays cheap; `can:pythoncan` (any python-can
  interface: `interface`, `channel`, optional `bitrate`) is registered here;
* third-party packages: an entry point in group `evse.drivers` named `"role:name"` pointing at a factory, e.g.
  `[project.entry-points."evse.drivers"] "power:acme_rectifier" = "acme_evse.power:create"`.

A factory is `factory(params: dict[str, Any], context: DriverContext) -> driver`. It validates its own params and
raises `DriverError` with one sentence naming the bad parameter. A driver whose params are a settings struct
(`evse.config.meta.Settings`) declares it — `register(..., params=Struct)`, or a `params` attribute on an entry
point's factory — and `evse config check` then validates the params before anything starts.
`context.shared` is one dict per station, shared by all drivers of all connectors: drivers that model or own
something common keep it there (the simulated world lives at `context.shared["sim.world"]`, the simulated CAN
buses inside it).
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from evse.hardware import roles

#: role name → the Protocol its drivers implement (checked on creation when the Protocol is runtime-checkable)
ROLES: dict[str, type] = {
    "pilot": roles.ControlPilot,
    "lines": roles.VehicleLines,
    "lock": roles.ConnectorLock,
    "imd": roles.InsulationMonitor,
    "power": roles.PowerModule,
    "contactors": roles.Contactors,
    "meter": roles.EnergyMeter,
    "temperatures": roles.Temperatures,
    "estop": roles.EmergencyStop,
    "can": object,  # evse.can.channel.CanChannel (its Protocol has a data member, so isinstance() is not used)
    "rfid": object,  # roles.CardReader (data members too)
}

ENTRY_POINT_GROUP = "evse.drivers"

#: modules whose import registers built-in drivers (imported on the first lookup)
BUILTIN_MODULES: tuple[str, ...] = ("evse.sim.hardware.drivers", "evse.hardware.drivers.builtin")


@dataclass(slots=True)
class DriverContext:
    """What a driver factory may know besides its own params."""

    connector_id: int
    #: the connector standard ("ccs", "chademo", "gbt"), "" when not known
    standard: str = ""
    #: one dict per station shared by every driver (simulated world, shared buses, a Modbus client, …)
    shared: dict[str, Any] = field(default_factory=dict)
    #: the whole configuration object, for drivers that need station-level settings (None in unit tests)
    settings: Any = None


Factory = Callable[[dict[str, Any], DriverContext], Any]


class DriverError(Exception):
    """A driver cannot be found or created; the message is one sentence a user can act on."""


_factories: dict[tuple[str, str], Factory] = {}
_params_types: dict[tuple[str, str], type] = {}
_loaded = False


def register(role: str, name: str, factory: Factory, *, replace: bool = False, params: type | None = None) -> None:
    """Make `factory` available as driver `name` for `role`; `params` is the settings struct of its params."""
    if role not in ROLES:
        raise DriverError(f"unknown hardware role {role!r}: use one of {', '.join(sorted(ROLES))}")
    key = (role, name)
    if key in _factories and not replace and _factories[key] is not factory:
        raise DriverError(f"driver {role}:{name} is registered twice; rename one of them")
    _factories[key] = factory
    if params is not None:
        _params_types[key] = params


def unregister(role: str, name: str) -> None:
    """Remove a registration (tests)."""
    _factories.pop((role, name), None)


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a broken built-in must not hide behind "not installed"
                raise
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        role, sep, name = entry.name.partition(":")
        if not sep or role not in ROLES or not name:
            raise DriverError(
                f"entry point {entry.name!r} in group {ENTRY_POINT_GROUP} (from {entry.value}) is not named "
                f"'role:name' with a role among {', '.join(sorted(ROLES))}; fix the package that declares it"
            )
        if (role, name) not in _factories:
            _factories[(role, name)] = _lazy_entry_point(entry)


def _lazy_entry_point(entry: importlib.metadata.EntryPoint) -> Factory:
    def factory(params: dict[str, Any], context: DriverContext) -> Any:
        try:
            real = entry.load()
        except Exception as exc:
            raise DriverError(f"driver {entry.name} ({entry.value}) failed to import: {exc}") from exc
        return real(params, context)

    factory.entry_point = entry  # type: ignore[attr-defined]  # for params_type()
    return factory


def params_type(role: str, name: str) -> type | None:
    """The settings struct of driver `name`'s params, when it declares one (an entry point's is imported here)."""
    _load()
    key = (role, name)
    if key not in _params_types and key in _factories:
        declared = getattr(_factories[key], "params", None)
        if declared is None and hasattr(_factories[key], "entry_point"):
            try:
                declared = getattr(_factories[key].entry_point.load(), "params", None)  # type: ignore[attr-defined]
            except Exception:  # a broken package is reported when the station creates the driver
                declared = None
        if isinstance(declared, type):
            _params_types[key] = declared
    return _params_types.get(key)


def known(role: str) -> list[str]:
    """The driver names available for `role`, sorted."""
    if role not in ROLES:
        raise DriverError(f"unknown hardware role {role!r}: use one of {', '.join(sorted(ROLES))}")
    _load()
    return sorted(name for r, name in _factories if r == role)


def create(role: str, name: str, params: dict[str, Any] | None = None, *, context: DriverContext) -> Any:
    """Create driver `name` for `role` with its `params`. Unknown role or name → `DriverError` listing the known
    ones; a driver's own validation errors come out as `DriverError` too."""
    names = known(role)
    factory = _factories.get((role, name))
    if factory is None:
        listing = ", ".join(names) if names else "none installed"
        raise DriverError(
            f"connector {context.connector_id}: no {role} driver named {name!r} (known: {listing}); "
            f"fix the driver name in the configuration or install the package that provides it"
        )
    try:
        driver = factory(dict(params or {}), context)
    except DriverError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise DriverError(f"connector {context.connector_id}: {role} driver {name!r}: {exc}") from exc
    protocol = ROLES[role]
    if protocol is not object and not isinstance(driver, protocol):
        raise DriverError(
            f"connector {context.connector_id}: {role} driver {name!r} does not implement {protocol.__name__}; "
            f"fix the driver package"
        )
    return driver


def _pythoncan_factory(params: dict[str, Any], context: DriverContext) -> Any:
    """`can:pythoncan` — params `interface` (e.g. "socketcan", "virtual", "pcan"), `channel`, optional `bitrate`
    and any further python-can keyword. Must be called inside the running loop."""
    from evse.can.channel import CanError
    from evse.can.pythoncan import PythonCanChannel

    options = dict(params)
    interface = options.pop("interface", None)
    channel = options.pop("channel", None)
    if not isinstance(interface, str) or not isinstance(channel, str):
        raise DriverError(
            f"connector {context.connector_id}: the pythoncan CAN driver needs string params 'interface' and "
            f'\'channel\' (e.g. interface = "socketcan", channel = "can0"); add them to the configuration'
        )
    bitrate = options.pop("bitrate", None)
    try:
        return PythonCanChannel.open(interface, channel, bitrate, **options)
    except CanError as exc:
        raise DriverError(f"connector {context.connector_id}: {exc}") from exc


register("can", "pythoncan", _pythoncan_factory)
