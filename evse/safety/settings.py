"""Safety envelope and supervisor thresholds: configuration values (declared per `evse.config.meta`)."""

from __future__ import annotations

from evse.config.meta import Settings


class SafetySettings(Settings, frozen=True):
    """Safety envelope and supervisor thresholds."""
