"""Each simulated driver's timing and faults, on the virtual clock."""

from __future__ import annotations

import asyncio

import pytest

from evse.clock import VIRTUAL_NOOP_CYCLES
from evse.hardware.roles import CpState
from evse.sim.battery import TractionBattery
from evse.sim.world import SimWorld
from tests.sim.conftest import plug

pytestmark = pytest.mark.looptime(noop_cycles=VIRTUAL_NOOP_CYCLES)


async def test_contactors_move_after_their_delays_and_report_by_listener(world: SimWorld) -> None:
    k = world.plant(1).contactors
    seen: list[bool] = []
    k.add_listener(lambda: seen.append(k.feedback_closed()))
    k.close()
    assert k.commanded_closed() and not k.feedback_closed()
    await asyncio.sleep(0.029)
    assert not k.feedback_closed()
    await asyncio.sleep(0.002)
    assert k.feedback_closed() and seen == [True]
    k.open()
    await asyncio.sleep(0.021)
    assert not k.feedback_closed() and seen == [True, False]


async def test_welded_contactor_stays_closed_until_repaired(world: SimWorld) -> None:
    k = world.plant(1).contactors
    k.close()
    await asyncio.sleep(0.1)
    k.set_welded()
    k.open()
    await asyncio.sleep(1.0)
    assert not k.commanded_closed() and k.feedback_closed()
    k.set_welded(False)
    await asyncio.sleep(0.1)
    assert not k.feedback_closed()


async def test_lock_feedback_follows_after_delay_unless_stuck(world: SimWorld) -> None:
    lock = world.plant(1).lock
    lock.lock()
    await asyncio.sleep(0.29)
    assert not lock.locked()
    await asyncio.sleep(0.02)
    assert lock.locked()
    lock.set_stuck()
    lock.unlock()
    await asyncio.sleep(5)
    assert lock.locked()


async def test_power_module_slews_open_output_and_discharges(world: SimWorld) -> None:
    power = world.plant(1).power
    readings: list[float] = []
    power.add_listener(lambda: readings.append(power.measured_voltage_v()))
    power.set_target(500.0, 2.0)
    power.enable()
    await asyncio.sleep(0.15)
    assert 100 < power.measured_voltage_v() < 450  # 2000 V/s slew: not there yet
    await asyncio.sleep(0.3)
    assert power.measured_voltage_v() == pytest.approx(500.0, abs=2)
    assert len(readings) >= 4  # pushed every 100 ms tick
    power.discharge()
    await asyncio.sleep(0.6)
    assert power.measured_voltage_v() < 60.0
    assert not power.enabled()


async def test_set_target_is_clamped_to_capabilities(world: SimWorld) -> None:
    power = world.plant(1).power
    power.set_target(5000.0, 9000.0)
    caps = power.capabilities()
    assert power.voltage_set_v == caps.max_voltage_v and power.current_limit_a == caps.max_current_a


async def test_current_is_set_by_the_battery_and_limit(world: SimWorld) -> None:
    plant = world.plant(1)
    vehicle = plug(world, soc_pct=50)
    ocv = vehicle.battery.open_circuit_voltage_v()
    plant.contactors.close()
    vehicle.close_vehicle_contactors()
    await asyncio.sleep(0.2)
    # the battery back-feeds the output behind closed contactors
    assert plant.power.measured_voltage_v() == pytest.approx(ocv, abs=2)
    plant.power.set_target(ocv + 100.0, 120.0)
    plant.power.enable()
    await asyncio.sleep(0.1)
    assert 0 < plant.current_a < 120  # slewing at 500 A/s
    await asyncio.sleep(1.0)
    assert plant.power.measured_current_a() == pytest.approx(120.0, abs=1)
    assert vehicle.charge_current_a() == pytest.approx(120.0, abs=0.01)
    # V_set only slightly above OCV: the current is what the resistance lets through
    plant.power.set_target(ocv + 2.0, 300.0)
    await asyncio.sleep(2.0)
    r = vehicle.battery.terminal_voltage_v(1.0) - vehicle.battery.open_circuit_voltage_v() + 0.01
    expected = (ocv + 2.0 - vehicle.battery.open_circuit_voltage_v()) / r
    assert plant.current_a == pytest.approx(expected, rel=0.05)
    soc_before = vehicle.battery.soc_pct
    await asyncio.sleep(10)
    assert vehicle.battery.soc_pct > soc_before


async def test_disable_cuts_current_at_once_and_fault_keeps_it_off(world: SimWorld) -> None:
    plant = world.plant(1)
    vehicle = plug(world, soc_pct=50)
    plant.contactors.close()
    vehicle.close_vehicle_contactors()
    plant.power.set_target(500.0, 100.0)
    plant.power.enable()
    await asyncio.sleep(1.0)
    assert plant.current_a > 90
    plant.power.disable()
    assert plant.current_a == 0.0 and plant.power.measured_current_a() == 0.0
    plant.power.enable()
    await asyncio.sleep(1.0)
    plant.power.inject_fault("module_overtemperature")
    assert plant.power.fault() == "module_overtemperature" and not plant.power.enabled()
    plant.power.enable()
    await asyncio.sleep(1.0)
    assert plant.current_a == 0.0 and not plant.power.enabled()
    plant.power.clear_fault()
    plant.power.enable()
    await asyncio.sleep(1.0)
    assert plant.current_a > 90


async def test_vehicle_side_voltage_shows_pack_behind_open_charger_contactors(world: SimWorld) -> None:
    plant = world.plant(1)
    vehicle = plug(world, "gbt-2015-60kwh")
    await asyncio.sleep(0.5)
    assert plant.contactors.vehicle_side_voltage_v() < 10.0
    vehicle.close_vehicle_contactors()
    await asyncio.sleep(0.1)
    pack = vehicle.battery.open_circuit_voltage_v()
    assert plant.contactors.vehicle_side_voltage_v() == pytest.approx(pack, abs=2)
    assert plant.power.measured_voltage_v() < 10.0  # charger side still dead
    vehicle.open_vehicle_contactors()
    await asyncio.sleep(3.0)
    assert plant.contactors.vehicle_side_voltage_v() < 10.0


async def test_contactor_counters_record_mismatch_and_load(world: SimWorld) -> None:
    plant = world.plant(1)
    vehicle = plug(world, soc_pct=50)
    vehicle.close_vehicle_contactors()
    await asyncio.sleep(0.1)
    plant.contactors.close()  # no pre-charge: output 0 V against the pack
    await asyncio.sleep(0.1)
    assert plant.contactors.worst_closing_mismatch_v > 300
    plant.power.set_target(500.0, 100.0)
    plant.power.enable()
    await asyncio.sleep(1.0)
    plant.contactors.open()
    await asyncio.sleep(0.1)
    assert plant.contactors.openings_under_load == 1


async def test_imd_samples_at_1hz_and_settles_on_a_degraded_cable(world: SimWorld) -> None:
    plant = world.plant(1)
    imd = plant.imd
    times: list[float] = []
    imd.add_listener(lambda: times.append(asyncio.get_running_loop().time()))
    imd.degrade(40_000.0, pole="neg", location="cable")
    imd.start()
    await asyncio.sleep(3.5)
    # contactors open: the cable fault is not in the circuit
    assert times == pytest.approx([1.0, 2.0, 3.0], abs=1e-6)
    latest = imd.latest()
    assert latest is not None and latest.resistance_ohm > 5e6
    plant.contactors.close()
    await asyncio.sleep(1.0)
    first = imd.latest()
    assert first is not None and first.resistance_ohm > 100_000  # not settled yet
    await asyncio.sleep(6.0)
    settled = imd.latest()
    assert settled is not None and settled.resistance_ohm == pytest.approx(40_000, rel=0.1)
    assert settled.resistance_neg_ohm == settled.resistance_ohm
    imd.stop()
    count = len(times)
    await asyncio.sleep(5)
    assert len(times) == count


async def test_imd_silence_and_device_fault(world: SimWorld) -> None:
    imd = world.plant(1).imd
    seen: list[bool] = []
    imd.add_listener(lambda: seen.append(imd.latest().device_fault))  # type: ignore[union-attr]
    imd.start()
    await asyncio.sleep(2.5)
    imd.silent = True
    await asyncio.sleep(5)
    assert seen == [False, False]
    imd.silent = False
    imd.device_fault = True
    await asyncio.sleep(1)
    assert seen[-1] is True


async def test_imd_self_test_takes_its_duration(world: SimWorld) -> None:
    imd = world.plant(1).imd
    imd.start_self_test()
    await asyncio.sleep(19.9)
    assert imd.self_test_result() is None
    await asyncio.sleep(0.2)
    assert imd.self_test_result() is True
    imd.self_test_fails = True
    imd.start_self_test()
    await asyncio.sleep(21)
    assert imd.self_test_result() is False


async def test_cp_levels_noise_worn_pin_and_state_f(world: SimWorld) -> None:
    plant = world.plant(1)
    pilot = plant.pilot
    changes: list[CpState] = []
    pilot.add_listener(lambda: changes.append(pilot.state()))
    assert pilot.state() is CpState.A and pilot.proximity_ohm() is None
    vehicle = plug(world)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert pilot.state() is CpState.B and pilot.proximity_ohm() == 1500.0 and changes
    pilot.set_pwm(5.0)
    assert vehicle.pwm_duty_pct() == 5.0
    vehicle.set_vehicle_line("cp_state", "C")
    await asyncio.sleep(0.01)
    assert changes[-1] is CpState.C
    levels = [pilot.high_voltage_v() for _ in range(200)]
    assert 5.8 < sum(levels) / len(levels) < 6.2 and max(levels) - min(levels) > 0.05
    plant.pilot.worn_offset_v = 0.8
    assert 6.5 < sum(pilot.high_voltage_v() for _ in range(50)) / 50 < 7.1
    plant.pilot.worn_offset_v = 1.6  # beyond the ±1 V window: no valid state
    assert pilot.state() is CpState.E
    pilot.set_state_f()
    assert pilot.state() is CpState.F and pilot.high_voltage_v() == -12.0
    world.unplug(1)
    pilot.set_pwm(None)
    assert pilot.state() is CpState.A


async def test_chademo_and_gbt_lines(world: SimWorld) -> None:
    plant = world.plant(1)
    lines = plant.lines
    events: list[str] = []
    lines.add_listener(lambda: events.append("change"))
    assert lines.input_voltage_v("cc1") == pytest.approx(6.0, abs=0.3)
    vehicle = plug(world, "gbt-2015-60kwh")
    await asyncio.sleep(0.01)
    assert lines.input_voltage_v("cc1") == pytest.approx(4.0, abs=0.3) and events
    lines.worn_offset_v = 1.2
    assert lines.input_voltage_v("cc1") == pytest.approx(5.2, abs=0.3)
    woken: list[bool] = []
    vehicle.on_charger_output(lambda: woken.append(vehicle.charger_line("aux_12v")))
    lines.set_output("aux_12v", True)
    await asyncio.sleep(0)
    assert vehicle.charger_line("aux_12v") and woken == [True]
    world.unplug(1)
    plant2 = world.plant(2)
    chademo = plug(world, "chademo-1.0-40kwh", connector_id=2)
    assert plant2.lines.input_active("connected") and not plant2.lines.input_active("k")
    chademo.set_vehicle_line("k", True)
    assert plant2.lines.input_active("k")
    with pytest.raises(ValueError, match="unknown output line"):
        plant2.lines.set_output("d3", True)


async def test_meter_integrates_power_and_pins_warm_with_current(world: SimWorld) -> None:
    plant = world.plant(1)
    vehicle = plug(world, soc_pct=40)
    temps: list[dict[str, float]] = []
    plant.temperatures.add_listener(lambda: temps.append(plant.temperatures.readings_c()))
    plant.contactors.close()
    vehicle.close_vehicle_contactors()
    plant.power.set_target(450.0, 200.0)
    plant.power.enable()
    await asyncio.sleep(1800)
    energy_kwh = plant.meter.energy_wh() / 1000
    # ~200 A at ~380 V for half an hour, minus the ramp
    assert 35 < energy_kwh < 41
    battery = vehicle.battery
    assert isinstance(battery, TractionBattery)
    assert energy_kwh == pytest.approx(battery.energy_in_wh / 1000, rel=0.02)
    last = temps[-1]
    assert last["dc_plus"] > 35 and last["cable"] < last["dc_plus"]
    assert len(temps) == pytest.approx(1800, abs=5)


async def test_estop_pushes_changes(world: SimWorld) -> None:
    estop = world.plant(1).estop
    seen: list[bool] = []
    estop.add_listener(lambda: seen.append(estop.pressed()))
    estop.press()
    await asyncio.sleep(0)
    estop.press(False)
    await asyncio.sleep(0)
    assert seen == [True, False]


async def test_same_seed_same_noise() -> None:
    async def readings(seed: int) -> list[float]:
        w = SimWorld(seed=seed)
        power = w.plant(1).power
        power.set_target(400.0, 2.0)
        power.enable()
        out = []
        for _ in range(20):
            await asyncio.sleep(0.1)
            out.append(power.measured_voltage_v())
        w.close()
        return out

    first, again, other = await readings(5), await readings(5), await readings(6)
    # (the second run starts later on the loop clock: float time differs in the last bits)
    assert again == pytest.approx(first, abs=1e-9)
    assert other != pytest.approx(first, abs=1e-3)


async def test_plugged_vehicle_and_batteries_satisfy_the_contracts(world: SimWorld) -> None:
    from evse.sim.hil import FixedVoltageBattery
    from evse.sim.interfaces import Battery, VehiclePlant

    plugged = plug(world)
    plant: VehiclePlant = plugged  # checked by mypy: PluggedVehicle implements the contract
    batteries: list[Battery] = [plugged.battery, FixedVoltageBattery(400.0)]
    assert plant.inlet_voltage_v() == 0.0 and all(b.max_charge_current_a() > 0 for b in batteries)
