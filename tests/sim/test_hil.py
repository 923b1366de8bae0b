"""Hardware in the loop: an external vehicle on a real CAN link, the power path simulated."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from evse.clock import VIRTUAL_NOOP_CYCLES
from evse.config.schema import Config, ConnectorSettings, VehicleLinkSettings
from evse.hardware.registry import DriverContext, create
from evse.sim.hil import FixedVoltageBattery, report_battery_voltage
from evse.sim.settings import SimSettings
from evse.sim.world import SHARED_KEY

pytestmark = pytest.mark.looptime(noop_cycles=VIRTUAL_NOOP_CYCLES)


def config(standard: str, interface: str = "virtual") -> Config:
    link = VehicleLinkSettings(interface=interface, channel="hil0")
    connector = ConnectorSettings(id=1, standard=standard, vehicle_link=link)  # type: ignore[arg-type]
    return Config(connectors=[connector], sim=SimSettings(hil_battery_voltage_v=355.0))


def drivers(cfg: Config) -> tuple[dict[str, Any], Any]:
    shared: dict[str, Any] = {}
    context = DriverContext(connector_id=1, shared=shared, settings=cfg)
    roles = {role: create(role, "sim", {}, context=context) for role in ("power", "contactors", "lines", "imd")}
    return roles, shared[SHARED_KEY]


async def test_gbt_external_bms_gets_a_battery_behind_its_contactors() -> None:
    roles, world = drivers(config("gbt"))
    plant = world.plant(1)
    assert isinstance(plant.vehicle.battery, FixedVoltageBattery)
    assert roles["lines"].input_voltage_v("cc1") == pytest.approx(4.0, abs=0.3)
    roles["lines"].set_output("aux_12v", True)
    # the charger's insulation test: K1/K2 closed, then opened again
    roles["contactors"].close()
    await asyncio.sleep(1)
    assert roles["contactors"].vehicle_side_voltage_v() < 10
    roles["contactors"].open()
    await asyncio.sleep(0.5)
    assert roles["contactors"].vehicle_side_voltage_v() == pytest.approx(355.0, abs=2)
    report_battery_voltage(world, 1, 372.0)
    await asyncio.sleep(0.2)
    assert roles["contactors"].vehicle_side_voltage_v() == pytest.approx(372.0, abs=2)
    roles["lines"].set_output("aux_12v", False)
    await asyncio.sleep(2)
    assert roles["contactors"].vehicle_side_voltage_v() < 10


async def test_chademo_external_vehicle_permits_on_d1_and_closes_on_d2() -> None:
    roles, _world = drivers(config("chademo"))
    lines = roles["lines"]
    assert lines.input_active("connected") and not lines.input_active("k")
    lines.set_output("d1", True)
    await asyncio.sleep(0.3)
    assert lines.input_active("k")
    roles["contactors"].close()
    lines.set_output("d2", True)
    await asyncio.sleep(0.5)
    assert roles["power"].measured_voltage_v() == pytest.approx(355.0, abs=2)
    roles["power"].set_target(400.0, 50.0)
    roles["power"].enable()
    await asyncio.sleep(1)
    assert roles["power"].measured_current_a() == pytest.approx(50.0, abs=1)


async def test_simulated_link_attaches_no_stand_in() -> None:
    _, world = drivers(msgspec.structs.replace(config("gbt"), connectors=[ConnectorSettings(id=1, standard="gbt")]))
    assert world.plant(1).vehicle is None and not world.hil_vehicles
