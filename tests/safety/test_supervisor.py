"""Every supervisor rule trips directly on the roles, inside the listener call, with its reason code."""

from __future__ import annotations

import asyncio

import pytest

from evse.hardware.roles import CpState
from evse.safety.envelope import CableLimits, Envelope
from evse.safety.settings import SafetySettings
from evse.safety.supervisor import Supervisor
from evse.session.context import VehicleLimits
from evse.session.events import Event, FaultRaised
from evse.session.plug_line import PlugLine
from evse.session.stages import Reason
from tests.session.doubles import CHARGER, Rig

pytestmark = pytest.mark.looptime


class Setup:
    def __init__(self, settings: SafetySettings | None = None) -> None:
        self.rig = Rig(battery_v=350)
        self.events: list[Event] = []
        self.envelope = Envelope(CHARGER, CableLimits(250, 60, 90))
        self.envelope.set_vehicle(VehicleLimits(max_voltage_v=450, max_current_a=150))
        self.supervisor = Supervisor(1, self.rig.roles, self.envelope, settings or SafetySettings(), self.events.append)
        self.supervisor.attach()
        self.trips: list[tuple[Reason, str]] = []
        self.supervisor.bind("s1", lambda reason, code, detail: self.trips.append((reason, code)))
        self.supervisor.set_voltage_reference(450)
        self.talking = True
        self._chatter = asyncio.get_running_loop().create_task(self._vehicle_talks())

    async def _vehicle_talks(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            if self.talking:
                self.supervisor.vehicle_message()

    def charge(self, current_a: float = 100.0) -> None:
        """Contactors closed, vehicle closed, power on, delivering `current_a`."""
        rig = self.rig
        rig.contactors.close()
        rig.vehicle_closed = True
        rig.power.set_target(440, current_a)
        rig.power.enable()
        self.supervisor.energy_started()
        self.supervisor.vehicle_message()

    def assert_tripped(self, reason: Reason, code: str) -> None:
        assert self.trips == [(reason, code)]
        assert not self.rig.power.on and not self.rig.contactors.cmd and self.rig.power.discharging
        faults = [e for e in self.events if isinstance(e, FaultRaised)]
        assert len(faults) == 1 and faults[0].code == code and faults[0].tripped


async def test_emergency_over_voltage_trips_inside_the_measurement_call() -> None:
    s = Setup()
    s.charge()
    s.rig.voltage_offset_v = 200.0  # ~555 V > 550 V (Table 103 for ≤ 500 V negotiated)
    s.rig.update()  # one measurement delivery; no await in between
    s.assert_tripped(Reason.SAFETY_TRIP, "emergency_over_voltage")
    assert s.supervisor.openings_under_load == 1


async def test_software_over_voltage_after_400_ms() -> None:
    s = Setup()
    s.charge()
    s.rig.voltage_offset_v = 120.0  # 355 V + 120 V: above 450 + 5 V but below 550 V
    s.rig.update()
    await asyncio.sleep(0.35)
    assert not s.trips
    await asyncio.sleep(0.2)
    s.assert_tripped(Reason.SAFETY_TRIP, "over_voltage")


async def test_a_short_over_voltage_does_not_trip() -> None:
    s = Setup()
    s.charge()
    s.rig.voltage_offset_v = 120.0
    s.rig.update()
    await asyncio.sleep(0.3)
    s.rig.voltage_offset_v = 0.0
    s.rig.update()
    await asyncio.sleep(2)
    assert not s.trips


async def test_hard_over_current_at_once_and_soft_after_7_s() -> None:
    s = Setup()
    s.charge(100)
    s.rig.current_offset_a = 300.0  # > 1.25 × 200 A
    s.rig.update()
    s.assert_tripped(Reason.SAFETY_TRIP, "hard_over_current")

    s = Setup()
    s.charge(150)
    s.envelope.set_csms(100.0, None)  # the allowed current drops; the module keeps 150 A (> 110 % + 2 A)
    await asyncio.sleep(6.5)
    assert not s.trips
    await asyncio.sleep(1.0)
    s.assert_tripped(Reason.SAFETY_TRIP, "over_current")


async def test_voltage_plausibility_after_30_s() -> None:
    s = Setup()
    s.charge()
    s.rig.contactors.vehicle_side_voltage_v = lambda: 100.0  # type: ignore[method-assign]
    s.rig.update()
    await asyncio.sleep(29)
    assert not s.trips
    await asyncio.sleep(2)
    s.assert_tripped(Reason.HARDWARE_FAULT, "voltage_implausible")


async def test_insulation_fault_while_charging_respects_the_ramp_grace() -> None:
    s = Setup()
    s.charge()
    s.rig.imd.start()
    s.rig.insulation_ohm = 50_000.0
    s.rig.imd.emit(asyncio.get_running_loop().time())  # inside the 5 s grace window
    assert not s.trips
    await asyncio.sleep(6)
    s.rig.imd.emit(asyncio.get_running_loop().time())
    s.assert_tripped(Reason.INSULATION_FAULT, "insulation")


async def test_earth_voltage_needs_two_readings_2_s_apart() -> None:
    s = Setup()
    s.charge()
    s.rig.imd.start()
    loop = asyncio.get_running_loop()
    await asyncio.sleep(6)
    s.rig.imd.earth_v = 600.0  # > 550 V for a charger rated ≤ 500 V
    s.rig.imd.emit(loop.time())
    await asyncio.sleep(1)
    s.rig.imd.emit(loop.time())
    assert not s.trips
    await asyncio.sleep(1.5)
    s.rig.imd.emit(loop.time())
    s.assert_tripped(Reason.INSULATION_FAULT, "voltage_to_earth")


async def test_cp_leaving_c_during_energy_transfer_cuts_power_at_once() -> None:
    s = Setup()
    s.rig.pilot.set(CpState.C)
    s.charge()
    s.rig.pilot.set(CpState.B)
    s.assert_tripped(Reason.SAFETY_TRIP, "cp_left_c")


async def test_cp_b_outside_energy_transfer_is_fine() -> None:
    s = Setup()
    s.rig.pilot.set(CpState.B)
    s.rig.pilot.set(CpState.A)
    assert not s.trips


@pytest.mark.parametrize(
    ("plug_line", "unplug"),
    [
        (PlugLine("cc1", 4.0, 0.8), "cc1"),  # GB/T: CC1 leaves 4 V (gun released: 6 V, pulled: 12 V)
        (PlugLine("connected"), "connected"),  # CHAdeMO: the connection check goes inactive
    ],
)
async def test_plug_line_lost_during_energy_transfer_trips_inside_the_listener_call(
    plug_line: PlugLine, unplug: str
) -> None:
    s = Setup()
    s.rig.lines.plug(True)
    s.supervisor.bind("s1", lambda reason, code, detail: s.trips.append((reason, code)), plug_line)
    s.charge()
    s.rig.lines.notify()  # a change on another line (k): the plug is still in
    assert not s.trips
    if unplug == "cc1":
        s.rig.lines.cc1_v = 6.0
    else:
        s.rig.lines.inputs["connected"] = False
    s.rig.lines.notify()  # one listener call; no await in between
    s.assert_tripped(Reason.SAFETY_TRIP, "plug_line_lost")
    detail = next(e for e in s.events if isinstance(e, FaultRaised)).detail
    assert detail.startswith("plug left the inlet during energy transfer: ")
    assert ("cc1 at 6.0 V (inserted: 4 ± 0.8 V)" if unplug == "cc1" else "connected line inactive") in detail


async def test_plug_line_outside_energy_transfer_or_not_offered_does_not_trip() -> None:
    s = Setup()
    s.supervisor.bind("s1", lambda reason, code, detail: s.trips.append((reason, code)), PlugLine("cc1", 4.0, 0.8))
    s.rig.lines.plug(False)  # before energy transfer: the protocol's own business (unplugged)
    assert not s.trips
    s.rig.lines.plug(True)
    s.supervisor.bind("s1", lambda reason, code, detail: s.trips.append((reason, code)), PlugLine("no_such_line"))
    s.charge()
    s.rig.lines.notify()  # the role does not offer the line: never taken for a lost plug
    assert not s.trips
    s.supervisor.unbind()
    s.charge()
    s.rig.lines.plug(False)  # no session, no plug line to watch
    assert not s.trips


async def test_emergency_stop_and_persistent_fault() -> None:
    s = Setup()
    s.charge()
    s.rig.estop.press()
    s.assert_tripped(Reason.EMERGENCY_STOP, "emergency_stop")
    s.supervisor.reset()
    assert s.supervisor.tripped  # still pressed: the trip stays
    s.rig.estop.press(False)
    s.supervisor.reset()
    assert not s.supervisor.tripped and s.supervisor.persistent_fault() is None


async def test_power_module_fault() -> None:
    s = Setup()
    s.charge()
    s.rig.power.fault_code = "module_overtemperature"
    s.rig.update()
    s.assert_tripped(Reason.HARDWARE_FAULT, "power_module_fault")


async def test_over_temperature_trips_and_derating_feeds_the_envelope() -> None:
    s = Setup()
    s.charge()
    s.rig.temperatures.set("dc_plus", 75.0)
    assert s.envelope.current_limit_a(300)[1] == "cable_temperature"
    assert not s.trips
    s.rig.temperatures.set("dc_plus", 96.0)
    s.assert_tripped(Reason.SAFETY_TRIP, "over_temperature")


async def test_welded_contactor_detected_after_the_feedback_timeout() -> None:
    s = Setup()
    s.rig.contactors.welded = True
    s.rig.contactors.close()
    s.rig.contactors.open()
    await asyncio.sleep(1.0)
    assert s.trips == [(Reason.HARDWARE_FAULT, "contactor_welded")]
    assert s.supervisor.persistent_fault() == "contactor_welded"


async def test_contactor_dropping_out_during_charging() -> None:
    s = Setup()
    s.charge()
    s.rig.contactors.stuck_open = True
    s.rig.update()
    await asyncio.sleep(1.0)
    assert s.trips[0] == (Reason.HARDWARE_FAULT, "contactor_dropped")


async def test_silent_vehicle_trips_during_energy_transfer_but_not_when_paused() -> None:
    s = Setup()
    s.charge()
    s.talking = False
    s.supervisor.paused = True
    await asyncio.sleep(5)
    assert not s.trips
    s.supervisor.paused = False
    s.supervisor.vehicle_message()
    await asyncio.sleep(1.5)
    assert not s.trips
    await asyncio.sleep(1.0)
    s.assert_tripped(Reason.COMMUNICATION_LOST, "vehicle_silent")


async def test_hard_stop_20_s_after_a_stop_request() -> None:
    s = Setup()
    s.charge()
    s.supervisor.stop_requested()
    await asyncio.sleep(19)  # the vehicle keeps talking but keeps drawing current
    assert not s.trips
    await asyncio.sleep(1.5)
    s.assert_tripped(Reason.SAFETY_TRIP, "vehicle_not_stopped")


async def test_trip_without_a_session_still_makes_safe() -> None:
    s = Setup()
    s.supervisor.unbind()
    s.charge()
    s.rig.estop.press()
    assert not s.rig.power.on and not s.rig.contactors.cmd
    assert s.trips == []  # nobody to tell, but the fault is published
    assert [e.code for e in s.events if isinstance(e, FaultRaised)] == ["emergency_stop"]
