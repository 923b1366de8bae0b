"""How a configuration value is declared — once, with its default, unit and description.

Every component owns a settings struct next to its code (e.g. `evse.protocols.gbt.settings.GbtSettings`);
`evse.config.schema` assembles them into the whole configuration, and `docs/configuration.md` is generated from
these declarations. A value is declared as

    bhm_timeout_s: Annotated[float, setting("Wait for BHM after the first CHM", "s", gt=0)] = 5.0

A subclass is declared `class GbtSettings(Settings, frozen=True)` (mypy needs the repeated `frozen`).
`Settings` forbids unknown keys, so a typo in the TOML file is an error, not a silently ignored value.
"""

from __future__ import annotations

from typing import Any

import msgspec


def setting(description: str, unit: str = "", *, secret: bool = False, **constraints: Any) -> msgspec.Meta:
    """Metadata for one configuration value: a one-line description, its unit ("" if none) and msgspec
    constraints (gt, ge, lt, le, min_length, pattern, …). `secret=True` marks a value (a password, a token)
    that is never logged or displayed (`Config.redacted()`)."""
    extra: dict[str, Any] = {"unit": unit}
    if secret:
        extra["secret"] = True
    return msgspec.Meta(description=description, extra=extra, **constraints)


class Settings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Base of every settings struct."""
