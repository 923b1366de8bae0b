"""From a presented card to an authorization: the card UID is the id tag given to `StationControl.authorize`
(local list / CSMS, decided by the station's authorizer)."""

from __future__ import annotations

import asyncio

from evse.station.control import Authorization, StationControl


class CardAuthorizer:
    def __init__(self, station: StationControl, connector_id: int) -> None:
        self.station = station
        self.connector_id = connector_id
        self.results: list[tuple[str, Authorization]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def on_card(self, uid: str) -> None:
        task = asyncio.get_running_loop().create_task(self._authorize(uid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _authorize(self, uid: str) -> None:
        self.results.append((uid, await self.station.authorize(self.connector_id, uid)))
