"""Fixtures for the simulation tests: a fresh world with a seed, a plugged vehicle."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from evse.sim.profile import load_profile, make_battery
from evse.sim.vehicle_plant import PluggedVehicle
from evse.sim.world import SimWorld


@pytest.fixture
def world() -> Iterator[SimWorld]:
    w = SimWorld(seed=1)
    yield w
    w.close()


def plug(world: SimWorld, profile: str = "ccs-400v-77kwh", connector_id: int = 1, **battery: object) -> PluggedVehicle:
    p = load_profile(profile)
    return world.plug(connector_id, make_battery(p, **battery), p.standard, p)
