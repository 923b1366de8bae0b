"""The simulator's control seam, as the local API sees it.

In simulated mode the API can plug a vehicle profile in, unplug it, and inject or clear faults. The API depends
only on this Protocol; the simulation (`evse.sim`) implements it or is adapted to it. Every method that cannot
do what it is asked raises `SimControlError` with one sentence naming the thing and the fix (the API answers
409 with that sentence).
"""

from __future__ import annotations

from typing import Any, Protocol


class SimControlError(Exception):
    """A simulator command that cannot be carried out (no such profile, no vehicle plugged, bad parameter)."""


class SimControl(Protocol):
    def profiles(self) -> list[str]:
        """Names of the vehicle profiles that can be plugged in."""
        ...

    def fault_catalogue(self) -> list[dict[str, Any]]:
        """Every injectable fault: {"name", "description", "params": {name: default}}."""
        ...

    def active_faults(self, connector_id: int) -> list[dict[str, Any]]:
        """Faults in force on a connector: {"name", "params"}."""
        ...

    async def plug(self, connector_id: int, profile: str, soc_pct: float | None = None) -> None: ...
    async def unplug(self, connector_id: int) -> None: ...
    def inject_fault(self, connector_id: int, name: str, params: dict[str, Any]) -> None: ...
    def clear_fault(self, connector_id: int, name: str) -> bool:
        """False when the fault was not in force."""
        ...
