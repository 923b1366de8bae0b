"""Registration of the real drivers with `evse.hardware.registry` (imported by it on the first lookup).

Factories import their driver module only when called, so an optional library missing (pymodbus, gpiod) is an
error for the configuration that names that driver, not for the daemon as a whole.
"""

from __future__ import annotations

from typing import Any

from evse.can.channel import CanError, InLoopBus
from evse.hardware.drivers.params import convert
from evse.hardware.drivers.settings import BenderIsoChaSettings, InfyPowerSettings, ModbusMeterSettings
from evse.hardware.registry import DriverContext, DriverError, register

#: the python-can-free interface name of a module bus inside the simulation (an `InLoopBus` in `context.shared`)
INLOOP = "inloop"


def inloop_bus(context: DriverContext, channel: str) -> InLoopBus:
    """The in-loop CAN bus named `channel`, one per station (emulated devices attach to it too)."""
    bus = context.shared.setdefault(f"can.inloop:{channel}", InLoopBus(channel))
    assert isinstance(bus, InLoopBus)
    return bus


def _module_bus(settings: InfyPowerSettings, context: DriverContext) -> Any:
    from evse.hardware.drivers.infypower.bus import ModuleBus

    key = f"infypower.bus:{settings.interface}:{settings.channel}"
    bus = context.shared.get(key)
    if bus is None:
        if settings.interface == INLOOP:
            channel: Any = inloop_bus(context, settings.channel).attach("infypower")
        else:
            from evse.can.pythoncan import PythonCanChannel

            try:
                channel = PythonCanChannel.open(settings.interface, settings.channel, settings.bitrate or None)
            except CanError as exc:
                raise DriverError(f"connector {context.connector_id}: InfyPower module bus: {exc}") from exc
        bus = context.shared[key] = ModuleBus(channel)
    return bus


def _infypower(params: dict[str, Any], context: DriverContext) -> Any:
    from evse.hardware.drivers.infypower.group import InfyPowerGroup

    settings = convert(params, InfyPowerSettings, "infypower", context)
    bus = _module_bus(settings, context)
    group = InfyPowerGroup(bus.channel, settings)
    bus.attach(group)
    return group


def _bender_isocha(params: dict[str, Any], context: DriverContext) -> Any:
    settings = convert(params, BenderIsoChaSettings, "bender_isocha", context)
    try:
        from evse.hardware.drivers.bender.imd import BenderIsoChaImd
    except ModuleNotFoundError as exc:
        raise DriverError(
            f"connector {context.connector_id}: the bender_isocha driver needs pymodbus ({exc}); "
            f"install it with `pip install 'evse[hardware]'`"
        ) from exc
    return BenderIsoChaImd(settings)


def _modbus_meter(params: dict[str, Any], context: DriverContext) -> Any:
    settings = convert(params, ModbusMeterSettings, "modbus_meter", context)
    try:
        from evse.hardware.drivers.meter.modbus import ModbusMeter
    except ModuleNotFoundError as exc:
        raise DriverError(
            f"connector {context.connector_id}: the modbus_meter driver needs pymodbus ({exc}); "
            f"install it with `pip install 'evse[hardware]'`"
        ) from exc
    return ModbusMeter(settings)


register("power", "infypower", _infypower)
register("meter", "modbus_meter", _modbus_meter)
register("imd", "bender_isocha", _bender_isocha)
