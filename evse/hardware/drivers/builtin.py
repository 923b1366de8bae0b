"""Registration of the real drivers with `evse.hardware.registry` (imported by it on the first lookup).

Factories import their driver module only when called, so an optional library missing (pymodbus, gpiod) is an
error for the configuration that names that driver, not for the daemon as a whole.
"""

from __future__ import annotations

from typing import Any

from evse.can.channel import CanError, InLoopBus
from evse.hardware.drivers.params import convert
from evse.hardware.drivers.settings import (
    BenderIsoChaSettings,
    GpioContactorsSettings,
    GpioEmergencyStopSettings,
    GpioLockSettings,
    GpioVehicleLinesSettings,
    IioTemperaturesSettings,
    InfyPowerSettings,
    ModbusMeterSettings,
    Pn532Settings,
    SysfsPilotSettings,
)
from evse.hardware.registry import DriverContext, DriverError, register

#: the python-can-free interface name of a module bus inside one process (an `InLoopBus` in `context.shared`)
INLOOP = "inloop"
#: an in-loop module bus whose modules are emulators driving the connector's simulated plant
SIM = "sim"


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
        if settings.interface in (INLOOP, SIM):
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
    if settings.interface == SIM:
        _emulate_on_plant(settings, context)
    return group


def _emulate_on_plant(settings: InfyPowerSettings, context: DriverContext) -> None:
    from evse.hardware.drivers.emulators.plant import PlantBackedModule
    from evse.sim.world import world_of

    plant = world_of(context).plant(context.connector_id)
    bus = inloop_bus(context, settings.channel)
    modules = context.shared.setdefault("infypower.emulated", [])
    for address in settings.modules:
        modules.append(
            PlantBackedModule(
                bus.attach(f"module{address}"), address, settings.group, plant.power, len(settings.modules)
            )
        )


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


def _gpio_lines(chip: str, outputs: dict[int, bool], inputs: dict[int, bool], context: DriverContext) -> Any:
    try:
        from evse.hardware.drivers.board.lineio import GpiodLines

        return GpiodLines(chip, outputs, inputs, consumer=f"evse-connector-{context.connector_id}")
    except ModuleNotFoundError as exc:
        raise DriverError(
            f"connector {context.connector_id}: the gpio drivers need the libgpiod bindings ({exc}); "
            f"install them with `pip install 'evse[hardware]'`"
        ) from exc
    except (OSError, ValueError) as exc:
        raise DriverError(
            f"connector {context.connector_id}: GPIO lines {sorted({*outputs, *inputs})} on {chip} cannot be "
            f"requested ({exc}); check the chip path, the line numbers and that no other program holds them"
        ) from exc


def _adc(path: str, divider: float, context: DriverContext) -> Any:
    from evse.hardware.drivers.board.iio import IioError, IioVoltage

    try:
        return IioVoltage(path, divider)
    except IioError as exc:
        raise DriverError(f"connector {context.connector_id}: {exc}") from exc


def _gpio_contactors(params: dict[str, Any], context: DriverContext) -> Any:
    from evse.hardware.drivers.board.gpio import GpioContactors

    s = convert(params, GpioContactorsSettings, "gpio", context)
    if not s.close_lines or not s.feedback_lines or not s.vehicle_voltage_adc:
        raise DriverError(
            f"connector {context.connector_id}: the gpio contactors need close_lines, feedback_lines (mirror "
            f"contacts) and vehicle_voltage_adc (the vehicle-side voltage sense); add them to the params"
        )
    adc = _adc(s.vehicle_voltage_adc, s.vehicle_voltage_divider, context)
    io = _gpio_lines(
        s.chip, dict.fromkeys(s.close_lines, False), dict.fromkeys(s.feedback_lines, s.feedback_active_low), context
    )
    return GpioContactors(io, s, adc)


def _gpio_lock(params: dict[str, Any], context: DriverContext) -> Any:
    from evse.hardware.drivers.board.gpio import GpioLock

    s = convert(params, GpioLockSettings, "gpio", context)
    io = _gpio_lines(s.chip, {s.line: False}, {s.feedback_line: s.feedback_active_low}, context)
    return GpioLock(io, s)


def _gpio_estop(params: dict[str, Any], context: DriverContext) -> Any:
    from evse.hardware.drivers.board.gpio import GpioEmergencyStop

    s = convert(params, GpioEmergencyStopSettings, "gpio", context)
    return GpioEmergencyStop(_gpio_lines(s.chip, {}, {s.line: s.active_low}, context), s)


def _gpio_vehicle_lines(params: dict[str, Any], context: DriverContext) -> Any:
    from evse.hardware.drivers.board.gpio import INPUT_LINES, OUTPUT_LINES, GpioVehicleLines

    s = convert(params, GpioVehicleLinesSettings, "gpio", context)
    outputs = {getattr(s, n): False for n in OUTPUT_LINES if getattr(s, n) >= 0}
    inputs = {getattr(s, n): s.inputs_active_low for n in INPUT_LINES if getattr(s, n) >= 0}
    cc1 = _adc(s.cc1_adc, s.cc1_divider, context) if s.cc1_adc else None
    return GpioVehicleLines(_gpio_lines(s.chip, outputs, inputs, context), s, cc1)


def _iio_temperatures(params: dict[str, Any], context: DriverContext) -> Any:
    from evse.hardware.drivers.board.iio import IioError
    from evse.hardware.drivers.board.temperatures import IioTemperature, IioTemperatures

    s = convert(params, IioTemperaturesSettings, "iio", context)
    if not s.sensors:
        raise DriverError(
            f"connector {context.connector_id}: the iio temperatures driver needs at least one sensor "
            f'(sensors = {{ dc_plus = "/sys/bus/iio/devices/iio:device1/in_temp0_input" }}); add it'
        )
    try:
        sensors = {name: IioTemperature(path) for name, path in s.sensors.items()}
    except IioError as exc:
        raise DriverError(f"connector {context.connector_id}: {exc}") from exc
    return IioTemperatures(sensors, s)


def _sysfs_pilot(params: dict[str, Any], context: DriverContext) -> Any:
    from evse.hardware.drivers.board.iio import IioError
    from evse.hardware.drivers.board.pilot import SysfsPilot, SysfsPwm

    s = convert(params, SysfsPilotSettings, "sysfs", context)
    try:
        pwm = SysfsPwm(s.pwm_chip, s.pwm_channel)
    except (IioError, OSError) as exc:
        raise DriverError(f"connector {context.connector_id}: CP generator: {exc}") from exc
    cp_low = _adc(s.cp_low_adc, 1.0, context) if s.cp_low_adc else None
    pp = _adc(s.pp_adc, 1.0, context) if s.pp_adc else None
    return SysfsPilot(s, pwm, _adc(s.cp_high_adc, 1.0, context), cp_low, pp)


def _pn532(params: dict[str, Any], context: DriverContext) -> Any:
    s = convert(params, Pn532Settings, "pn532", context)
    import serial

    from evse.hardware.drivers.rfid.reader import Pn532Reader

    try:
        return Pn532Reader(s)
    except (serial.SerialException, OSError) as exc:
        raise DriverError(
            f"the RFID reader's port {s.port} cannot be opened ({exc}); check rfid.params.port and that the "
            "daemon's user may open it (group dialout)"
        ) from None


register("power", "infypower", _infypower, params=InfyPowerSettings)
register("pilot", "sysfs", _sysfs_pilot, params=SysfsPilotSettings)
register("temperatures", "iio", _iio_temperatures, params=IioTemperaturesSettings)
register("contactors", "gpio", _gpio_contactors, params=GpioContactorsSettings)
register("lock", "gpio", _gpio_lock, params=GpioLockSettings)
register("estop", "gpio", _gpio_estop, params=GpioEmergencyStopSettings)
register("lines", "gpio", _gpio_vehicle_lines, params=GpioVehicleLinesSettings)
register("meter", "modbus_meter", _modbus_meter, params=ModbusMeterSettings)
register("imd", "bender_isocha", _bender_isocha, params=BenderIsoChaSettings)
register("rfid", "pn532", _pn532, params=Pn532Settings)
