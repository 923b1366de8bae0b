"""Errors a user can cause: each ends the command with one clear sentence (never a traceback)."""

from __future__ import annotations

from dataclasses import dataclass

#: sysexits.h EX_USAGE: a bad command line or a missing input file
EXIT_USAGE = 64
#: sysexits.h EX_CONFIG: the configuration is invalid (systemd must not restart-loop on it)
EXIT_CONFIG = 78


class UserError(Exception):
    """A problem the user can fix (bad argument, missing file, unreachable device). The CLI prints the
    message and exits with `exit_code`, without a traceback."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a configuration: where (`connectors[1].max_current_a`), what, and how to fix it."""

    path: str
    message: str
    fix: str = ""

    def __str__(self) -> str:
        where = self.path or "(top level)"
        return f"{where}: {self.message}" + (f" — {self.fix}" if self.fix else "")


class ConfigError(UserError):
    """The configuration cannot be used. Carries every problem found, not just the first."""

    exit_code = EXIT_CONFIG

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        count = len(self.problems)
        lines = [f"{source}: {count} configuration problem{'s' if count != 1 else ''}"]
        lines += [f"  {p}" for p in self.problems]
        super().__init__("\n".join(lines))
