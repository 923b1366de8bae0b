"""Traces of CAN traffic in `candump -L` log format, written and read back.

The format is the one `candump -L` writes and `canplayer` replays: `(1700000000.123456) can0 1826F456#010100`.
A 29-bit identifier has eight hex digits, an 11-bit one three; the data are hex after `#` (`R` for a remote
frame, which we read as an empty payload). Operators already have the tools that read this (can-utils,
`cantools decode`, SavvyCAN), so a handshake trace captured by the daemon opens in them unchanged.

The reader is tolerant: blank lines and `#` comments are skipped, and a malformed line raises `CandumpError`
naming the line number, never a traceback from deep inside.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TextIO

from evse.can.channel import CanFrame

_LINE = re.compile(r"^\((?P<ts>[0-9]+(?:\.[0-9]*)?)\)\s+(?P<channel>\S+)\s+(?P<ident>[0-9A-Fa-f]+)#(?P<data>\S*)$")

#: identifiers written with more than three hex digits are 29-bit (candump's convention)
_STANDARD_ID_DIGITS = 3
_MAX_STANDARD_ID = 0x7FF
_MAX_EXTENDED_ID = 0x1FFFFFFF


class CandumpError(ValueError):
    """A line is not in `candump -L` format."""


def format_line(frame: CanFrame, channel: str = "can0") -> str:
    """One frame as one `candump -L` line (no newline)."""
    return frame.candump(channel)


def parse_line(line: str, line_number: int = 0) -> tuple[str, CanFrame]:
    """Parse one `candump -L` line into (channel, frame). Raises `CandumpError` on a malformed line."""
    match = _LINE.match(line.strip())
    where = f"line {line_number}: " if line_number else ""
    if match is None:
        raise CandumpError(f"{where}not a candump -L line (expected '(ts) can0 ID#DATA'): {line.strip()[:80]!r}")
    ident_text, data_text = match["ident"], match["data"]
    arbitration_id = int(ident_text, 16)
    extended = len(ident_text) > _STANDARD_ID_DIGITS
    if arbitration_id > (_MAX_EXTENDED_ID if extended else _MAX_STANDARD_ID):
        raise CandumpError(f"{where}identifier {ident_text} out of range")
    if data_text.upper().startswith("R"):
        data = b""
    else:
        if len(data_text) % 2:
            raise CandumpError(f"{where}odd number of hex digits in data {data_text!r}")
        try:
            data = bytes.fromhex(data_text)
        except ValueError as exc:
            raise CandumpError(f"{where}data is not hex: {data_text!r}") from exc
    frame = CanFrame(arbitration_id, data, is_extended_id=extended, timestamp_s=float(match["ts"]))
    return match["channel"], frame


def read_lines(lines: Iterable[str]) -> Iterator[CanFrame]:
    """The frames of a log, in order; blank lines and `#` comments are skipped."""
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        yield parse_line(text, number)[1]


def read_log(path: str) -> list[CanFrame]:
    """All frames of a `candump -L` log file."""
    with open(path, encoding="ascii") as stream:
        return list(read_lines(stream))


class CandumpWriter:
    """Appends frames to a text stream as `candump -L` lines; also keeps them in memory when asked
    (tests and the session trace want the lines without a file)."""

    def __init__(self, stream: TextIO | None = None, channel: str = "can0", keep: bool = False) -> None:
        self.stream = stream
        self.channel = channel
        self.lines: list[str] | None = [] if keep else None

    def write(self, frame: CanFrame) -> str:
        line = format_line(frame, self.channel)
        if self.stream is not None:
            self.stream.write(line + "\n")
        if self.lines is not None:
            self.lines.append(line)
        return line

    def flush(self) -> None:
        if self.stream is not None:
            self.stream.flush()
