"""The simulated world behind the local API's simulator commands (`evse.api.sim.SimControl`): plug a profile
in, unplug, inject and clear faults. The station builder attaches one to the station as `sim_control` when the
station runs on simulated hardware: `station.sim_control = WorldSimControl(world)` (with `world_of(context)` or
`evse.sim.world.current_world()`). Errors come out as `SimControlError`, one sentence each.
"""

from __future__ import annotations

from typing import Any

from evse.sim import faults
from evse.sim.dock import VehicleDock
from evse.sim.profile import ProfileError, builtin_profiles, load_profile, with_overrides
from evse.sim.vehicles import VehicleError
from evse.sim.world import SimWorld


def _error(message: str) -> Exception:
    from evse.api.sim import SimControlError  # the API's seam; imported late: evse.sim sits below evse.api

    return SimControlError(message)


class WorldSimControl:
    def __init__(self, world: SimWorld, dock: VehicleDock | None = None) -> None:
        self.world = world
        self.dock = dock or VehicleDock(world)

    def profiles(self) -> list[str]:
        return list(builtin_profiles())

    def fault_catalogue(self) -> list[dict[str, Any]]:
        return [{"name": s.name, "description": s.description, "params": dict(s.params)} for s in faults.catalogue()]

    def active_faults(self, connector_id: int) -> list[dict[str, Any]]:
        return [{"name": f.name, "params": dict(f.params)} for f in faults.active(self.world, connector_id)]

    async def plug(self, connector_id: int, profile: str, soc_pct: float | None = None) -> None:
        if connector_id not in self.world.plants:
            raise _error(f"connector {connector_id} is not a simulated connector; use one of {self._ids()}")
        try:
            loaded = load_profile(profile)
            if soc_pct is not None:
                loaded = with_overrides(loaded, {"soc_pct": soc_pct}, {})
            self.dock.plug(connector_id, loaded)
        except (ProfileError, VehicleError, RuntimeError) as exc:
            raise _error(str(exc)) from None

    async def unplug(self, connector_id: int) -> None:
        if not self.dock.unplug(connector_id):
            raise _error(f"connector {connector_id} has no vehicle plugged in; plug one in first")

    def inject_fault(self, connector_id: int, name: str, params: dict[str, Any]) -> None:
        try:
            faults.inject(self.world, connector_id, name, params)
        except faults.FaultError as exc:
            raise _error(str(exc)) from None

    def clear_fault(self, connector_id: int, name: str) -> bool:
        return faults.clear(self.world, connector_id, name)

    def _ids(self) -> str:
        return ", ".join(str(c) for c in sorted(self.world.plants)) or "none"
