"""Session store (SQLite) and retention: configuration values (declared per `evse.config.meta`)."""

from __future__ import annotations

from evse.config.meta import Settings


class StoreSettings(Settings, frozen=True):
    """Session store (SQLite) and retention."""
