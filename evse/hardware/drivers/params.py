"""Turning a driver's `params` table into its settings struct, with one-sentence errors."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from evse.hardware.registry import DriverContext, DriverError

S = TypeVar("S", bound=msgspec.Struct)


def convert(params: dict[str, Any], kind: type[S], driver: str, context: DriverContext) -> S:
    try:
        return msgspec.convert(params, kind)
    except msgspec.ValidationError as exc:
        allowed = ", ".join(f.name for f in msgspec.structs.fields(kind))
        raise DriverError(
            f"connector {context.connector_id}: driver {driver!r}: {exc} (params: {allowed}); fix the configuration"
        ) from exc
