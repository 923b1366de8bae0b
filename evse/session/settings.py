"""Stage timeouts of the charging session: configuration values (declared per `evse.config.meta`)."""

from __future__ import annotations

from evse.config.meta import Settings


class SessionSettings(Settings, frozen=True):
    """Stage timeouts of the charging session."""
