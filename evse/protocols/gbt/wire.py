"""What every typed GB/T message shares: the DBC, the `GbtMessage` base, ASCII and BCD fields.

Rules (the codec's, see `evse.protocols.gbt.codec`):
* The DBC (`gbt27930.dbc`) is the single source of bit positions, scales, offsets and ranges; typed messages only
  map fields to DBC signals (`SIGNALS`) and add what a DBC cannot say (ASCII strings, BCD time, arrays).
* Current fields (DBC offset −400 A) carry the *magnitude* (positive = charging); the wire keeps the standard's
  coding (0.1 A/bit, −400 A offset, charging negative).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import cantools
from cantools.database.can import Database, Message

from evse.protocols.gbt.ids import Pgn

DBC_PATH = Path(__file__).with_name("gbt27930.dbc")

#: recognition / readiness byte values (CRM B1, BRO/CRO B1)
NOT_READY = 0x00
READY = 0xAA
#: two-bit status codes: 00 normal, 01 abnormal / reached / timeout, 10 untrustworthy, 11 not available
STATUS_NORMAL, STATUS_SET, STATUS_UNTRUSTWORTHY = 0, 1, 2


class GbtDecodeError(ValueError):
    """A payload cannot be decoded as the message it claims to be."""


@functools.cache
def database() -> Database:
    """The GB/T DBC, loaded once per process. Without cantools' strict checks (signal overlaps, ranges): they take
    ~0.5 s on this DBC, a pause of the event loop every connector shares; the shipped file passes them
    (tests/gbt/test_codec.py loads it strictly)."""
    db = cantools.database.load_file(str(DBC_PATH), strict=False)
    assert isinstance(db, Database)
    return db


@functools.cache
def dbc_message(name: str) -> Message:
    return database().get_message_by_name(name)


@dataclass(frozen=True, slots=True)
class SignalLayout:
    """Where one DBC signal sits in its payload, precomputed: every GB/T signal is little-endian and unsigned, so a
    payload is one little-endian integer and a signal is `(value >> start) & mask` — the codec's hot path needs no
    generic DBC machinery (cantools costs tens of microseconds a frame)."""

    name: str
    start: int
    length: int
    scale: float
    offset: float
    minimum: float | None
    maximum: float | None

    @property
    def mask(self) -> int:
        return (1 << self.length) - 1


@functools.cache
def signal_layouts(message: Message) -> dict[str, SignalLayout]:
    """The layout of every signal of `message`, by signal name."""
    layouts: dict[str, SignalLayout] = {}
    for signal in message.signals:
        if signal.byte_order != "little_endian" or signal.is_signed or signal.is_float:
            raise ValueError(f"{message.name}.{signal.name}: the GB/T codec expects unsigned little-endian integers")
        layouts[signal.name] = SignalLayout(
            signal.name, signal.start, signal.length, signal.scale, signal.offset, signal.minimum, signal.maximum
        )
    return layouts


def raw_signals(message: Message, data: bytes) -> dict[str, int]:
    """Unscaled signal values of `data` (truncated payloads decode the signals they contain)."""
    size = min(len(data), message.length)
    bits = size * 8
    value = int.from_bytes(data[:size], "little")
    return {
        s.name: (value >> s.start) & ((1 << s.length) - 1)
        for s in signal_layouts(message).values()
        if s.start + s.length <= bits
    }


def pack_raw(message: Message, raws: dict[str, int]) -> bytes:
    """A payload of `message` with the given unscaled signal values; every other bit is 1 (GB/T's reserved
    filler)."""
    value = (1 << (message.length * 8)) - 1
    layouts = signal_layouts(message)
    for name, raw in raws.items():
        s = layouts[name]
        mask = (1 << s.length) - 1
        value = (value & ~(mask << s.start)) | ((raw & mask) << s.start)
    return value.to_bytes(message.length, "little")


class GbtMessage:
    """Base of the typed messages: a frozen dataclass with `SIGNALS` mapping field → DBC signal."""

    PGN: ClassVar[Pgn]
    SIGNALS: ClassVar[Mapping[str, str]] = {}
    #: shortest payload accepted on reception (default: the DBC length)
    MIN_LENGTH: ClassVar[int | None] = None
    invalid: tuple[str, ...]

    @classmethod
    def extra_fields(cls, data: bytes) -> dict[str, Any]:
        """Fields a DBC cannot express (strings, BCD, arrays), decoded from the raw payload."""
        return {}

    def extra_bytes(self, payload: bytearray) -> bytearray:
        """Write the fields a DBC cannot express into an encoded payload; may return a resized payload."""
        return payload

    def wire_length(self) -> int:
        return dbc_message(self.PGN.name).length


#: GB/T current coding: 0.1 A/bit with −400 A offset, charging current negative (codec presents the magnitude)
CURRENT_OFFSET_A = -400.0


def is_current(signal_offset: float) -> bool:
    """A signal in the −400 A current coding (the DBC's offset says so)."""
    return signal_offset == CURRENT_OFFSET_A


def ascii_field(data: bytes, start: int, length: int) -> str:
    """Printable ASCII of `data[start:start+length]`, padding (0x00/0xFF/space) stripped; other bytes as '?'."""
    chunk = data[start : start + length]
    text = "".join(chr(b) if 0x20 <= b < 0x7F else ("" if b in (0x00, 0xFF) else "?") for b in chunk)
    return text.strip()


def put_ascii(payload: bytearray, start: int, length: int, text: str) -> None:
    raw = text.encode("ascii", "replace")[:length]
    payload[start : start + length] = raw + b"\xff" * (length - len(raw))


def _bcd(byte: int) -> int | None:
    high, low = byte >> 4, byte & 0xF
    return None if high > 9 or low > 9 else high * 10 + low


def _to_bcd(value: int) -> int:
    return (value // 10) << 4 | value % 10


def bcd_time(data: bytes) -> dt.datetime | None:
    """CTS B1–B7 (second, minute, hour, day, month, year low, year high) → a naive datetime, or None when the
    charger sent all-0xFF or invalid BCD (both happen in the field)."""
    if len(data) < 7:
        return None
    digits = [_bcd(b) for b in data[:7]]
    if any(d is None for d in digits):
        return None
    second, minute, hour, day, month, year_low, year_high = (d or 0 for d in digits)
    try:
        return dt.datetime(year_high * 100 + year_low, month, day, hour, minute, second)
    except ValueError:
        return None


def bcd_bytes(when: dt.datetime) -> bytes:
    fields = (when.second, when.minute, when.hour, when.day, when.month, when.year % 100, when.year // 100)
    return bytes(_to_bcd(v) for v in fields)
