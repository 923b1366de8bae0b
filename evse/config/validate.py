"""A second, exhaustive validation pass over raw TOML data against the settings structs.

msgspec stops at the first error; a user fixing a configuration wants every problem at once. This walker follows
`msgspec.inspect` type information alongside the raw data and records a `Problem` for each unknown key, missing
key, wrong type and violated constraint, with the key path and the fix. Once it finds nothing, msgspec does the
actual conversion (and any disagreement between the two is reported as well, never swallowed).
"""

from __future__ import annotations

import difflib
import re
from typing import Any

import msgspec.inspect as mi

from evse.config.errors import Problem

_KIND = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a table"}


def kind_of(value: object) -> str:
    for cls, name in _KIND.items():
        if type(value) is cls:
            return name
    return type(value).__name__


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check(info: mi.Type, value: Any, path: str, problems: list[Problem], unit: str = "") -> None:
    """Append to `problems` everything wrong with `value` as an instance of `info` at `path`."""
    if isinstance(info, mi.Metadata):
        unit = str((info.extra or {}).get("unit", unit))
        info = info.type
    if isinstance(info, mi.StructType):
        _check_struct(info, value, path, problems)
    elif isinstance(info, mi.ListType):
        if not isinstance(value, list):
            problems.append(Problem(path, f"must be a list, got {kind_of(value)}", "write it as `[...]`"))
            return
        _check_length(info, len(value), path, problems, "item")
        for index, item in enumerate(value):
            check(info.item_type, item, f"{path}[{index}]", problems, unit)
    elif isinstance(info, mi.DictType):
        if not isinstance(value, dict):
            problems.append(Problem(path, f"must be a table, got {kind_of(value)}", "write it as `{ key = value }`"))
            return
        for key, item in value.items():
            check(info.value_type, item, join(path, str(key)), problems, unit)
    elif isinstance(info, mi.UnionType):
        _check_union(info, value, path, problems, unit)
    else:
        _check_scalar(info, value, path, problems, unit)


def _check_struct(info: mi.StructType, value: Any, path: str, problems: list[Problem]) -> None:
    if not isinstance(value, dict):
        what = f"`[{path}]` table" if path else "table"
        problems.append(Problem(path, f"must be a table, got {kind_of(value)}", f"write it as a {what}"))
        return
    fields = {field.encode_name: field for field in info.fields}
    for key in value:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            fix = f"did you mean `{close[0]}`?" if close else "remove it (known keys: " + ", ".join(fields) + ")"
            problems.append(Problem(join(path, str(key)), "unknown key", fix))
    for name, field in fields.items():
        if name in value:
            check(field.type, value[name], join(path, name), problems)
        elif field.required:
            problems.append(Problem(join(path, name), "is required", f"add `{name} = ...` to this table"))


def _check_union(info: mi.UnionType, value: Any, path: str, problems: list[Problem], unit: str) -> None:
    options = [t for t in info.types if not isinstance(t, mi.NoneType)]
    if value is None and len(options) < len(info.types):
        return
    attempts: list[list[Problem]] = []
    for option in options:
        found: list[Problem] = []
        check(option, value, path, found, unit)
        if not found:
            return
        attempts.append(found)
    if len(attempts) == 1:
        problems.extend(attempts[0])
    else:
        problems.append(Problem(path, f"has an unsupported value {shown(value)}", "see docs/configuration.md"))


def _check_scalar(info: mi.Type, value: Any, path: str, problems: list[Problem], unit: str) -> None:
    suffix = f" {unit}" if unit and unit not in ("°C",) else unit
    if isinstance(info, mi.AnyType):
        return
    if isinstance(info, mi.BoolType):
        if not isinstance(value, bool):
            problems.append(Problem(path, f"must be true or false, got {shown(value)}", "write `true` or `false`"))
    elif isinstance(info, mi.LiteralType | mi.EnumType):
        allowed = list(info.values) if isinstance(info, mi.LiteralType) else [m.value for m in info.cls]
        if value not in allowed or isinstance(value, bool):
            choices = ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in allowed)
            problems.append(Problem(path, f"must be one of {choices}, got {shown(value)}", "pick one of those"))
    elif isinstance(info, mi.IntType | mi.FloatType):
        is_int = isinstance(value, int) and not isinstance(value, bool)
        ok_type = is_int or (isinstance(info, mi.FloatType) and isinstance(value, float))
        if not ok_type:
            want = "an integer" if isinstance(info, mi.IntType) else "a number"
            problems.append(
                Problem(
                    path,
                    f"must be {want}, got {kind_of(value)} {shown(value)}",
                    f"write {want}{' (unit' + suffix + ')' if unit else ''} without quotes",
                )
            )
            return
        for op, bound, holds in (
            (">", info.gt, lambda b: value > b),
            (">=", info.ge, lambda b: value >= b),
            ("<", info.lt, lambda b: value < b),
            ("<=", info.le, lambda b: value <= b),
        ):
            if bound is not None and not holds(bound):
                problems.append(
                    Problem(
                        path, f"must be {op} {bound}{suffix}, got {value}{suffix}", f"set a value {op} {bound}{suffix}"
                    )
                )
    elif isinstance(info, mi.StrType):
        if not isinstance(value, str):
            problems.append(
                Problem(
                    path, f"must be a string, got {kind_of(value)} {shown(value)}", 'write it in quotes, e.g. "..."'
                )
            )
            return
        _check_length(info, len(value), path, problems, "character")
        if info.pattern is not None and not re.search(info.pattern, value):
            problems.append(
                Problem(
                    path,
                    f"does not match the pattern {info.pattern!r}: {shown(value)}",
                    "see docs/configuration.md for the expected form",
                )
            )
    elif isinstance(info, mi.NoneType):
        problems.append(Problem(path, f"must be omitted, got {shown(value)}", "remove it"))
    else:  # a type this walker does not know: msgspec's own conversion will judge it
        return


def _check_length(info: Any, length: int, path: str, problems: list[Problem], unit: str) -> None:
    if info.min_length is not None and length < info.min_length:
        if info.min_length == 1 and unit == "character":
            problems.append(Problem(path, "must not be empty", "give it a value"))
        else:
            problems.append(
                Problem(path, f"must have at least {info.min_length} {unit}s, got {length}", f"add {unit}s")
            )
    if info.max_length is not None and length > info.max_length:
        problems.append(
            Problem(
                path,
                f"must have at most {info.max_length} {unit}s, got {length}",
                f"shorten it to {info.max_length} {unit}s",
            )
        )
