"""Entry-point factories of the `yeti` drivers (pyproject: `[project.entry-points."evse.drivers"]`).

All roles naming the same `port` share one `BoardLink` (kept in `context.shared`), so the pilot, contactors and
lock of both board connectors go over one UART. `port = "sim"` gives each station connector an emulated board
driving its simulated plant (`evse.hardware.drivers.emulators.yeti_plant`).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from evse.hardware.drivers.params import convert
from evse.hardware.drivers.yeti.settings import (
    SIM_PORT,
    YetiBoardSettings,
    YetiContactorsSettings,
    YetiLockSettings,
    YetiPilotSettings,
    YetiTemperaturesSettings,
)
from evse.hardware.registry import DriverContext, DriverError

if TYPE_CHECKING:
    from evse.hardware.drivers.yeti.board_roles import YetiContactors, YetiLock, YetiPilot, YetiTemperatures
    from evse.hardware.drivers.yeti.link import BoardLink

S = TypeVar("S", bound=YetiBoardSettings)
_BOARD_FIELDS = tuple(f.name for f in msgspec.structs.fields(YetiBoardSettings))


def board_settings(settings: YetiBoardSettings) -> YetiBoardSettings:
    return YetiBoardSettings(**{name: getattr(settings, name) for name in _BOARD_FIELDS})


def _roles(context: DriverContext) -> ModuleType:
    """The driver modules, imported when a yeti role is created: protobuf and cobs missing is a configuration
    error for that connector, not an import error of the daemon."""
    try:
        from evse.hardware.drivers.yeti import board_roles

        return board_roles
    except ModuleNotFoundError as exc:
        raise DriverError(
            f"connector {context.connector_id}: the yeti board drivers need protobuf and cobs ({exc}); install "
            f"them with `pip install 'evse[hardware]'`"
        ) from exc


def board(settings: YetiBoardSettings, context: DriverContext, channel: int = 1) -> BoardLink:
    """The board on `settings.port`, opened by the first role that names it."""
    from evse.hardware.drivers.yeti.link import BoardLink

    link_settings = board_settings(settings)
    sim = settings.port == SIM_PORT
    key = f"yeti.board:sim:{context.connector_id}" if sim else f"yeti.board:{settings.port}"
    link = context.shared.get(key)
    if link is not None:
        assert isinstance(link, BoardLink)
        if link.settings != link_settings:
            raise DriverError(
                f"connector {context.connector_id}: the yeti roles on {settings.port} give different board settings "
                f"(port, baudrate, keep-alive, reset, revision, CP scale); give every role on one board "
                f"the same ones"
            )
        return link
    link = _open(link_settings, context, channel)
    context.shared[key] = link
    return link


def _open(settings: YetiBoardSettings, context: DriverContext, channel: int) -> BoardLink:
    from evse.hardware.drivers.yeti.link import BoardLink
    from evse.hardware.drivers.yeti.transport import SerialTransport

    if settings.port == SIM_PORT:
        return _emulated(settings, context, channel)
    try:
        transport = SerialTransport(settings.port, settings.baudrate)
    except (OSError, ValueError) as exc:  # serial.SerialException is an OSError
        raise DriverError(
            f"connector {context.connector_id}: the yeti control board port {settings.port} cannot be opened "
            f"({exc}); check the port name and that no other program holds it"
        ) from exc
    return BoardLink(transport, settings)


def _emulated(settings: YetiBoardSettings, context: DriverContext, channel: int) -> BoardLink:
    from evse.hardware.drivers.emulators.yeti_plant import PlantBackedBoard
    from evse.hardware.drivers.yeti.link import BoardLink
    from evse.hardware.drivers.yeti.transport import pipe
    from evse.sim.world import world_of

    host, device = pipe()
    plant = world_of(context).plant(context.connector_id)
    context.shared.setdefault("yeti.emulated", []).append(PlantBackedBoard(device, plant, channel))
    return BoardLink(host, settings)


def _settings(params: dict[str, Any], kind: type[S], context: DriverContext) -> S:
    return convert(params, kind, "yeti", context)


def pilot(params: dict[str, Any], context: DriverContext) -> YetiPilot:
    s = _settings(params, YetiPilotSettings, context)
    return _roles(context).YetiPilot(board(s, context, s.connector), s.connector)


def contactors(params: dict[str, Any], context: DriverContext) -> YetiContactors:
    s = _settings(params, YetiContactorsSettings, context)
    vehicle_voltage = _vehicle_voltage(s, context)  # checked before the port is opened
    return _roles(context).YetiContactors(board(s, context, s.connector), s, vehicle_voltage)


def lock(params: dict[str, Any], context: DriverContext) -> YetiLock:
    s = _settings(params, YetiLockSettings, context)
    return _roles(context).YetiLock(board(s, context, s.connector), s)


def temperatures(params: dict[str, Any], context: DriverContext) -> YetiTemperatures:
    s = _settings(params, YetiTemperaturesSettings, context)
    return _roles(context).YetiTemperatures(board(s, context), s)


def _vehicle_voltage(s: YetiContactorsSettings, context: DriverContext) -> Callable[[], float]:
    """The board does not measure the DC voltage: the vehicle-side sense is an ADC channel of the controller
    (or, on the emulated board, the simulated plant's inlet reading)."""
    if s.vehicle_voltage_adc:
        from evse.hardware.drivers.board.iio import IioError, IioVoltage

        try:
            return IioVoltage(s.vehicle_voltage_adc, s.vehicle_voltage_divider).voltage_v
        except IioError as exc:
            raise DriverError(f"connector {context.connector_id}: {exc}") from exc
    if s.port == SIM_PORT:
        from evse.sim.world import world_of

        return world_of(context).plant(context.connector_id).contactors.vehicle_side_voltage_v
    raise DriverError(
        f"connector {context.connector_id}: the yeti board does not measure the vehicle-side DC voltage; give the "
        f"contactors a vehicle_voltage_adc (an IIO in_voltageN_raw file) and its vehicle_voltage_divider"
    )


# each factory's params struct, read by `evse config check` through the entry point (registry.params_type)
pilot.params = YetiPilotSettings  # type: ignore[attr-defined]
contactors.params = YetiContactorsSettings  # type: ignore[attr-defined]
lock.params = YetiLockSettings  # type: ignore[attr-defined]
temperatures.params = YetiTemperaturesSettings  # type: ignore[attr-defined]
