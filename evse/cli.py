"""The `evse` command line: `evse --version`, `evse --help`, and one subcommand family per area.

Each area contributes its subcommands from its own `evse/<area>/cli.py`, listed in `SUBCOMMAND_MODULES`. Such a
module exposes `register(subparsers) -> None`; each parser it adds gets a one-line `help=` (shown by
`evse --help`) and `set_defaults(func=handler)`, where `handler(args) -> int` returns the exit code.
Every command imports every listed module (argparse needs them all), so keep their module-level imports light and
import the heavy machinery inside the handler: it is the daemon's cold start that pays otherwise.

A handler reports a problem the user can fix by raising `UserError` (or `ConfigError`): the CLI prints its
message — one clear sentence naming the thing and the fix — and exits with its code, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from evse import __version__
from evse.config.errors import ConfigError, UserError

__all__ = ["SUBCOMMAND_MODULES", "ConfigError", "UserError", "build_parser", "main"]

#: modules contributing subcommands (`register(subparsers)`); add yours with a one-line edit
SUBCOMMAND_MODULES: list[str] = [
    "evse.daemon.cli",
    "evse.config.cli",
    "evse.diagnostics.cli",
    "evse.api.cli",
    "evse.sim.cli",
    "evse.ocpp.cli",
]

#: exit code of an unexpected internal error (a bug): the traceback is printed
EXIT_INTERNAL = 70  # sysexits.h EX_SOFTWARE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evse",
        description="Controller daemon for DC fast chargers (CCS, CHAdeMO, GB/T 27930) with OCPP 1.6J.",
    )
    parser.add_argument("--version", action="version", version=f"evse {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as error:  # one area's broken install must not take down `evse run`
            print(f"evse: warning: commands of {name} are unavailable ({error})", file=sys.stderr)
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "func", None)
    if handler is None:
        parser.print_help()
        return 0
    try:
        return int(handler(args))
    except ConfigError as error:
        print(f"evse: {error}", file=sys.stderr)
        return error.exit_code
    except UserError as error:
        print(f"evse: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
