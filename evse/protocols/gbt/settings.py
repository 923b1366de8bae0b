"""GB/T 27930 timers and options: configuration values (declared per `evse.config.meta`)."""

from __future__ import annotations

from evse.config.meta import Settings


class GbtSettings(Settings, frozen=True):
    """GB/T 27930 timers and options."""
