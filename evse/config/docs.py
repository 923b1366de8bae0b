"""Generate docs/configuration.md from the settings declarations (the single definition of every value).

    .venv/bin/python -m evse.config.docs            # rewrite docs/configuration.md
    .venv/bin/python -m evse.config.docs --check    # exit 1 if the committed file is stale

Each distinct settings struct becomes one table (key, type, default, unit, constraint, description); a struct
used in several places (a hardware role) is shown once, with every place it is used.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi

from evse.config.schema import Config

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
REGENERATE = ".venv/bin/python -m evse.config.docs"

INTRO = f"""\
<!-- Generated from the settings declarations by `{REGENERATE}` — do not edit by hand. -->
# Configuration reference

The daemon reads one TOML file (`evse run --config FILE`). Every value below has a default unless marked
**required**; a section or key left out takes its default. Check a file with `evse config check FILE`: it prints
every problem at once, as `key.path: what is wrong — how to fix it`, and exits non-zero (78) when there is one.

* Unknown keys are errors (a typo is never silently ignored); the message suggests the closest known key.
* `connectors` is a list of `[[connectors]]` tables; a problem in the second one is reported as `connectors[1]…`
  (positions count from 0).
* A hardware role names a `driver` (`sim` for the simulated one; real drivers come from `evse[hardware]` or
  third-party packages) and that driver's `params`. `evse config check` rejects a driver name the hardware
  registry does not know and lists the known ones.
* Secrets (passwords, tokens) are never logged; `Config.redacted()` is the view shown in logs and status.
* Examples: `config/sim.toml` (three simulated connectors) and `config/example-hardware.toml` (a template for real
  hardware).

This page is generated from the declarations in `evse/config/schema.py` and each component's `settings.py`;
after adding or changing a setting, regenerate it with `{REGENERATE}` (a test fails while it is stale).
"""


@dataclass
class Section:
    cls: type
    title: str
    paths: list[str] = field(default_factory=list)


def render() -> str:
    sections: dict[type, Section] = {}
    _collect(mi.type_info(Config), "", sections)
    parts = [INTRO]
    for section in sections.values():
        parts.append(_render_section(section, sections))
    return "\n".join(parts).rstrip() + "\n"


def _collect(info: mi.Type, path: str, sections: dict[type, Section]) -> None:
    info = _strip(info)
    if isinstance(info, mi.UnionType):
        for option in info.types:
            _collect(option, path, sections)
    elif isinstance(info, mi.ListType):
        _collect(info.item_type, f"{path}[]", sections)
    elif isinstance(info, mi.StructType):
        section = sections.get(info.cls)
        if section is None:
            section = sections[info.cls] = Section(info.cls, _title(info.cls))
        section.paths.append(path)
        for fld in info.fields:
            _collect(fld.type, f"{path}.{fld.encode_name}" if path else fld.encode_name, sections)


def _title(cls: type) -> str:
    doc = (cls.__doc__ or cls.__name__).strip().splitlines()[0]
    return doc.rstrip(".")


def _render_section(section: Section, sections: dict[type, Section]) -> str:
    info = mi.type_info(section.cls)
    assert isinstance(info, mi.StructType)
    where = (
        ", ".join(f"`{_toml_header(p)}`" for p in section.paths)
        if section.paths != [""]
        else "the top level of the file"
    )
    lines = [f"## {_heading(section)}", "", f"{section.title}. Where: {where}.", ""]
    lines += ["| key | type | default | unit | constraint | description |", "|---|---|---|---|---|---|"]
    for fld in info.fields:
        meta, typ = _meta(fld.type)
        desc = str((meta.extra_json_schema or {}).get("description", "")) if meta else ""
        unit = str((meta.extra or {}).get("unit", "")) if meta else ""
        nested = _struct_of(typ)
        if nested is not None:
            desc = f"{desc} (see [{_heading(sections[nested])}](#{_anchor(_heading(sections[nested]))}))".strip()
        cells = [f"`{fld.encode_name}`", _type_name(typ), _default(fld), unit, _constraint(typ), desc]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _heading(section: Section) -> str:
    if section.paths == [""]:
        return "Top level"
    if len(section.paths) == 1:
        return f"`{section.paths[0]}`"
    return f"`{section.cls.__name__}`"


def _toml_header(path: str) -> str:
    if path.endswith("[]"):
        return f"[[{path[:-2].replace('[]', '')}]]"
    return f"[{path.replace('[]', '')}]"


def _anchor(heading: str) -> str:
    text = heading.lower().replace(" ", "-")
    return "".join(ch for ch in text if ch.isalnum() or ch in "-_")


def _meta(info: mi.Type) -> tuple[mi.Metadata | None, mi.Type]:
    if isinstance(info, mi.Metadata):
        return info, info.type
    return None, info


def _strip(info: mi.Type) -> mi.Type:
    return info.type if isinstance(info, mi.Metadata) else info


def _struct_of(info: mi.Type) -> type | None:
    info = _strip(info)
    if isinstance(info, mi.StructType):
        return info.cls
    if isinstance(info, mi.ListType):
        return _struct_of(info.item_type)
    if isinstance(info, mi.UnionType):
        for option in info.types:
            found = _struct_of(option)
            if found is not None:
                return found
    return None


def _type_name(info: mi.Type) -> str:
    info = _strip(info)
    simple = {mi.IntType: "integer", mi.FloatType: "number", mi.StrType: "string", mi.BoolType: "boolean"}
    for cls, name in simple.items():
        if isinstance(info, cls):
            return name
    if isinstance(info, mi.LiteralType):
        return " \\| ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in info.values)
    if isinstance(info, mi.EnumType):
        return " \\| ".join(f'"{m.value}"' for m in info.cls)
    if isinstance(info, mi.ListType):
        return f"list of {_type_name(info.item_type)}"
    if isinstance(info, mi.DictType):
        return "table"
    if isinstance(info, mi.StructType):
        return "table"
    if isinstance(info, mi.UnionType):
        options = [o for o in info.types if not isinstance(o, mi.NoneType)]
        name = " or ".join(_type_name(o) for o in options)
        return f"{name} (optional)" if len(options) < len(info.types) else name
    if isinstance(info, mi.AnyType):
        return "any"
    return type(info).__name__


def _constraint(info: mi.Type) -> str:
    info = _strip(info)
    if isinstance(info, mi.UnionType):
        return "; ".join(filter(None, (_constraint(o) for o in info.types)))
    parts: list[str] = []
    for attr, op in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤"), ("multiple_of", "multiple of")):
        value = getattr(info, attr, None)
        if value is not None:
            parts.append(f"{op} {value}")
    min_length, max_length = getattr(info, "min_length", None), getattr(info, "max_length", None)
    if min_length == 1 and isinstance(info, mi.StrType):
        parts.append("not empty")
    elif min_length is not None:
        parts.append(f"length ≥ {min_length}")
    if max_length is not None:
        parts.append(f"length ≤ {max_length}")
    pattern = getattr(info, "pattern", None)
    if pattern is not None:
        parts.append(f"matches `{pattern}`")
    return ", ".join(parts)


def _default(fld: mi.Field) -> str:
    if fld.required:
        return "**required**"
    value: Any = fld.default if fld.default is not msgspec.NODEFAULT else fld.default_factory()
    if isinstance(value, msgspec.Struct):
        return "(table)"
    return _toml(msgspec.to_builtins(value))


def _toml(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, list):
        return "`[" + ", ".join(_toml(v).strip("`") for v in value) + "]`"
    if isinstance(value, dict):
        return "`{" + ", ".join(f"{k} = {_toml(v).strip('`')}" for k, v in value.items()) + "}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{value:.1f}`"
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("\n", " ").replace("|", "\\|").replace("\\\\|", "\\|")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evse.config.docs", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale instead of writing it")
    parser.add_argument("--output", type=Path, default=DOC_PATH, help=f"default: {DOC_PATH}")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: regenerate it with `{REGENERATE}`", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
