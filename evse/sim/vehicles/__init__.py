"""Simulated vehicles, one kind per connector standard, created from a profile by a small factory registry.

How a simulated vehicle comes to life (scenarios, `evse sim`, tests):

1. the world plugs a battery in: `plugged = world.plug(connector_id, make_battery(profile), profile.standard,
   profile)` — a `PluggedVehicle` (the `VehiclePlant` of `evse.sim.interfaces`);
2. `link = world.vehicle_link(connector_id, standard)`: the vehicle's endpoint of the connector's in-loop CAN bus
   for CHAdeMO and GB/T (muting it is the "BMS silence" fault), or what a CCS sim driver registered;
3. `vehicle = create_vehicle(profile, plugged, link, settings)` calls the factory registered for the profile's
   standard: `factory(profile, plant, link, settings) -> SimulatedVehicle`, where `settings` is the `SimSettings`;
4. the runner starts it (`await vehicle.run()` in a task, or `vehicle.start()`), and on unplug calls
   `vehicle.stop()` before `world.unplug(connector_id)`.

A protocol module registers its factory at import: `register_vehicle("gbt", factory)` in
`evse/sim/vehicles/gbt.py`; `create_vehicle` imports `evse.sim.vehicles.<standard>` on first use. A vehicle whose
protocol keeps real-time timers of its own (the iso15118 EVCC) registers with `realtime=True`, so `evse sim
--speed max` can refuse it with a clear message instead of hanging.

The vehicle hooks itself to the plant (`plugged.on_charger_output`, `plugged.set_fault_handler`) when it starts.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from evse.sim.interfaces import VehicleProfile
from evse.sim.settings import SimSettings
from evse.sim.vehicle_plant import PluggedVehicle


@runtime_checkable
class SimulatedVehicle(Protocol):
    """What the runner needs of a simulated vehicle: either `async run()` (runs until stopped or done) or a
    synchronous `start()` (it schedules its own callbacks), and `stop()`."""

    def stop(self) -> None: ...


VehicleFactory = Callable[[VehicleProfile, PluggedVehicle, Any, SimSettings], SimulatedVehicle]


@dataclass(frozen=True, slots=True)
class VehicleKind:
    standard: str
    factory: VehicleFactory
    #: the vehicle keeps real-time timers of its own: it cannot run on the virtual clock
    realtime: bool = False


class VehicleError(Exception):
    """No simulated vehicle for a standard (or it cannot run as asked); one sentence with the fix."""


_kinds: dict[str, VehicleKind] = {}


def register_vehicle(standard: str, factory: VehicleFactory, *, realtime: bool = False) -> None:
    _kinds[standard] = VehicleKind(standard, factory, realtime)


def vehicle_kind(standard: str) -> VehicleKind:
    kind = _kinds.get(standard)
    if kind is None:
        try:
            importlib.import_module(f"{__name__}.{standard}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{standard}":
                raise VehicleError(
                    f"the simulated {standard} vehicle needs {exc.name}, which is not installed; install it "
                    f"(e.g. pip install 'evse[ccs]')"
                ) from exc
        kind = _kinds.get(standard)
    if kind is None:
        fallback = _FALLBACKS.get(standard)
        if fallback is not None:
            fallback()
            kind = _kinds.get(standard)
    if kind is None:
        raise VehicleError(
            f"there is no simulated {standard} vehicle yet (known: {', '.join(sorted(_kinds)) or 'none'}); use a "
            f"profile of another standard"
        )
    return kind


def create_vehicle(
    profile: VehicleProfile, plant: PluggedVehicle, link: Any, settings: SimSettings | None = None
) -> SimulatedVehicle:
    kind = vehicle_kind(profile.standard)
    return kind.factory(profile, plant, link, settings or SimSettings())


# ---- fallbacks: used only while a protocol module does not register a factory itself
Translate = Callable[[str, dict[str, Any]], tuple[str, dict[str, Any]]]


def _chademo_fallback() -> None:
    from evse.protocols.chademo.messages import FAULT_FLAGS
    from evse.sim.vehicles import chademo

    cls = getattr(chademo, "SimChademoVehicle", None)
    if cls is None:
        return

    def translate(name: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if name == "vehicle_fault":
            kind = str(params.get("kind", ""))
            if kind in FAULT_FLAGS:
                return "fault_flag", {"flag": kind}
            return "charging_system_fault", {}
        return {"vehicle_stop": "stop_request", "bms_silence": "silence"}.get(name, name), params

    def factory(profile: VehicleProfile, plant: PluggedVehicle, link: Any, settings: SimSettings) -> Any:
        return _StartStopVehicle(cls(plant, link, profile.protocol), plant, translate)

    register_vehicle("chademo", factory)


class _StartStopVehicle:
    """Wraps a vehicle with `start()` / `stop()` / `inject(name, **params)` and maps the generic fault names of
    `evse.sim.faults` (vehicle_fault, vehicle_stop, …) onto its own."""

    def __init__(self, vehicle: Any, plant: PluggedVehicle, translate: Translate) -> None:
        self.vehicle = vehicle
        self.plant = plant
        self.translate = translate

    def start(self) -> None:
        self.vehicle.start()
        self.plant.set_fault_handler(self.handle_fault)

    def stop(self) -> None:
        self.vehicle.stop()

    def handle_fault(self, name: str, params: dict[str, Any]) -> bool:
        own, own_params = self.translate(name, params)
        return bool(self.vehicle.inject(own, **own_params))


_FALLBACKS: dict[str, Callable[[], None]] = {"chademo": _chademo_fallback}
