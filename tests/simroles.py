"""The hardware roles of one simulated connector, as the session sees them (tests that build a session on the sim
plant directly, without the station's builder)."""

from __future__ import annotations

from evse.session.hardware import ConnectorRoles
from evse.sim.plant import ConnectorPlant


def plant_roles(plant: ConnectorPlant, *, lines: bool = True, pilot: bool = False) -> ConnectorRoles:
    """The plant's drivers as `ConnectorRoles`: the power path always; signal roles by standard (lines for
    CHAdeMO and GB/T, the pilot for CCS)."""
    return ConnectorRoles(
        power=plant.power,
        contactors=plant.contactors,
        imd=plant.imd,
        lock=plant.lock,
        lines=plant.lines if lines else None,
        pilot=plant.pilot if pilot else None,
        meter=plant.meter,
        temperatures=plant.temperatures,
        estop=plant.estop,
    )
