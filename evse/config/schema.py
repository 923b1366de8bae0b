"""The whole configuration of one charger, as typed settings structs (see `evse.config.meta`).

This file owns the station-level sections (station identity, logging, connectors and their hardware roles,
emergency stop); every component section (`session`, `safety`, `gbt`, …) is the component's own settings struct,
imported here. `docs/configuration.md` is generated from these declarations (`python -m evse.config.docs`).
Loading and the collection of every problem live in `evse.config.loader`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from evse.api.settings import ApiSettings
from evse.config.meta import Settings, setting
from evse.daemon.settings import DaemonSettings
from evse.diagnostics.settings import DiagnosticsSettings
from evse.ocpp.settings import OcppSettings
from evse.protocols.ccs.settings import CcsSettings
from evse.protocols.chademo.settings import ChademoSettings
from evse.protocols.gbt.settings import GbtSettings
from evse.safety.settings import SafetySettings
from evse.session.settings import SessionSettings
from evse.sim.settings import SimSettings
from evse.store.settings import StoreSettings

Standard = Literal["ccs", "chademo", "gbt"]

#: the driver name of the simulated implementation of every hardware role
SIM_DRIVER = "sim"
#: vehicle-link interface of the in-process simulated vehicle (no CAN/PLC hardware)
SIM_LINK = "sim"
#: vehicle-link interface of a CCS connector on real hardware: a HomePlug Green PHY modem's network interface
HOMEPLUG_LINK = "homeplug"


class HardwareRole(Settings, frozen=True):
    """One hardware role: which driver implements it, and that driver's parameters."""

    driver: Annotated[
        str, setting("Driver name from the hardware registry; `sim` is the simulated driver", min_length=1)
    ] = SIM_DRIVER
    params: Annotated[
        dict[str, Any], setting('Driver parameters (see the driver\'s documentation), e.g. `{ port = "/dev/ttyUSB0" }`')
    ] = {}


def _role() -> HardwareRole:
    return HardwareRole()


class ConnectorHardware(Settings, frozen=True):
    """The hardware roles behind one connector. Roles a standard does not use (e.g. `pilot` on CHAdeMO) are
    ignored."""

    power_module: Annotated[HardwareRole, setting("DC power module (rectifier) feeding this connector")] = (
        msgspec.field(default_factory=_role)
    )
    contactors: Annotated[HardwareRole, setting("DC output contactors with mirror contacts")] = msgspec.field(
        default_factory=_role
    )
    insulation_monitor: Annotated[HardwareRole, setting("Insulation monitoring device (IMD)")] = msgspec.field(
        default_factory=_role
    )
    lock: Annotated[HardwareRole, setting("Connector lock actuator")] = msgspec.field(default_factory=_role)
    lines: Annotated[HardwareRole, setting("CHAdeMO / GB/T auxiliary signal lines (d1, d2, k, CC1, aux supply)")] = (
        msgspec.field(default_factory=_role)
    )
    pilot: Annotated[HardwareRole, setting("CCS control pilot and proximity (IEC 61851-1)")] = msgspec.field(
        default_factory=_role
    )
    meter: Annotated[HardwareRole, setting("DC energy meter")] = msgspec.field(default_factory=_role)
    temperatures: Annotated[HardwareRole, setting("Temperature sensors (cable, connector pins, module)")] = (
        msgspec.field(default_factory=_role)
    )


class VehicleLinkSettings(Settings, frozen=True):
    """The communication link to the vehicle: CAN for CHAdeMO and GB/T, HomePlug Green PHY for CCS."""

    interface: Annotated[
        str,
        setting(
            "`sim` (in-process simulated vehicle), a python-can interface (`socketcan`, `pcan`, …) for CHAdeMO/GB/T, "
            "or `homeplug` for CCS",
            min_length=1,
        ),
    ] = SIM_LINK
    channel: Annotated[
        str, setting("Channel of the interface: CAN device (`can0`) or PLC network interface (`eth1`)")
    ] = ""
    bitrate: Annotated[
        int,
        setting("CAN bit rate; 0 = the standard's rate (CHAdeMO 500 kbit/s, GB/T 250 kbit/s)", "bit/s", ge=0),
    ] = 0


#: configuration role name → role name in `evse.hardware.registry` (the registry's names are shorter); the one
#: table of role names: `evse.station.build.ROLE_FIELDS` (a connector's roles) derives from it
REGISTRY_ROLE: dict[str, str] = {
    "power_module": "power",
    "contactors": "contactors",
    "insulation_monitor": "imd",
    "lock": "lock",
    "lines": "lines",
    "pilot": "pilot",
    "meter": "meter",
    "temperatures": "temperatures",
    "emergency_stop": "estop",
}


class ConnectorSettings(Settings, frozen=True):
    """One charging connector (outlet): its standard, its electrical envelope, its cable and its hardware."""

    id: Annotated[int, setting("Connector id (OCPP connectorId), unique in the station", ge=1)]
    standard: Annotated[Standard, setting("Charging standard: `ccs`, `chademo` or `gbt`")]
    max_voltage_v: Annotated[float, setting("Highest DC output voltage this connector may deliver", "V", gt=0)] = 500.0
    min_voltage_v: Annotated[float, setting("Lowest DC output voltage the power module can regulate", "V", ge=0)] = (
        150.0
    )
    max_current_a: Annotated[float, setting("Highest DC output current", "A", gt=0)] = 125.0
    max_power_w: Annotated[float, setting("Highest DC output power", "W", gt=0)] = 50_000.0
    cable_max_current_a: Annotated[float, setting("Rated current of the charging cable", "A", gt=0)] = 125.0
    cable_derating_start_c: Annotated[
        float, setting("Cable/pin temperature where current derating starts (full current below)", "°C")
    ] = 60.0
    cable_derating_end_c: Annotated[
        float, setting("Cable/pin temperature where the current reaches zero (linear in between)", "°C")
    ] = 90.0
    vehicle_link: Annotated[VehicleLinkSettings, setting("Link to the vehicle")] = msgspec.field(
        default_factory=VehicleLinkSettings
    )
    hardware: Annotated[ConnectorHardware, setting("Hardware roles of this connector")] = msgspec.field(
        default_factory=ConnectorHardware
    )
    vehicle: Annotated[
        str | None, setting("Simulation only: name of the vehicle profile plugged in at start; omitted = none")
    ] = None


class StationSettings(Settings, frozen=True):
    """Identity and station-wide resources."""

    id: Annotated[str, setting("Charge point identity (OCPP chargeBoxIdentity)", min_length=1, max_length=48)] = (
        "EVSE-1"
    )
    vendor: Annotated[str, setting("Charge point vendor (OCPP BootNotification)", max_length=20)] = "evse"
    model: Annotated[str, setting("Charge point model (OCPP BootNotification)", max_length=20)] = "evse-dc"
    serial_number: Annotated[str, setting("Charge point serial number (OCPP BootNotification)", max_length=25)] = ""
    power_budget_w: Annotated[
        float, setting("DC power the grid connection can supply, shared by all connectors", "W", gt=0)
    ] = 150_000.0
    state_dir: Annotated[
        str,
        setting(
            "Directory for persistent state (session store, OCPP queue); relative to the working directory",
            min_length=1,
        ),
    ] = "/var/lib/evse"
    free_vend: Annotated[bool, setting("Charge without identification (every plug-in is authorized)")] = False
    allow_list: Annotated[list[str], setting("Id tags authorized locally, without asking the CSMS")] = []


#: `[rfid] driver` that means "no reader"
NO_RFID: Literal["none"] = "none"


class RfidSettings(Settings, frozen=True):
    """RFID card reader (ISO 14443): a card's UID is the id tag the station authorizes (allow-list, then CSMS).

    The CSMS side is its local list, authorization cache or Authorize.req (see docs/ocpp.md)."""

    driver: Annotated[
        str,
        setting(
            "Reader driver from the hardware registry (role `rfid`): `none` (no reader), `pn532` (NXP PN532 on a "
            "UART) or a third-party driver registered as `rfid:NAME` in the `evse.drivers` entry points",
            min_length=1,
        ),
    ] = NO_RFID
    connectors: Annotated[
        list[int],
        setting(
            "Connector ids the reader serves (empty = every connector). A card goes to the one with a plugged-in "
            "vehicle waiting for authorization, else to the first available one (kept until the plug arrives); "
            "the card that started a running session stops it"
        ),
    ] = []
    fault_check_interval_s: Annotated[
        float, setting("How often the reader's health is checked (a fault is logged and shown on /metrics)", "s", gt=0)
    ] = 1.0
    params: Annotated[
        dict[str, Any],
        setting(
            'The driver\'s parameters, e.g. `{ port = "/dev/ttyS1" }` for `pn532` (port, baudrate, poll_interval_s, '
            "card_repeat_s, …: docs/hardware.md)"
        ),
    ] = {}


class LoggingSettings(Settings, frozen=True):
    """Log output (structlog)."""

    level: Annotated[Literal["debug", "info", "warning", "error"], setting("Lowest level written")] = "info"
    format: Annotated[
        Literal["auto", "json", "console"],
        setting("`json` lines (journald), `console` (coloured), or `auto`: console on a terminal, else json"),
    ] = "auto"


class Config(Settings, frozen=True):
    """The whole configuration file."""

    station: Annotated[StationSettings, setting("Station identity and shared resources")] = msgspec.field(
        default_factory=StationSettings
    )
    logging: Annotated[LoggingSettings, setting("Logging")] = msgspec.field(default_factory=LoggingSettings)
    connectors: Annotated[list[ConnectorSettings], setting("The connectors, one `[[connectors]]` table each")] = []
    emergency_stop: Annotated[HardwareRole, setting("Station-wide emergency stop input")] = msgspec.field(
        default_factory=_role
    )
    daemon: Annotated[DaemonSettings, setting("Daemon lifecycle")] = msgspec.field(default_factory=DaemonSettings)
    session: Annotated[SessionSettings, setting("Charging session stage timeouts")] = msgspec.field(
        default_factory=SessionSettings
    )
    safety: Annotated[SafetySettings, setting("Safety envelope and supervisor")] = msgspec.field(
        default_factory=SafetySettings
    )
    gbt: Annotated[GbtSettings, setting("GB/T 27930")] = msgspec.field(default_factory=GbtSettings)
    chademo: Annotated[ChademoSettings, setting("CHAdeMO")] = msgspec.field(default_factory=ChademoSettings)
    ccs: Annotated[CcsSettings, setting("CCS (DIN SPEC 70121 / ISO 15118-2)")] = msgspec.field(
        default_factory=CcsSettings
    )
    ocpp: Annotated[OcppSettings, setting("OCPP client")] = msgspec.field(default_factory=OcppSettings)
    store: Annotated[StoreSettings, setting("Session store")] = msgspec.field(default_factory=StoreSettings)
    api: Annotated[ApiSettings, setting("Local HTTP API")] = msgspec.field(default_factory=ApiSettings)
    sim: Annotated[SimSettings, setting("Simulation")] = msgspec.field(default_factory=SimSettings)
    diagnostics: Annotated[DiagnosticsSettings, setting("`evse diagnose` finding rules (also GET /api/diagnose)")] = (
        msgspec.field(default_factory=DiagnosticsSettings)
    )
    rfid: Annotated[RfidSettings, setting("RFID card reader")] = msgspec.field(default_factory=RfidSettings)

    def __post_init__(self) -> None:
        known = {c.id for c in self.connectors}
        unknown = [c for c in self.rfid.connectors if c not in known]
        if unknown:
            raise ValueError(
                f"rfid.connectors names connector {unknown[0]}, which is not configured (connectors: "
                f"{', '.join(str(c) for c in sorted(known)) or 'none'}); fix the list"
            )

    def connector(self, connector_id: int) -> ConnectorSettings:
        for connector in self.connectors:
            if connector.id == connector_id:
                return connector
        raise KeyError(connector_id)

    def redacted(self) -> dict[str, Any]:
        """The configuration as plain data with every secret replaced (safe to log or display)."""
        from evse.config.secrets import redact

        return redact(self)


def load_config(path: str) -> Config:
    """Read and validate a TOML configuration file; raises `ConfigError` listing every problem."""
    from evse.config.loader import load_config as _load

    return _load(path)
