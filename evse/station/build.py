"""`build_station(config, *, bus, loop)`: the station from the configuration.

Hardware: each connector's roles are created by name through `evse.hardware.registry` (`sim` drivers or real
ones); the emergency stop is one station-wide role. The CAN vehicle link of CHAdeMO / GB/T is the registry's
`can` role: driver `sim` for `vehicle_link.interface = "sim"`, else `pythoncan` with the link's interface, channel
and bit rate.

Protocol adapters — the factory signature every standard follows
----------------------------------------------------------------
A standard provides, in `evse.protocols.<standard>.adapter`, a module-level function

    def connector_adapters(context: AdapterContext) -> ConnectorAdapters: ...

called once per connector when the station is built. `AdapterContext` carries the connector's configuration
(`evse.config.schema.ConnectorSettings`), its hardware roles (`evse.session.hardware.ConnectorRoles`, including
`can` for CAN standards), the whole `Config` (for the standard's own section, e.g. `config.gbt`) and the station's
`shared` dict (the simulated world lives at `shared["sim.world"]`). The returned `ConnectorAdapters` makes a fresh
`ProtocolAdapter` per session (`new_adapter()`), and may hold connector-level resources with `start()` / `stop()`
(the CCS SECC), which the station runs with its own start and stop. `register_adapters(standard, provider)`
overrides a standard's provider (tests, third-party standards). Until a standard defines `connector_adapters`,
the defaults below construct its adapter class directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from evse.config.schema import REGISTRY_ROLE, Config, ConnectorHardware, ConnectorSettings, HardwareRole
from evse.hardware import registry
from evse.safety.envelope import CableLimits, ChargerLimits
from evse.session.adapter import ProtocolAdapter
from evse.session.events import EventBus
from evse.session.hardware import ConnectorRoles
from evse.session.session import settings_timeouts
from evse.station.authorization import LocalAuthorizer
from evse.station.connector import ConnectorSpec
from evse.station.station import Station

log = structlog.get_logger("evse.station")

#: configuration field of `ConnectorHardware` → the registry's role name: the connector's part of the schema's
#: `REGISTRY_ROLE` (the one table of role names; the emergency stop there is the station's, not a connector's)
#: A field without a registry name fails here, at import, not later in a station build.
ROLE_FIELDS: dict[str, str] = {name: REGISTRY_ROLE[name] for name in ConnectorHardware.__struct_fields__}
#: roles a standard does not use are not created
_UNUSED: dict[str, frozenset[str]] = {
    "ccs": frozenset({"lines"}),
    "chademo": frozenset({"pilot"}),
    "gbt": frozenset({"pilot"}),
}
_CAN_STANDARDS = frozenset({"chademo", "gbt"})
#: `DriverContext.shared` key of the CAN channels the builder opened itself (closed by `shutdown_drivers`)
OWNED_CHANNELS = "station.can_channels"
_SIM_LINK = "sim"


@dataclass(slots=True)
class AdapterContext:
    connector: ConnectorSettings
    roles: ConnectorRoles
    config: Config
    shared: dict[str, Any] = field(default_factory=dict)


class ConnectorAdapters(Protocol):
    def new_adapter(self) -> ProtocolAdapter: ...


AdapterProvider = Callable[[AdapterContext], ConnectorAdapters]


@dataclass(slots=True)
class SimpleAdapters:
    """A `ConnectorAdapters` from a factory and optional connector-level start/stop."""

    factory: Callable[[], ProtocolAdapter]
    start: Callable[[], Awaitable[None]] | None = None
    stop: Callable[[], Awaitable[None]] | None = None

    def new_adapter(self) -> ProtocolAdapter:
        return self.factory()


_providers: dict[str, AdapterProvider] = {}


def register_adapters(standard: str, provider: AdapterProvider) -> None:
    """Use `provider` for every connector of `standard` built from now on."""
    _providers[standard] = provider


def unregister_adapters(standard: str) -> None:
    _providers.pop(standard, None)


def provider_for(standard: str) -> AdapterProvider:
    if standard in _providers:
        return _providers[standard]
    module = importlib.import_module(f"evse.protocols.{standard}.adapter")
    provider = getattr(module, "connector_adapters", None)
    if callable(provider):
        return provider
    default = _DEFAULTS.get(standard)
    if default is None:
        raise registry.DriverError(f"no protocol adapter for standard {standard!r}; use ccs, chademo or gbt")
    return default


# ---------------------------------------------------------------------- defaults until a standard provides its own
def _can_adapters(class_path: str, section: str) -> AdapterProvider:
    def provider(context: AdapterContext) -> ConnectorAdapters:
        module_name, _, class_name = class_path.partition(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        channel = context.roles.can
        if channel is None:
            raise registry.DriverError(f"connector {context.connector.id}: no CAN channel for the vehicle link")
        settings = getattr(context.config, section)
        return SimpleAdapters(lambda: cls(channel, settings))

    return provider


_DEFAULTS: dict[str, AdapterProvider] = {
    "chademo": _can_adapters("evse.protocols.chademo.adapter:ChademoAdapter", "chademo"),
}


# ---------------------------------------------------------------------- hardware
#: `DriverContext.shared` key of the list of every driver the builder created (for `shutdown_drivers`)
BUILT_DRIVERS = "station.drivers"


def _create(role: str, spec: HardwareRole, context: registry.DriverContext) -> Any:
    driver = registry.create(role, spec.driver, spec.params, context=context)
    context.shared.setdefault(BUILT_DRIVERS, []).append(driver)
    return driver


def _can_channel(connector: ConnectorSettings, context: registry.DriverContext) -> Any:
    link = connector.vehicle_link
    if link.interface == _SIM_LINK:
        return registry.create("can", "sim", {}, context=context)
    params: dict[str, Any] = {"interface": link.interface, "channel": link.channel}
    if link.bitrate is not None:
        params["bitrate"] = link.bitrate
    channel = registry.create("can", "pythoncan", params, context=context)
    context.shared.setdefault(OWNED_CHANNELS, []).append(channel)
    return channel


def build_roles(
    connector: ConnectorSettings, config: Config, shared: dict[str, Any], estop: Any = None
) -> ConnectorRoles:
    context = registry.DriverContext(connector.id, connector.standard, shared, config)
    unused = _UNUSED.get(connector.standard, frozenset())
    made: dict[str, Any] = {}
    for field_name, role in ROLE_FIELDS.items():
        if field_name in unused:
            continue
        made[role] = _create(role, getattr(connector.hardware, field_name), context)
    can = _can_channel(connector, context) if connector.standard in _CAN_STANDARDS else None
    return ConnectorRoles(
        power=made["power"],
        contactors=made["contactors"],
        imd=made["imd"],
        lock=made.get("lock"),
        lines=made.get("lines"),
        pilot=made.get("pilot"),
        meter=made.get("meter"),
        temperatures=made.get("temperatures"),
        estop=estop,
        can=can,
    )


def charger_limits(connector: ConnectorSettings, roles: ConnectorRoles) -> ChargerLimits:
    """The configured connector ratings, never beyond what the power module says it can do."""
    caps = roles.power.capabilities()
    return ChargerLimits(
        max_voltage_v=min(connector.max_voltage_v, caps.max_voltage_v),
        min_voltage_v=max(connector.min_voltage_v, caps.min_voltage_v),
        max_current_a=min(connector.max_current_a, caps.max_current_a),
        min_current_a=caps.min_current_a,
        max_power_w=min(connector.max_power_w, caps.max_power_w),
    )


def build_station(
    config: Config,
    *,
    bus: EventBus,
    loop: asyncio.AbstractEventLoop | None = None,
    shared: dict[str, Any] | None = None,
) -> BuiltStation:
    """Build (but do not start) the station; driver and adapter errors come out as `DriverError` sentences."""
    del loop  # drivers take the running loop when they need it
    shared = {} if shared is None else shared
    estop = None
    if config.connectors:
        first = config.connectors[0]
        estop_context = registry.DriverContext(first.id, first.standard, shared, config)
        estop = _create("estop", config.emergency_stop, estop_context)
    specs: list[ConnectorSpec] = []
    for connector in config.connectors:
        roles = build_roles(connector, config, shared, estop)
        adapters = provider_for(connector.standard)(AdapterContext(connector, roles, config, shared))
        specs.append(
            ConnectorSpec(
                connector_id=connector.id,
                standard=connector.standard,
                roles=roles,
                charger=charger_limits(connector, roles),
                cable=CableLimits(
                    connector.cable_max_current_a, connector.cable_derating_start_c, connector.cable_derating_end_c
                ),
                new_adapter=adapters.new_adapter,
                start=getattr(adapters, "start", None),
                stop=getattr(adapters, "stop", None),
            )
        )
    timeouts = settings_timeouts(
        {
            "session": config.session,
            "safety": config.safety,
            "gbt": config.gbt,
            "chademo": config.chademo,
            "ccs": config.ccs,
        }
    )
    station = BuiltStation(
        specs,
        bus=bus,
        session_settings=config.session,
        safety_settings=config.safety,
        power_budget_w=config.station.power_budget_w,
        authorizer=LocalAuthorizer(free_vend=config.station.free_vend, allow_list=config.station.allow_list),
        timeouts=timeouts,
    )
    station.shared = shared
    station.sim_control = _sim_control(shared)
    return station


class BuiltStation(Station):
    """The station as built from a configuration, with what the daemon wires and tears down besides: the
    drivers and CAN channels the builder created (`shared`), and in simulated mode the simulator's control seam
    (`sim_control`, an `evse.api.sim.SimControl`) the local API serves."""

    shared: dict[str, Any]
    sim_control: Any = None

    def drivers(self) -> list[Any]:
        """Every driver created for this station, each once (a driver may serve several roles)."""
        unique: dict[int, Any] = {}
        for driver in self.shared.get(BUILT_DRIVERS, []):
            unique.setdefault(id(driver), driver)
        return list(unique.values())

    def can_channels(self) -> list[Any]:
        """The CAN channels of the station, for /metrics: each connector's vehicle link and the channels of the
        buses drivers keep in `shared` (a power-module bus), each once."""
        found: dict[int, Any] = {}
        for connector in self.connectors.values():
            if connector.spec.roles.can is not None:
                found.setdefault(id(connector.spec.roles.can), connector.spec.roles.can)
        for value in list(self.shared.values()):
            channel = getattr(value, "channel", None)
            if channel is not None and hasattr(channel, "send") and hasattr(channel, "name"):
                found.setdefault(id(channel), channel)
        return list(found.values())

    def shutdown_drivers(self) -> None:
        """After the station has stopped: each driver's `shutdown()` (its background task ends, its port is
        released), then the CAN channels the builder opened are closed. A failing driver is logged and the
        rest still shut down. Every `shutdown()` is synchronous and short (cancel a task, close a port). In
        simulated mode the vehicles plugged in through the simulator seam are unplugged first (their tasks end)."""
        dock = getattr(self.sim_control, "dock", None)
        close_dock = getattr(dock, "close", None)
        if callable(close_dock):
            with contextlib.suppress(Exception):
                close_dock()
        for driver in self.drivers():
            shutdown = getattr(driver, "shutdown", None)
            if not callable(shutdown):
                continue
            try:
                shutdown()
            except Exception as error:  # one driver must not keep the others' ports open
                log.warning("driver shutdown failed", driver=type(driver).__name__, error=str(error))
        channels = self.shared.get(OWNED_CHANNELS, []) + [
            getattr(v, "channel", None) for v in self.shared.values() if hasattr(v, "attach")
        ]
        for channel in channels:
            close = getattr(channel, "close", None)
            if callable(close) and not getattr(channel, "closed", False):
                with contextlib.suppress(Exception):
                    close()
        self.shared[BUILT_DRIVERS] = []


def _sim_control(shared: dict[str, Any]) -> Any:
    """The simulator's control seam when the station runs on simulated hardware (its world is in `shared`)."""
    world = shared.get("sim.world")
    if world is None:
        return None
    from evse.sim.control import WorldSimControl

    return WorldSimControl(world)
