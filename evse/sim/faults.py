"""Fault injection into the simulated world: one API for scenarios, the local API and tests.

A fault is addressed by connector and name, with parameters:

    inject(world, 1, "insulation_degradation", {"resistance_ohm": 40_000, "location": "cable"})
    clear(world, 1, "insulation_degradation")

`catalogue()` lists every fault with its description and parameters (defaults included) — what the API shows.
Faults of the hardware and the physics are applied here; faults of the vehicle's *behaviour* (a fault flag in
its frames, a stop from the car) are handed to the protocol's simulated vehicle through
`PluggedVehicle.set_fault_handler`, since only it knows how its protocol says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from evse.sim.plant import ConnectorPlant
from evse.sim.world import SimWorld

#: `vehicle.<name>` passes fault <name> with its params straight to the simulated vehicle's own handler (e.g.
#: `vehicle.over_request` with `amps` for the CHAdeMO vehicle)
VEHICLE_PREFIX = "vehicle."


class FaultError(Exception):
    """A fault cannot be injected as asked; the message names the fault, the connector and the fix."""


@dataclass(frozen=True, slots=True)
class FaultSpec:
    name: str
    description: str
    #: parameter name → default (the type of the default is the parameter's type)
    params: dict[str, Any] = field(default_factory=dict)
    #: a fault of the plugged vehicle (delegated to its simulated protocol side, or of its battery / CAN
    #: endpoint): it ends when that vehicle is unplugged
    vehicle: bool = False


@dataclass(frozen=True, slots=True)
class ActiveFault:
    connector_id: int
    name: str
    params: dict[str, Any]
    t_s: float
    #: ends when the vehicle is unplugged (`SimWorld.unplug` drops it and calls `undo`)
    ends_on_unplug: bool = False
    undo: Callable[[], None] | None = None


Apply = Callable[[SimWorld, ConnectorPlant, dict[str, Any]], None]

_SPECS: dict[str, FaultSpec] = {}
_APPLY: dict[str, Apply] = {}
_CLEAR: dict[str, Apply] = {}


def _fault(spec: FaultSpec, apply: Apply, clear: Apply | None = None) -> None:
    _SPECS[spec.name] = spec
    _APPLY[spec.name] = apply
    if clear is not None:
        _CLEAR[spec.name] = clear


# ---- insulation
_fault(
    FaultSpec(
        "insulation_degradation",
        "Insulation resistance of one pole (pos, neg or both) to PE drops, at the charger, the cable or the vehicle",
        {"resistance_ohm": 40_000.0, "pole": "pos", "location": "cable"},
    ),
    lambda w, p, a: p.imd.degrade(a["resistance_ohm"], a["pole"], a["location"]),
    lambda w, p, a: p.imd.restore(a["location"]),
)
_fault(
    FaultSpec("imd_silent", "The insulation monitor stops sending samples (a gap in the measurement stream)"),
    lambda w, p, a: setattr(p.imd, "silent", True),
    lambda w, p, a: setattr(p.imd, "silent", False),
)
_fault(
    FaultSpec("imd_device_fault", "The insulation monitor flags a device fault in its samples and fails self-test"),
    lambda w, p, a: setattr(p.imd, "device_fault", True),
    lambda w, p, a: setattr(p.imd, "device_fault", False),
)
_fault(
    FaultSpec("imd_self_test_fail", "The insulation monitor's self-test fails"),
    lambda w, p, a: setattr(p.imd, "self_test_fails", True),
    lambda w, p, a: setattr(p.imd, "self_test_fails", False),
)


# ---- power path
def _power_fault(world: SimWorld, plant: ConnectorPlant, args: dict[str, Any]) -> None:
    plant.power.inject_fault(args["code"])


_fault(
    FaultSpec(
        "power_module_fault",
        "The power module reports a fault code and switches its output off",
        {"code": "module_fault"},
    ),
    _power_fault,
    lambda w, p, a: p.power.clear_fault(),
)
_fault(
    FaultSpec("contactor_welding", "The output contactors weld: they stay closed when commanded open"),
    lambda w, p, a: p.contactors.set_welded(True),
    lambda w, p, a: p.contactors.set_welded(False),
)
_fault(
    FaultSpec("lock_stuck", "The connector lock sticks where it is; its feedback no longer follows commands"),
    lambda w, p, a: p.lock.set_stuck(True),
    lambda w, p, a: p.lock.set_stuck(False),
)
_fault(
    FaultSpec("emergency_stop", "The station's emergency-stop button is pressed (it latches until cleared)"),
    lambda w, p, a: w.estop.press(True),
    lambda w, p, a: w.estop.press(False),
)
_fault(
    FaultSpec(
        "connector_overtemperature",
        "A connector temperature sensor reads hotter by an offset (a loose crimp, a dirty pin)",
        {"sensor": "dc_plus", "offset_c": 45.0},
    ),
    lambda w, p, a: p.temperatures.set_offset(a["sensor"], a["offset_c"]),
    lambda w, p, a: p.temperatures.set_offset(a["sensor"], 0.0),
)


# ---- signal lines
def _worn(world: SimWorld, plant: ConnectorPlant, args: dict[str, Any]) -> None:
    plant.pilot.worn_offset_v = args["offset_v"]
    plant.lines.worn_offset_v = args["offset_v"]


def _unworn(world: SimWorld, plant: ConnectorPlant, args: dict[str, Any]) -> None:
    plant.pilot.worn_offset_v = 0.0
    plant.lines.worn_offset_v = 0.0


_fault(
    FaultSpec(
        "worn_pilot_contact",
        "A worn or corroded signal contact shifts the CP high level and the GB/T CC1 voltage by an offset",
        {"offset_v": 1.2},
    ),
    _worn,
    _unworn,
)


def _plug_pulled(world: SimWorld, plant: ConnectorPlant, args: dict[str, Any]) -> None:
    vehicle = _vehicle(plant, plant.connector_id, "plug_pulled")
    if vehicle.standard == "chademo":
        plant.lines.set_input("connected", False)
    elif vehicle.standard == "gbt":
        plant.lines.set_input("cc1", plant.lines.settings.cc1_unplugged_v)
    else:
        raise FaultError(
            f"fault plug_pulled on connector {plant.connector_id}: a {vehicle.standard} plug is watched through the "
            f"control pilot; use the vehicle's CP state instead"
        )


def _plug_back(world: SimWorld, plant: ConnectorPlant, args: dict[str, Any]) -> None:
    vehicle = plant.vehicle
    if vehicle is not None and vehicle.standard == "chademo":
        plant.lines.set_input("connected", True)
    elif vehicle is not None and vehicle.standard == "gbt":
        plant.lines.set_input("cc1", vehicle.cc1_plugged_v)


_fault(
    FaultSpec(
        "plug_pulled",
        "The plug's connection line reads 'not inserted' while the car stays on the link and the power path "
        "(CHAdeMO connection check inactive, GB/T CC1 at the gun-released level): a plug pulled or knocked loose",
        vehicle=True,
    ),
    _plug_pulled,
    _plug_back,
)
_fault(
    FaultSpec("cp_diode_fault", "The vehicle's CP diode is missing (IEC 61851-1 diode check fails)"),
    lambda w, p, a: setattr(p.pilot, "diode_fault", True),
    lambda w, p, a: setattr(p.pilot, "diode_fault", False),
)


# ---- the vehicle
def _vehicle(plant: ConnectorPlant, connector_id: int, name: str) -> Any:
    vehicle = plant.vehicle
    if vehicle is None:
        raise FaultError(f"fault {name} on connector {connector_id}: no vehicle is plugged in; plug one in first")
    return vehicle


def _bms_silence(world: SimWorld, plant: ConnectorPlant, args: dict[str, Any]) -> None:
    vehicle = _vehicle(plant, plant.connector_id, "bms_silence")
    if vehicle.standard in ("chademo", "gbt"):
        world.vehicle_channel(plant.connector_id).mute = True
    else:
        _delegate(plant, "bms_silence", args)


def _bms_speaks(world: SimWorld, plant: ConnectorPlant, args: dict[str, Any]) -> None:
    vehicle = plant.vehicle
    if vehicle is not None and vehicle.standard in ("chademo", "gbt"):
        world.vehicle_channel(plant.connector_id).mute = False
    elif vehicle is not None:
        _delegate(plant, "bms_silence_clear", args)


def _pack_temperature(world: SimWorld, plant: ConnectorPlant, args: dict[str, Any]) -> None:
    vehicle = _vehicle(plant, plant.connector_id, "pack_temperature")
    vehicle.battery.temperature_c = args["temperature_c"]


def _delegate(plant: ConnectorPlant, name: str, args: dict[str, Any]) -> None:
    vehicle = _vehicle(plant, plant.connector_id, name)
    handler = vehicle.fault_handler
    if handler is None or not handler(name, args):
        raise FaultError(
            f"fault {name} on connector {plant.connector_id}: the simulated {vehicle.standard} vehicle does not "
            f"support it; use a hardware fault instead"
        )


_fault(
    FaultSpec(
        "bms_silence", "The vehicle stops talking (its CAN frames or V2G messages no longer arrive)", vehicle=True
    ),
    _bms_silence,
    _bms_speaks,
)
_fault(
    FaultSpec(
        "pack_temperature",
        "The vehicle's pack is at this temperature (its BMS derates or stops)",
        {"temperature_c": 52.0},
        vehicle=True,
    ),
    _pack_temperature,
)
_fault(
    FaultSpec(
        "vehicle_fault",
        "The vehicle raises a fault flag in its protocol (kind: protocol-specific, e.g. battery_overvoltage)",
        {"kind": "vehicle_fault"},
        vehicle=True,
    ),
    lambda w, p, a: _delegate(p, "vehicle_fault", a),
    lambda w, p, a: _delegate(p, "vehicle_fault_clear", a),
)
_fault(
    FaultSpec(
        "vehicle_stop", "The driver stops charging from inside the car (a normal stop by the vehicle)", vehicle=True
    ),
    lambda w, p, a: _delegate(p, "vehicle_stop", a),
)


# ---- the API
def catalogue() -> list[FaultSpec]:
    """Every fault that can be injected, sorted by name."""
    return [_SPECS[name] for name in sorted(_SPECS)]


def _params(spec: FaultSpec, connector_id: int, given: dict[str, Any] | None) -> dict[str, Any]:
    given = dict(given or {})
    unknown = set(given) - set(spec.params)
    if unknown:
        allowed = ", ".join(spec.params) or "none"
        raise FaultError(
            f"fault {spec.name} on connector {connector_id}: unknown parameter(s) {', '.join(sorted(unknown))}; "
            f"allowed: {allowed}"
        )
    out = dict(spec.params)
    for key, value in given.items():
        default = spec.params[key]
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, type(default)):
            raise FaultError(
                f"fault {spec.name} on connector {connector_id}: parameter {key} must be a "
                f"{type(default).__name__}, got {value!r}"
            )
        out[key] = value
    return out


def inject(world: SimWorld, connector_id: int, name: str, params: dict[str, Any] | None = None) -> ActiveFault:
    """Apply fault `name` on `connector_id`. Raises `FaultError` (one sentence) when it cannot."""
    spec = _SPECS.get(name)
    if spec is None and name.startswith(VEHICLE_PREFIX):
        return _inject_vehicle_own(world, connector_id, name, params or {})
    if spec is None:
        raise FaultError(
            f"unknown fault {name!r}; known faults: {', '.join(sorted(_SPECS))} (or {VEHICLE_PREFIX}<name> for a "
            f"fault of the simulated vehicle's own protocol)"
        )
    if connector_id not in world.plants:
        known = ", ".join(str(c) for c in sorted(world.plants)) or "none"
        raise FaultError(f"fault {name}: there is no simulated connector {connector_id} (connectors: {known})")
    args = _params(spec, connector_id, params)
    plant = world.plant(connector_id)
    try:
        _APPLY[name](world, plant, args)
    except ValueError as exc:
        raise FaultError(f"fault {name} on connector {connector_id}: {exc}") from exc
    # a fault of the vehicle's own insulation leaves with the vehicle
    ends = spec.vehicle or (name == "insulation_degradation" and args["location"] == "vehicle")
    undo = _CLEAR.get(name)
    fault = ActiveFault(
        connector_id,
        name,
        args,
        plant.now(),
        ends_on_unplug=ends,
        undo=(lambda: undo(world, plant, args)) if ends and undo is not None and not spec.vehicle else None,
    )
    world.active_faults.setdefault(connector_id, {})[name] = fault
    return fault


def _inject_vehicle_own(world: SimWorld, connector_id: int, name: str, params: dict[str, Any]) -> ActiveFault:
    if connector_id not in world.plants:
        raise FaultError(f"fault {name}: there is no simulated connector {connector_id}")
    plant = world.plant(connector_id)
    try:
        _delegate(plant, name.removeprefix(VEHICLE_PREFIX), dict(params))
    except ValueError as exc:
        raise FaultError(f"fault {name} on connector {connector_id}: {exc}") from exc
    fault = ActiveFault(connector_id, name, dict(params), plant.now(), ends_on_unplug=True)
    world.active_faults.setdefault(connector_id, {})[name] = fault
    return fault


def clear(world: SimWorld, connector_id: int, name: str) -> bool:
    """Undo fault `name` on `connector_id`; False if it was not active (or cannot be undone)."""
    fault = world.active_faults.get(connector_id, {}).pop(name, None)
    if fault is None:
        return False
    undo = _CLEAR.get(name)
    if undo is None:
        return False
    undo(world, world.plant(connector_id), fault.params)
    return True


def active(world: SimWorld, connector_id: int | None = None) -> list[ActiveFault]:
    """The faults in force (on one connector, or everywhere)."""
    ids = [connector_id] if connector_id is not None else sorted(world.active_faults)
    return [f for cid in ids for f in world.active_faults.get(cid, {}).values()]
