"""Simulated hardware and vehicles: configuration values (declared per `evse.config.meta`)."""

from __future__ import annotations

from evse.config.meta import Settings


class SimSettings(Settings, frozen=True):
    """Simulated hardware and vehicles."""
