"""`evse config check FILE`: validate a configuration file and print every problem.
`evse config show FILE`: the effective configuration (every default filled in, secrets hidden)."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from typing import Any


def register(subparsers: Any) -> None:
    config = subparsers.add_parser(
        "config", help="check a configuration file or show its effective values", description="Configuration tools."
    )
    config_sub = config.add_subparsers(title="config commands", metavar="COMMAND", required=True)
    check = config_sub.add_parser(
        "check", help="validate FILE and print every problem with its key path and fix (exit 0 when valid)"
    )
    check.add_argument("file", metavar="FILE", help="TOML configuration file")
    check.set_defaults(func=check_command)
    show = config_sub.add_parser(
        "show", help="print the effective configuration of FILE (defaults filled in, secrets hidden) as JSON"
    )
    show.add_argument("file", metavar="FILE", help="TOML configuration file")
    show.set_defaults(func=show_command)


def check_command(args: argparse.Namespace) -> int:
    from evse.config.loader import load_config

    config = load_config(args.file)  # raises ConfigError with every problem: the CLI prints them
    standards = Counter(c.standard for c in config.connectors)
    summary = ", ".join(f"{n} {s}" for s, n in sorted(standards.items()))
    print(f"{args.file}: OK — station {config.station.id}, {len(config.connectors)} connector(s) ({summary})")
    return 0


def show_command(args: argparse.Namespace) -> int:
    from evse.config.loader import load_config

    print(json.dumps(load_config(args.file).redacted(), indent=2, ensure_ascii=False))
    return 0
