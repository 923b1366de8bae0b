"""Secrets never reach a log line: a redacted view of any settings struct.

A value is secret when its declaration says so (`setting(..., secret=True)`) or when its name says so
(password, token, secret, private key): the name rule catches a secret someone forgot to mark.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import msgspec.inspect as mi

REDACTED = "***"
SECRET_NAME = re.compile(r"(password|passwd|secret|token|private_key|auth_key|api_key|credential)(?!_file|_path)", re.I)


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def redact(settings: msgspec.Struct) -> dict[str, Any]:
    """Plain data of `settings` with every secret value replaced by `***` (empty values stay empty)."""
    data = msgspec.to_builtins(settings)
    return _redact(mi.type_info(type(settings)), data)


def _redact(info: mi.Type, data: Any) -> Any:
    if isinstance(info, mi.Metadata):
        info = info.type
    if isinstance(info, mi.StructType) and isinstance(data, dict):
        out: dict[str, Any] = {}
        for field in info.fields:
            if field.encode_name not in data:
                continue
            value = data[field.encode_name]
            extra = field.type.extra if isinstance(field.type, mi.Metadata) else None
            marked = bool((extra or {}).get("secret"))
            if (marked or is_secret_name(field.encode_name)) and value not in ("", None):
                out[field.encode_name] = REDACTED
            else:
                out[field.encode_name] = _redact(field.type, value)
        return out
    if isinstance(info, mi.ListType) and isinstance(data, list):
        return [_redact(info.item_type, item) for item in data]
    if isinstance(info, mi.DictType) and isinstance(data, dict):
        return {
            k: (REDACTED if is_secret_name(str(k)) and v not in ("", None) else _redact(info.value_type, v))
            for k, v in data.items()
        }
    if isinstance(info, mi.UnionType):
        for option in info.types:
            if isinstance(option, mi.StructType | mi.ListType | mi.DictType):
                return _redact(option, data)
    return data
