"""The simulated physical world of one connector: power module → output contactors → cable → vehicle contactors →
battery, plus the signal lines, the lock, the IMD, temperatures and the e-stop.

Theory of operation
-------------------
* The drivers (`evse.sim.hardware`) take commands synchronously and change nothing physical at once (except that
  `disable()` stops the current: semiconductors switch in microseconds). Delayed effects (contactors, lock, IMD
  samples, self-test) are `loop.call_later` callbacks.
* A per-plant tick (`loop.call_later` chain, `tick_s` while power flows, `idle_tick_s` otherwise) integrates the
  electrical state: with both sets of contactors closed the battery fixes the voltage and the current is
  `min(limit, (V_set − OCV) / R)` slewed at the module's A/s; otherwise the open output follows the set-point at
  the module's V/s, or decays (bleed circuit, or slowly by itself). After each tick the power module's listeners
  get the new (noisy) readings. A change of topology (a contactor moving) ticks at once.
* All time comes from the running loop; all randomness from `rng` (seeded per world and connector), so a run is
  reproducible on the virtual clock.
"""

from __future__ import annotations

import asyncio
import math
import random
from typing import TYPE_CHECKING

from evse.sim.hardware.contactors import SimContactors
from evse.sim.hardware.imd import SimInsulationMonitor
from evse.sim.hardware.lock import SimConnectorLock
from evse.sim.hardware.meter import SimEmergencyStop, SimEnergyMeter, SimTemperatures
from evse.sim.hardware.power import SimPowerModule
from evse.sim.hardware.signals import SimControlPilot, SimVehicleLines
from evse.sim.settings import SimSettings

if TYPE_CHECKING:
    from collections.abc import Callable

    from evse.sim.interfaces import Battery
    from evse.sim.vehicle_plant import PluggedVehicle

#: with nothing holding it, the cable between open contactor sets loses its charge quickly
CABLE_DECAY_TIME_CONSTANT_S = 0.5
#: below this the output counts as dead (no tick needed for it)
IDLE_VOLTAGE_V = 1.0


def _approach(value: float, target: float, max_step: float) -> float:
    if value < target:
        return min(target, value + max_step)
    return max(target, value - max_step)


class ConnectorPlant:
    """The physics of one simulated connector; the simulated drivers are its attributes."""

    def __init__(
        self, connector_id: int, settings: SimSettings, rng: random.Random, estop: SimEmergencyStop | None = None
    ) -> None:
        self.connector_id = connector_id
        self.settings = settings
        self.rng = rng
        self.power = SimPowerModule(self, settings.power)
        self.contactors = SimContactors(self, settings.contactors)
        self.imd = SimInsulationMonitor(self, settings.imd)
        self.lock = SimConnectorLock(self, settings.lock)
        self.pilot = SimControlPilot(self, settings.signals)
        self.lines = SimVehicleLines(self, settings.signals)
        self.meter = SimEnergyMeter(self)
        self.temperatures = SimTemperatures(self, settings.thermal)
        #: the station's emergency stop (one button for every connector, shared through the world)
        self.estop = estop or SimEmergencyStop()
        self.vehicle: PluggedVehicle | None = None
        #: true physical values (the drivers report them with noise)
        self.output_voltage_v = 0.0
        self.inlet_voltage_v = 0.0
        self.current_a = 0.0
        self.ticks = 0
        #: called after every tick with the plant (the `evse sim` view, recorders); must not block
        self.observers: list[Callable[[ConnectorPlant], None]] = []
        #: called when the charger changes an output the vehicle reads (d1, d2, aux, CP PWM / state F)
        self.charger_output_observers: list[Callable[[], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.Handle | None = None
        self._last_tick_s = 0.0
        self._closed = False

    # ---- time
    def ensure_running(self) -> bool:
        """Start the tick on the running loop (drivers may be built before the loop runs)."""
        if self._loop is not None or self._closed:
            return self._loop is not None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        self._loop = loop
        self._last_tick_s = loop.time()
        self._handle = loop.call_later(self._period_s(), self._tick)
        return True

    def now(self) -> float:
        return self._loop.time() if self._loop is not None else asyncio.get_running_loop().time()

    def request_tick(self) -> None:
        """Recompute on the next loop pass (after a command that changes what flows)."""
        if not self.ensure_running() or self._loop is None:
            return
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_soon(self._tick)

    def topology_changed(self) -> None:
        """A contactor moved: settle the new circuit now (called from a timer callback, not from a command)."""
        if self._loop is None:
            return
        self._tick()

    def close(self) -> None:
        self._closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _period_s(self) -> float:
        active = (
            self.power.enabled()
            or self.current_a > 0.0
            or self.output_voltage_v > IDLE_VOLTAGE_V
            or self.inlet_voltage_v > IDLE_VOLTAGE_V
            or not self.temperatures.settled()
        )
        return self.settings.tick_s if active else self.settings.idle_tick_s

    def _tick(self) -> None:
        loop = self._loop
        if loop is None or self._closed:
            return
        if self._handle is not None:
            self._handle.cancel()
        now = loop.time()
        dt = now - self._last_tick_s
        self._last_tick_s = now
        self._step(dt)
        self._handle = loop.call_later(self._period_s(), self._tick)
        self.power.listeners.notify()
        for observer in self.observers:
            observer(self)

    # ---- commands with an immediate physical effect
    def cut_current(self) -> None:
        """Power module off / faulted: the current stops now; the voltage follows on the next tick."""
        self.current_a = 0.0
        self.power.current_reading_a = 0.0
        self.request_tick()

    def charger_output_changed(self) -> None:
        self.ensure_running()
        if self.charger_output_observers and self._loop is not None:
            for observer in self.charger_output_observers:
                self._loop.call_soon(observer)

    # ---- physics
    def _step(self, dt: float) -> None:
        self.ticks += 1
        power = self.power
        ps = power.settings
        vehicle = self.vehicle
        battery: Battery | None = vehicle.battery if vehicle is not None else None
        battery_on_inlet = battery is not None and vehicle is not None and vehicle.contactors_closed
        delivering = power.enabled()
        if self.contactors.closed and battery_on_inlet and battery is not None:
            ocv = battery.open_circuit_voltage_v()
            r_battery = battery.terminal_voltage_v(1.0) - ocv
            r_total = r_battery + ps.cable_resistance_ohm
            target_a = 0.0
            if delivering:
                limit_a = min(power.current_limit_a, ps.max_current_a, ps.max_power_w / max(ocv, 1.0))
                target_a = max(0.0, min(limit_a, (power.voltage_set_v - ocv) / r_total))
            current = _approach(self.current_a, target_a, ps.current_slew_a_per_s * dt) if delivering else 0.0
            self.current_a = current
            battery.step(current, dt)
            self.inlet_voltage_v = ocv + current * r_battery
            self.output_voltage_v = self.inlet_voltage_v + current * ps.cable_resistance_ohm
        else:
            self.current_a = 0.0
            v = self.output_voltage_v
            if delivering:
                v = _approach(v, power.voltage_set_v, ps.voltage_slew_v_per_s * dt)
            elif power.discharging:
                v *= math.exp(-dt / ps.discharge_time_constant_s)
            else:
                v *= math.exp(-dt / ps.self_discharge_time_constant_s)
            self.output_voltage_v = v
            if self.contactors.closed:
                self.inlet_voltage_v = v
            elif battery_on_inlet and battery is not None:
                self.inlet_voltage_v = battery.terminal_voltage_v(0.0)
            else:
                self.inlet_voltage_v *= math.exp(-dt / CABLE_DECAY_TIME_CONSTANT_S)
            if battery is not None:
                battery.step(0.0, dt)
        self.meter.integrate(self.output_voltage_v, self.current_a, dt)
        self.temperatures.step(self.current_a, dt)
        gauss = self.rng.gauss
        power.voltage_reading_v = max(0.0, self.output_voltage_v + gauss(0.0, ps.measurement_noise_v))
        power.current_reading_a = (
            max(0.0, self.current_a + gauss(0.0, ps.measurement_noise_a)) if self.current_a > 0.0 else 0.0
        )

    def inlet_reading_v(self) -> float:
        """The vehicle-side voltage as the charger measures it (with the voltage-measurement noise)."""
        noise = self.rng.gauss(0.0, self.power.settings.measurement_noise_v)
        return max(0.0, self.inlet_voltage_v + noise)

    # ---- the vehicle
    def attach(self, vehicle: PluggedVehicle) -> None:
        if self.vehicle is not None:
            raise RuntimeError(f"connector {self.connector_id} already has a vehicle plugged in; unplug it first")
        self.vehicle = vehicle
        self.pilot.plugged = True
        if vehicle.standard == "ccs":
            self.pilot.set_vehicle_state("B")  # the vehicle's 2.74 kΩ is there from the first contact
            self.pilot.listeners.notify_soon()
        elif vehicle.standard == "gbt":
            self.lines.set_input("cc1", vehicle.cc1_plugged_v)
        elif vehicle.standard == "chademo":
            self.lines.set_input("connected", True)
        self.ensure_running()

    def detach(self) -> None:
        vehicle = self.vehicle
        if vehicle is None:
            return
        self.vehicle = None
        self.charger_output_observers.clear()
        self.pilot.plugged = False
        self.pilot.set_vehicle_state("A")
        self.pilot.listeners.notify_soon()
        self.lines.set_input("k", False)
        self.lines.set_input("connected", False)
        self.lines.set_input("cc1", self.lines.settings.cc1_unplugged_v)
        self.request_tick()
