"""CHAdeMO timers and options: configuration values (declared per `evse.config.meta`)."""

from __future__ import annotations

from evse.config.meta import Settings


class ChademoSettings(Settings, frozen=True):
    """CHAdeMO timers and options."""
