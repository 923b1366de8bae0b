"""Yeti-family board protocol: the COBS + CRC-32 framing and the protobuf message set (no I/O)."""

from __future__ import annotations

import asyncio
import zlib

from cobs import cobs
from hypothesis import given
from hypothesis import strategies as st

from evse.hardware.drivers.yeti import messages as m
from evse.hardware.drivers.yeti.framing import MAX_FRAME_BYTES, FrameDecoder, encode_frame, jamcrc
from evse.hardware.drivers.yeti.link import BoardLink
from evse.hardware.drivers.yeti.settings import YetiBoardSettings


def test_jamcrc_is_crc32_without_final_inversion() -> None:
    assert jamcrc(b"123456789") == 0x340BC6D9  # the catalogued check value of CRC-32/JAMCRC
    data = b"\x08\x01\x10\x02"
    assert jamcrc(data) == zlib.crc32(data) ^ 0xFFFFFFFF
    # the receiver's rule: CRC over message and its little-endian CRC is 0
    assert jamcrc(data + jamcrc(data).to_bytes(4, "little")) == 0


def test_a_frame_is_cobs_of_message_and_crc_ended_by_zero() -> None:
    message = m.to_mcu("pwm_duty_cycle", 500, 2)
    assert message == bytes.fromhex("20f4033802")  # field 4 varint 500, field 7 varint 2
    frame = encode_frame(message)
    assert frame.endswith(b"\x00") and b"\x00" not in frame[:-1]
    assert cobs.decode(frame[:-1]) == message + jamcrc(message).to_bytes(4, "little")


@given(st.lists(st.binary(max_size=300), max_size=5))
def test_frames_round_trip_in_any_chunking(messages: list[bytes]) -> None:
    stream = b"".join(encode_frame(x) for x in messages)
    decoder = FrameDecoder()
    out: list[bytes] = []
    for i in range(0, len(stream), 7):
        out += decoder.feed(stream[i : i + 7])
    assert out == messages and decoder.bad_frames == 0


@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_crash_and_the_next_frame_still_decodes(noise: bytes) -> None:
    decoder = FrameDecoder()
    decoder.feed(noise)
    message = m.to_host("cp_state", m.CpState.STATE_C, 1)
    # after noise, one delimiter resynchronises; the frame after it is intact
    assert decoder.feed(b"\x00" + encode_frame(message)) == [message]


@given(st.binary(min_size=1, max_size=200))
def test_arbitrary_messages_never_crash_the_message_decoder(data: bytes) -> None:
    try:
        which, _value, connector = m.parse_from_mcu(data)
    except m.MessageError:
        return
    assert which is None or which in {field[0] for field in m.MESSAGES["McuToEverest"]}
    assert isinstance(connector, int)


def test_corrupted_overlong_and_short_frames_are_counted_and_dropped() -> None:
    decoder = FrameDecoder()
    frame = bytearray(encode_frame(m.to_host("keep_alive", m.new("KeepAlive", sw_version_string="1.0"))))
    frame[3] ^= 0x04
    assert decoder.feed(bytes(frame)) == [] and decoder.bad_frames == 1
    assert decoder.feed(b"\x01" * (MAX_FRAME_BYTES + 10) + b"\x00") == [] and decoder.bad_frames == 2
    assert decoder.feed(b"\x02\x05\x00") == [] and decoder.bad_frames == 3  # shorter than its CRC
    assert decoder.feed(b"\x00\x00") == [] and decoder.bad_frames == 3  # empty frames are resync padding


@given(
    st.sampled_from(list(m.CpState)),
    st.integers(0, 2),
    st.integers(0, 2**32 - 1),
    st.booleans(),
)
def test_board_messages_round_trip(state: m.CpState, connector: int, level: int, flag: bool) -> None:
    assert m.parse_from_mcu(m.to_host("cp_state", state, connector)) == ("cp_state", state, connector)
    which, value, _ = m.parse_from_mcu(m.to_host("telemetry", m.new("Telemetry", cp_voltage_hi=level), connector))
    assert which == "telemetry" and value.cp_voltage_hi == level
    which, value, _ = m.parse_from_mcu(m.to_host("error_flags", m.new("ErrorFlags", diode_fault=flag), connector))
    assert which == "error_flags" and value.diode_fault == flag


def test_field_numbers_are_the_published_ones() -> None:
    """A few wire bytes pinned: a renumbered field would break every real board."""
    coil = m.new("CoilState", coil_type=m.CoilType.COIL_DC1, coil_state=True)
    assert m.to_mcu("set_coil_state_request", coil, 1) == bytes.fromhex("2a04080210013801")
    assert m.to_mcu("connector_lock", True, 2) == bytes.fromhex("18013802")
    assert m.to_mcu("reset", True) == bytes.fromhex("3001")
    assert m.to_host("reset", m.ResetReason.WATCHDOG) == bytes.fromhex("1001")
    assert m.to_host("lock_state", m.LockState.LOCKED, 1) == bytes.fromhex("30015002")  # fields go out in number order
    assert m.to_host("config_request", m.new("BootConfigRequest")) == bytes.fromhex("5a00")


class _NullTransport:
    def set_receiver(self, receiver: object) -> None:
        pass

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


_BOARD_PAYLOADS = [f[0] for f in m.MESSAGES["McuToEverest"] if f[4]]


def _feed_link(frames: list[bytes]) -> BoardLink:
    async def run() -> BoardLink:
        link = BoardLink(_NullTransport(), YetiBoardSettings(port="fuzz", reset_on_start=False))
        for frame in frames:
            link._received(frame)
        link.shutdown()
        return link

    return asyncio.run(run())


@given(st.lists(st.binary(max_size=60), max_size=8))
def test_any_framed_bytes_never_crash_the_board_link(payloads: list[bytes]) -> None:
    """Valid frames around arbitrary bytes: protobuf errors, unknown payloads and connectors are all survivable."""
    link = _feed_link([encode_frame(p) for p in payloads])
    assert link.decoder.good_frames == len(payloads)


@given(
    st.lists(
        st.tuples(st.sampled_from(_BOARD_PAYLOADS), st.integers(-3, 5), st.integers(0, 2**32 - 1), st.booleans()),
        max_size=10,
    )
)
def test_any_board_message_with_any_values_never_crashes_the_link(
    messages: list[tuple[str, int, int, bool]],
) -> None:
    frames = []
    for payload, connector, number, flag in messages:
        frames.append(encode_frame(m.to_host(payload, _value(payload, number, flag), connector)))
    link = _feed_link(frames)
    for state in link.connectors.values():
        assert state.cp_state is None or state.cp_state in m.CpState


def _value(payload: str, number: int, flag: bool) -> object:
    field = next(f for f in m.MESSAGES["McuToEverest"] if f[0] == payload)
    if field[2] == m.E:
        return number % 64 - 2  # any enum number, known or not (proto3 enums are open)
    kind = field[3]
    if kind == "Telemetry":
        return m.new(kind, cp_voltage_hi=number, cp_voltage_lo=number)
    if kind == "CoilState":
        return m.new(kind, coil_type=number % 7, coil_state=flag)
    if kind == "ErrorFlags":
        return m.new(kind, diode_fault=flag, cp_signal_fault=not flag)
    if kind == "Temperature":
        return m.new(kind, temp=[number, number // 2])
    if kind == "FanState":
        return m.new(kind, fan_id=number % 4, rpm=number)
    return m.new(kind)
