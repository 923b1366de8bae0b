"""candump -L writer and reader: round trip, tolerance, clear errors."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evse.can.candump import CandumpError, CandumpWriter, parse_line, read_lines
from evse.can.channel import CanFrame


def test_known_line_parses() -> None:
    channel, frame = parse_line("(1700000000.123456) can0 1826F456#010100")
    assert channel == "can0"
    assert frame == CanFrame(0x1826F456, b"\x01\x01\x00", True, 1700000000.123456)


def test_standard_id_and_remote_frame() -> None:
    _, frame = parse_line("(0.5) vcan1 108#R")
    assert frame.arbitration_id == 0x108 and not frame.is_extended_id and frame.data == b""


@pytest.mark.parametrize("bad", ["can0 108#00", "(1.0) can0 108#0", "(1.0) can0 108#ZZ", "(1.0) can0 FFF#00"])
def test_malformed_lines_raise_clear_error(bad: str) -> None:
    with pytest.raises(CandumpError):
        parse_line(bad, 7)


def test_reader_skips_comments_and_names_line() -> None:
    text = "# trace\n\n(1.0) can0 1826F456#010100\n(2.0) can0 garbage\n"
    frames = read_lines(text.splitlines())
    assert next(frames).arbitration_id == 0x1826F456
    with pytest.raises(CandumpError, match="line 4"):
        next(frames)


frames_st = st.builds(
    lambda ext, ident, data, ts: CanFrame(ident if ext else ident & 0x7FF, data, ext, round(ts, 6)),
    st.booleans(),
    st.integers(0, 0x1FFFFFFF),
    st.binary(max_size=8),
    st.floats(0, 2e9, allow_nan=False),
)


@given(st.lists(frames_st, max_size=20))
def test_round_trip(frames: list[CanFrame]) -> None:
    stream = io.StringIO()
    writer = CandumpWriter(stream, keep=True)
    for frame in frames:
        writer.write(frame)
    back = list(read_lines(stream.getvalue().splitlines()))
    assert [(f.arbitration_id, f.data, f.is_extended_id) for f in back] == [
        (f.arbitration_id, f.data, f.is_extended_id) for f in frames
    ]
    assert all(abs(a.timestamp_s - b.timestamp_s) < 1e-5 for a, b in zip(back, frames, strict=True))
    assert writer.lines is not None and len(writer.lines) == len(frames)


@given(st.text(max_size=60))
def test_arbitrary_text_never_crashes(text: str) -> None:
    try:
        parse_line(text)
    except CandumpError:
        pass
