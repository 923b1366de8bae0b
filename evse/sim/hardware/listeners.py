"""Listener lists for the simulated drivers: measurements are pushed (see `evse.hardware.roles`)."""

from __future__ import annotations

import asyncio

from evse.hardware.roles import Listener


class Listeners:
    """Calls every listener; one that raises is reported to the loop's exception handler and the others still
    run, so a broken consumer cannot stop the simulated physics."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: list[Listener] = []

    def add(self, listener: Listener) -> None:
        self._items.append(listener)

    def remove(self, listener: Listener) -> None:
        if listener in self._items:
            self._items.remove(listener)

    def __bool__(self) -> bool:
        return bool(self._items)

    def notify(self) -> None:
        for listener in self._items:
            try:
                listener()
            except Exception as exc:
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:
                    raise exc from None
                loop.call_exception_handler({"message": f"hardware listener {listener!r} raised", "exception": exc})

    def notify_soon(self) -> None:
        """Notify on the next loop pass (for inputs a vehicle changes from inside its own code)."""
        if not self._items:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # built before the loop runs: nobody can be waiting for this change yet
        loop.call_soon(self.notify)
