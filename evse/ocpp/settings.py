"""OCPP 1.6J client: configuration values (declared per `evse.config.meta`)."""

from __future__ import annotations

from evse.config.meta import Settings


class OcppSettings(Settings, frozen=True):
    """OCPP 1.6J client."""
