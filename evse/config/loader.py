"""Read a TOML configuration file into a `Config`, reporting every problem (not just the first)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi

from evse.config.errors import ConfigError, Problem
from evse.config.schema import Config
from evse.config.semantics import check_semantics
from evse.config.validate import check


def load_config(path: str | Path) -> Config:
    """Read and validate `path`; raises `ConfigError` with every problem found."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            source, [Problem("", f"file {source} not found", "pass an existing file to --config")]
        ) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as error:
        raise ConfigError(
            source, [Problem("", f"cannot read {source}: {error}", "check the path and its permissions")]
        ) from None
    return parse_config(text, source)


def parse_config(text: str, source: str = "<config>") -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(source, [Problem("", f"not valid TOML: {error}", "fix the syntax at that line")]) from None
    return from_data(data, source)


def from_data(data: dict[str, Any], source: str = "<config>") -> Config:
    problems = validate_data(data)
    if problems:
        raise ConfigError(source, problems)
    try:
        return msgspec.convert(data, Config)
    except msgspec.ValidationError as error:  # something the exhaustive pass missed: still one clear line
        where, _, _ = str(error).partition(" - at ")
        at = str(error).rpartition("`$")[2].rstrip("`").lstrip(".") if " - at " in str(error) else ""
        raise ConfigError(source, [Problem(at, where, "see docs/configuration.md")]) from None


def validate_data(data: dict[str, Any]) -> list[Problem]:
    """Every problem in raw configuration data (empty list = valid)."""
    problems: list[Problem] = []
    check(mi.type_info(Config), data, "", problems)
    for problem in check_semantics(data):
        if problem not in problems:
            problems.append(problem)
    return problems
