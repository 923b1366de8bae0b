"""CCS (DIN SPEC 70121 / ISO 15118-2) options: configuration values (declared per `evse.config.meta`)."""

from __future__ import annotations

from evse.config.meta import Settings


class CcsSettings(Settings, frozen=True):
    """CCS (DIN SPEC 70121 / ISO 15118-2) options."""
