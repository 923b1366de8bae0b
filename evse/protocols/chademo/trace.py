"""Read a CHAdeMO CAN trace (`candump -L` log) back as decoded messages: `python -m evse.protocols.chademo.trace
session.log` prints one line per frame. The same log opens in any DBC-aware tool with `chademo.dbc`."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Iterable, Iterator

from evse.can.candump import CandumpError, read_lines
from evse.can.channel import CanFrame
from evse.protocols.chademo import messages as m
from evse.protocols.chademo.codec import DBC_CAPACITY_KWH_PER_UNIT, ChademoCodec, CodecError

Decoded = m.VehicleMessage | m.ChargerMessage


def decode_frames(frames: Iterable[CanFrame], codec: ChademoCodec | None = None) -> Iterator[tuple[CanFrame, Decoded]]:
    """(frame, message) for every CHAdeMO frame; other identifiers are skipped, malformed frames raise
    `CodecError`."""
    codec = codec or ChademoCodec()
    for frame in frames:
        msg = codec.decode(frame)
        if msg is not None:
            yield frame, msg


def describe(frame: CanFrame, msg: Decoded) -> str:
    """One readable line: time, identifier, message name and its fields."""
    fields = []
    for f in dataclasses.fields(msg):
        value = getattr(msg, f.name)
        if f.name == "problems":
            if value:
                fields.append(f"problems={'; '.join(value)}")
            continue
        if isinstance(value, frozenset):
            value = ",".join(sorted(value)) or "-"
        fields.append(f"{f.name}={value}")
    return f"{frame.timestamp_s:12.6f} 0x{frame.arbitration_id:03X} {type(msg).__name__} " + " ".join(fields)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evse.protocols.chademo.trace", description=__doc__)
    parser.add_argument("log", help="candump -L log file ('-' for standard input)")
    parser.add_argument(
        "--capacity-kwh-per-unit", type=float, default=DBC_CAPACITY_KWH_PER_UNIT, help="0x101 capacity scale"
    )
    args = parser.parse_args(argv)
    try:
        stream = sys.stdin if args.log == "-" else open(args.log, encoding="ascii")
    except OSError as exc:
        print(f"cannot read {args.log}: {exc.strerror}; check the path.", file=sys.stderr)
        return 2
    with stream:
        try:
            for frame, msg in decode_frames(read_lines(stream), ChademoCodec(args.capacity_kwh_per_unit)):
                print(describe(frame, msg))
        except (CandumpError, CodecError) as exc:
            print(f"{args.log}: {exc}.", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
