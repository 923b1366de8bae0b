"""One fault-injection API: by connector and name, with parameters, with clear errors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from evse.clock import VIRTUAL_NOOP_CYCLES
from evse.hardware.roles import CpState
from evse.sim import faults
from evse.sim.faults import FaultError
from evse.sim.world import SimWorld
from tests.sim.conftest import plug

pytestmark = pytest.mark.looptime(noop_cycles=VIRTUAL_NOOP_CYCLES)


def test_catalogue_describes_every_fault() -> None:
    names = {spec.name for spec in faults.catalogue()}
    assert {
        "insulation_degradation",
        "bms_silence",
        "worn_pilot_contact",
        "contactor_welding",
        "power_module_fault",
        "emergency_stop",
        "vehicle_fault",
        "lock_stuck",
    } <= names
    assert all(spec.description for spec in faults.catalogue())


async def test_insulation_degradation_shows_in_imd_samples_and_clears(world: SimWorld) -> None:
    plant = world.plant(1)
    faults.inject(world, 1, "insulation_degradation", {"resistance_ohm": 30_000, "location": "charger"})
    plant.imd.start()
    await asyncio.sleep(8)
    sample = plant.imd.latest()
    assert sample is not None and sample.resistance_ohm == pytest.approx(30_000, rel=0.1)
    assert [f.name for f in faults.active(world, 1)] == ["insulation_degradation"]
    assert faults.clear(world, 1, "insulation_degradation")
    await asyncio.sleep(8)
    assert plant.imd.latest().resistance_ohm > 1e6  # type: ignore[union-attr]
    assert faults.active(world) == []


async def test_bms_silence_mutes_the_vehicle_endpoint(world: SimWorld) -> None:
    plug(world, "gbt-2015-60kwh")
    charger = world.charger_channel(1)
    vehicle = world.vehicle_channel(1)
    from evse.can.channel import CanFrame

    faults.inject(world, 1, "bms_silence")
    vehicle.send(CanFrame(0x1, b"\x01"))
    await asyncio.sleep(0.01)
    assert charger._queue.empty()
    faults.clear(world, 1, "bms_silence")
    vehicle.send(CanFrame(0x1, b"\x01"))
    assert (await asyncio.wait_for(charger.recv(), 1)).arbitration_id == 0x1


async def test_worn_contact_shifts_cp_out_of_its_window(world: SimWorld) -> None:
    vehicle = plug(world)
    vehicle.set_vehicle_line("cp_state", "C")
    faults.inject(world, 1, "worn_pilot_contact", {"offset_v": 1.5})
    assert world.plant(1).pilot.state() is CpState.E
    faults.clear(world, 1, "worn_pilot_contact")
    assert world.plant(1).pilot.state() is CpState.C


async def test_hardware_faults(world: SimWorld) -> None:
    plant = world.plant(1)
    faults.inject(world, 1, "power_module_fault", {"code": "module_overtemperature"})
    assert plant.power.fault() == "module_overtemperature"
    faults.inject(world, 1, "emergency_stop")
    await asyncio.sleep(0)
    assert plant.estop.pressed()
    faults.inject(world, 1, "lock_stuck")
    plant.lock.lock()
    await asyncio.sleep(1)
    assert not plant.lock.locked()
    plant.contactors.close()
    await asyncio.sleep(0.1)
    faults.inject(world, 1, "contactor_welding")
    plant.contactors.open()
    await asyncio.sleep(1)
    assert plant.contactors.feedback_closed()
    for name in ("power_module_fault", "emergency_stop", "lock_stuck", "contactor_welding"):
        assert faults.clear(world, 1, name)
    await asyncio.sleep(1)
    assert plant.power.fault() is None and not plant.estop.pressed()
    assert plant.lock.locked() and not plant.contactors.feedback_closed()


async def test_vehicle_faults_go_to_the_vehicles_handler(world: SimWorld) -> None:
    world.plant(1)
    with pytest.raises(FaultError, match="no vehicle is plugged in"):
        faults.inject(world, 1, "vehicle_fault")
    vehicle = plug(world, "chademo-1.0-40kwh")
    with pytest.raises(FaultError, match="does not support it"):
        faults.inject(world, 1, "vehicle_fault")
    got: list[tuple[str, dict[str, Any]]] = []

    def handler(name: str, params: dict[str, Any]) -> bool:
        got.append((name, params))
        return True

    vehicle.set_fault_handler(handler)
    faults.inject(world, 1, "vehicle_fault", {"kind": "battery_overvoltage"})
    assert got == [("vehicle_fault", {"kind": "battery_overvoltage"})]
    world.unplug(1)
    assert faults.active(world, 1) == []  # vehicle faults leave with the vehicle


async def test_bad_requests_are_one_clear_sentence(world: SimWorld) -> None:
    world.plant(1)
    with pytest.raises(FaultError, match=r"known faults: .*bms_silence"):
        faults.inject(world, 1, "gremlins")
    with pytest.raises(FaultError, match="no simulated connector 9"):
        faults.inject(world, 9, "lock_stuck")
    with pytest.raises(FaultError, match=r"unknown parameter.*ohms; allowed: resistance_ohm"):
        faults.inject(world, 1, "insulation_degradation", {"ohms": 5})
    with pytest.raises(FaultError, match="must be a float"):
        faults.inject(world, 1, "insulation_degradation", {"resistance_ohm": "low"})
    with pytest.raises(FaultError, match="location 'moon'"):
        faults.inject(world, 1, "insulation_degradation", {"location": "moon"})
    assert not faults.clear(world, 1, "lock_stuck")


async def test_pack_temperature_derates_the_bms(world: SimWorld) -> None:
    vehicle = plug(world, soc_pct=30)
    nominal = vehicle.battery.max_charge_current_a()
    faults.inject(world, 1, "pack_temperature", {"temperature_c": 53})
    assert vehicle.battery.max_charge_current_a() < 0.5 * nominal


@pytest.mark.parametrize("profile", ["chademo-1.0-40kwh", "gbt-2015-60kwh"])
async def test_generic_vehicle_faults_reach_the_protocol_vehicles(world: SimWorld, profile: str) -> None:
    from evse.sim.dock import VehicleDock
    from evse.sim.profile import load_profile

    dock = VehicleDock(world)
    dock.plug(1, load_profile(profile))
    faults.inject(world, 1, "vehicle_fault", {"kind": "battery_over_voltage"})
    faults.inject(world, 1, "vehicle_stop")
    assert {f.name for f in faults.active(world, 1)} == {"vehicle_fault", "vehicle_stop"}
    dock.close()
    assert faults.active(world, 1) == []
