"""The hardware roles behind one connector, as the session, the supervisor and the station hold them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evse.can.channel import CanChannel
    from evse.hardware.roles import (
        ConnectorLock,
        Contactors,
        ControlPilot,
        EmergencyStop,
        EnergyMeter,
        InsulationMonitor,
        PowerModule,
        Temperatures,
        VehicleLines,
    )


@dataclass(slots=True)
class ConnectorRoles:
    """Power path roles are mandatory; signal roles depend on the standard (pilot: CCS; lines: CHAdeMO, GB/T)."""

    power: PowerModule
    contactors: Contactors
    imd: InsulationMonitor
    lock: ConnectorLock | None = None
    lines: VehicleLines | None = None
    pilot: ControlPilot | None = None
    meter: EnergyMeter | None = None
    temperatures: Temperatures | None = None
    estop: EmergencyStop | None = None
    #: the vehicle link of CHAdeMO / GB/T (the adapter's, never the session's)
    can: CanChannel | None = None
