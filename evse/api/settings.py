"""Local HTTP API: configuration values (declared per `evse.config.meta`)."""

from __future__ import annotations

from evse.config.meta import Settings


class ApiSettings(Settings, frozen=True):
    """Local HTTP API."""
