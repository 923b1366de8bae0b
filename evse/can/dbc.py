"""The shipped DBC files read without cantools: messages, their unsigned little-endian signals, decode and encode.

The CHAdeMO and GB/T codecs need a DBC's bit positions, scales, offsets, ranges and units at run time — not the
generic machinery of cantools (multiplexing, big-endian and float signals, ARXML/KCD/SYM loaders, the J1939 and
diagnostics packages, python-can). Importing cantools and loading both DBCs through it costs the daemon ~5 MiB of
resident memory; this reader keeps ~0.2 MiB. The DBC stays the single source of the layouts, and operators still
open it in cantools or SavvyCAN unchanged (tests/can/test_dbc.py checks that this reader and cantools agree).

Scope: what a DBC states with `BO_`, `SG_` and `VAL_` for unsigned little-endian integer signals, which is every
signal the shipped DBCs have. A DBC with a multiplexed, big-endian, signed or float signal is refused with
`DbcError` naming the signal, rather than decoded wrongly. Values follow cantools' conventions, so the codecs see the
same numbers: an integer scale and offset give integer values, any other a float; `[0|0]` means no range.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

#: bit 31 of a `BO_` identifier marks a 29-bit (extended) frame (DBC file format, Vector "DBC File Format
#: Documentation" §8.1, message definitions)
EXTENDED_ID_FLAG = 0x8000_0000
_ID_MASK = 0x1FFF_FFFF

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_MESSAGE = re.compile(r"^BO_\s+(\d+)\s+(\w+)\s*:\s*(\d+)\s+(\w+)", re.M)
_SIGNAL = re.compile(
    r"^\s+SG_\s+(\w+)\s*(\S*)\s*:\s*(\d+)\|(\d+)@([01])([+-])\s*"
    rf"\(({_NUMBER}),({_NUMBER})\)\s*\[({_NUMBER})\|({_NUMBER})\]\s*\"([^\"]*)\"",
    re.M,
)
_CHOICES = re.compile(r"^VAL_\s+(\d+)\s+(\w+)\s", re.M)
_FLOAT_TYPE = re.compile(r"^SIG_VALTYPE_\s+(\d+)\s+(\w+)\s*:?\s*([12])", re.M)
#: a comment (`CM_ ... "text";`) may span lines and contain anything; it is removed before the statements are read
_COMMENT = re.compile(r'^CM_[^"]*"(?:[^"\\]|\\.)*"\s*;', re.M | re.S)
_STATEMENT = re.compile(r"^(BO_|\s+SG_)\s", re.M)


class DbcError(ValueError):
    """A DBC file this reader cannot take: unreadable, or a signal outside its scope."""


@dataclass(frozen=True, slots=True)
class DbcSignal:
    """One signal: `(payload as a little-endian integer >> start) & mask` is its raw value. Attribute names follow
    cantools' `Signal`."""

    name: str
    start: int
    length: int
    scale: float
    offset: float
    minimum: float | None
    maximum: float | None
    unit: str | None
    byte_order: str = "little_endian"
    is_signed: bool = False
    is_float: bool = False

    @property
    def mask(self) -> int:
        return (1 << self.length) - 1

    def to_scaled(self, raw: int) -> int | float:
        if self.scale == 1 and self.offset == 0:
            return raw  # cantools' identity conversion: the raw integer itself
        return raw * self.scale + self.offset

    def to_raw(self, value: float) -> int:
        """The raw value of a physical one, rounded like cantools' encoder (an integer scale divides exactly when
        it can)."""
        if isinstance(self.scale, int) and isinstance(self.offset, int):
            quotient, remainder = divmod(value - self.offset, self.scale)
            return round(quotient if remainder == 0 else (value - self.offset) / self.scale)
        return round((value - self.offset) / self.scale)


@dataclass(frozen=True, eq=False)
class DbcMessage:
    """One message (`BO_`): its identifier, payload length and signals. Hashable by identity (caches key on it)."""

    frame_id: int
    name: str
    length: int
    is_extended_frame: bool
    signals: tuple[DbcSignal, ...]
    _by_name: Mapping[str, DbcSignal] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {s.name: s for s in self.signals})

    def get_signal_by_name(self, name: str) -> DbcSignal:
        return self._by_name[name]

    def decode(self, data: bytes) -> dict[str, int | float]:
        """Every signal's physical value (scaled, choices not applied) from a payload of exactly `length` bytes."""
        if len(data) != self.length:
            raise DbcError(f"{self.name} has {self.length} bytes, got {len(data)}")
        value = int.from_bytes(data, "little")
        return {s.name: s.to_scaled((value >> s.start) & s.mask) for s in self.signals}

    def encode(self, values: Mapping[str, float]) -> bytes:
        """The payload carrying `values` (physical, one per signal, each within its field); unused bits are 0."""
        payload = 0
        for s in self.signals:
            raw = s.to_raw(values[s.name])
            if not 0 <= raw <= s.mask:
                raise DbcError(f"{self.name}.{s.name}: raw value {raw} does not fit in {s.length} bits")
            payload |= raw << s.start
        return payload.to_bytes(self.length, "little")


@dataclass(frozen=True)
class DbcDatabase:
    messages: tuple[DbcMessage, ...]

    def get_message_by_name(self, name: str) -> DbcMessage:
        for message in self.messages:
            if message.name == name:
                return message
        raise KeyError(name)

    def get_message_by_frame_id(self, frame_id: int) -> DbcMessage:
        for message in self.messages:
            if message.frame_id == frame_id:
                return message
        raise KeyError(frame_id)


@functools.cache
def load_dbc(path: Path) -> DbcDatabase:
    """The DBC at `path`, read once per process."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DbcError(f"cannot read the DBC {path}: {error}") from error
    return parse_dbc(text, str(path))


def parse_dbc(text: str, source: str = "<dbc>") -> DbcDatabase:
    text = _COMMENT.sub("", text)
    with_choices = {(int(m[1]), m[2]) for m in _CHOICES.finditer(text)}
    floats = {(int(m[1]), m[2]) for m in _FLOAT_TYPE.finditer(text)}
    messages: list[DbcMessage] = []
    bounds = [m.start() for m in _STATEMENT.finditer(text)] + [len(text)]
    current: tuple[int, str, int] | None = None
    signals: list[DbcSignal] = []
    for begin, end in itertools.pairwise(bounds):
        chunk = text[begin:end]
        if chunk.startswith("BO_"):
            if current is not None:
                messages.append(_message(current, signals))
            head = _MESSAGE.match(chunk)
            if head is None:
                raise DbcError(f"{source}: unreadable message definition {chunk.splitlines()[0]!r}")
            current, signals = (int(head[1]), head[2], int(head[3])), []
            continue
        sig = _SIGNAL.match(chunk)
        if sig is None or current is None:
            raise DbcError(f"{source}: unreadable signal definition {chunk.strip().splitlines()[0]!r}")
        name = sig[1]
        where = f"{source}: {current[1]}.{name}"
        if sig[2]:
            raise DbcError(f"{where} is multiplexed; only plain signals are supported")
        if sig[5] == "0" or sig[6] == "-" or (current[0], name) in floats:
            raise DbcError(f"{where} is not an unsigned little-endian integer; only those are supported")
        scale, offset = _number(sig[7]), _number(sig[8])
        if (current[0], name) not in with_choices and float(scale).is_integer() and float(offset).is_integer():
            scale, offset = int(scale), int(offset)  # cantools: integer scaling gives integer values
        no_range = sig[9] == sig[10] == "0"
        signals.append(
            DbcSignal(
                name=name,
                start=int(sig[3]),
                length=int(sig[4]),
                scale=scale,
                offset=offset,
                minimum=None if no_range else _number(sig[9]),
                maximum=None if no_range else _number(sig[10]),
                unit=sig[11] or None,
            )
        )
    if current is not None:
        messages.append(_message(current, signals))
    return DbcDatabase(tuple(messages))


def _message(head: tuple[int, str, int], signals: list[DbcSignal]) -> DbcMessage:
    dbc_id, name, length = head
    extended = bool(dbc_id & EXTENDED_ID_FLAG)
    return DbcMessage(dbc_id & _ID_MASK if extended else dbc_id, name, length, extended, tuple(signals))


def _number(text: str) -> int | float:
    """An integer when the text is one, else a float (as cantools reads DBC numbers)."""
    try:
        return int(text)
    except ValueError:
        return float(text)
