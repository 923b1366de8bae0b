"""What the daemon runs: services with a start, a bounded stop and a liveness report.

The lifecycle knows nothing of stations, OCPP or HTTP; `evse.daemon.wiring` adapts each of them to `Service`.
"""

from __future__ import annotations

import asyncio
from typing import Protocol, runtime_checkable


@runtime_checkable
class Service(Protocol):
    name: str

    async def start(self) -> None:
        """Start the service's tasks and return once it is up."""
        ...

    async def stop(self, timeout_s: float) -> None:
        """Stop within `timeout_s` (a station stops its sessions safely first)."""
        ...

    def alive(self) -> bool:
        """True while every control loop of the service has made progress recently. A service without control
        loops returns True. The watchdog pings systemd only while every service is alive."""
        ...


class Heartbeat:
    """Liveness of one control loop: the loop calls `beat()` every pass; `alive()` is True when the last beat is
    at most `max_age_s` old (event-loop time, so it works on the virtual clock)."""

    def __init__(self, name: str, max_age_s: float) -> None:
        self.name = name
        self.max_age_s = max_age_s
        self._last_s: float | None = None

    def beat(self) -> None:
        self._last_s = asyncio.get_running_loop().time()

    def alive(self) -> bool:
        if self._last_s is None:
            return False
        return asyncio.get_running_loop().time() - self._last_s <= self.max_age_s
