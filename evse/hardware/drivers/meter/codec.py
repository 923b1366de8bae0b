"""Modbus register values: one number spread over 1–4 16-bit registers, with a type, a word order and a scale."""

from __future__ import annotations

import struct

from evse.hardware.drivers.settings import MeterRegister

#: type → (struct format of the big-endian value, registers)
FORMATS: dict[str, tuple[str, int]] = {
    "u16": (">H", 1),
    "s16": (">h", 1),
    "u32": (">I", 2),
    "s32": (">i", 2),
    "u64": (">Q", 4),
    "s64": (">q", 4),
    "f32": (">f", 2),
    "f64": (">d", 4),
}


def register_count(spec: MeterRegister) -> int:
    return FORMATS[spec.type][1]


def decode(spec: MeterRegister, registers: list[int]) -> float:
    fmt, count = FORMATS[spec.type]
    if len(registers) < count:
        raise ValueError(f"{spec.type} needs {count} registers, got {len(registers)}")
    words = registers[:count]
    if spec.word_order == "little":
        words = list(reversed(words))
    raw = b"".join((w & 0xFFFF).to_bytes(2, "big") for w in words)
    (value,) = struct.unpack(fmt, raw)
    return float(value) * spec.scale


def encode(spec: MeterRegister, value: float) -> list[int]:
    """The registers a meter holds for `value` (in the value's unit) — the emulator's side."""
    fmt, count = FORMATS[spec.type]
    raw_value: float | int = value / spec.scale
    if not fmt.endswith(("f", "d")):
        raw_value = round(raw_value)
    raw = struct.pack(fmt, raw_value)
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, 2 * count, 2)]
    return list(reversed(words)) if spec.word_order == "little" else words


def decode_text(registers: list[int]) -> str:
    """ASCII text, 2 characters per register (high byte first), ended by the first NUL."""
    raw = b"".join((w & 0xFFFF).to_bytes(2, "big") for w in registers)
    return raw.split(b"\x00", 1)[0].decode("ascii", errors="replace")


def encode_text(text: str, registers: int) -> list[int]:
    raw = text.encode("ascii")[: 2 * registers].ljust(2 * registers, b"\x00")
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
