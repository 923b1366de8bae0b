"""Turning the station's objects (snapshots, events) into JSON-ready dicts, the same way everywhere."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from typing import Any

from evse.session.events import Event
from evse.station.control import ConnectorSnapshot


def plain(value: Any) -> Any:
    """Enums to their values, dataclasses to dicts, non-finite floats to None (JSON has no NaN)."""
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(plain(k)): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def snapshot_dict(snapshot: ConnectorSnapshot) -> dict[str, Any]:
    out: dict[str, Any] = plain(snapshot)
    return out


def event_dict(event: Event) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type(event).__name__}
    out.update(plain(event))
    return out


def dumps(value: Any) -> str:
    return json.dumps(plain(value), separators=(",", ":"), allow_nan=False)
