"""J1939-21 transport, sans-I/O: both window behaviours, sequence errors, timers, BAM, filtering."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evse.can.channel import CanFrame
from evse.protocols.gbt.ids import BMS_ADDRESS, CHARGER_ADDRESS
from evse.protocols.gbt.transport import (
    ABORT,
    ABORT_BAD_SEQUENCE,
    ABORT_TIMEOUT,
    CTS,
    END_OF_MSG_ACK,
    TpOutput,
    TpTimers,
    Transport,
)

BRM_PGN = 0x0200
BRM = bytes(range(49))


def pair(**timers: float) -> tuple[Transport, Transport]:
    t = TpTimers(**timers)  # type: ignore[arg-type]
    return Transport(CHARGER_ADDRESS, BMS_ADDRESS, t), Transport(BMS_ADDRESS, CHARGER_ADDRESS, t)


def exchange(charger: Transport, bms: Transport, first: TpOutput, now: float = 0.0) -> tuple[TpOutput, list[str]]:
    """Shuttle frames between the two until quiet; return what the charger produced and a log of control bytes."""
    got = TpOutput()
    log: list[str] = []
    pending = [("bms", f) for f in first.frames]
    while pending:
        side, frame = pending.pop(0)
        log.append(f"{side}:{frame.data[0]:02X}" if frame.arbitration_id >> 16 & 0xFF == 0xEC else f"{side}:DT")
        if side == "bms":
            out = charger.feed(frame, now)
            got.extend(out)
            pending += [("charger", f) for f in out.frames]
        else:
            out = bms.feed(frame, now)
            pending += [("bms", f) for f in out.frames]
    return got, log


def test_one_packet_per_cts() -> None:
    charger, bms = pair()
    got, log = exchange(charger, bms, bms.send(BRM_PGN, BRM, 0.0, max_packets_per_cts=1))
    assert got.messages == [(BRM_PGN, BRM)]
    assert log.count("charger:11") == 7 and log.count("bms:DT") == 7 and log[-1] == "charger:13"


def test_rts_limit_is_honoured() -> None:
    charger, bms = pair()
    rts = bms.send(BRM_PGN, BRM, 0.0, max_packets_per_cts=2)
    assert rts.frames[0].data.hex() == "1031000702000200"
    first_cts = charger.feed(rts.frames[0], 0.0).frames[0]
    assert first_cts.data[:3] == bytes((CTS, 2, 1)) and first_cts.arbitration_id == 0x1CECF456


def test_all_at_once_bms_ignoring_the_cts_count() -> None:
    charger, bms = pair(max_packets_per_cts=1)
    rts = bms.send(BRM_PGN, BRM, 0.0, ignore_cts_count=True)
    got, log = exchange(charger, bms, rts)
    assert got.messages == [(BRM_PGN, BRM)]
    assert log.count("bms:DT") == 7 and log[-1] == "charger:13"


def test_out_of_sequence_packet_aborts() -> None:
    charger, bms = pair()
    rts = bms.send(BRM_PGN, BRM, 0.0)
    cts = charger.feed(rts.frames[0], 0.0)
    packets = bms.feed(cts.frames[0], 0.0).frames
    charger.feed(packets[0], 0.0)
    out = charger.feed(packets[2], 0.01)  # packet 2 lost
    assert out.aborts and out.aborts[0].reason == ABORT_BAD_SEQUENCE
    assert out.frames[0].data[:2] == bytes((ABORT, ABORT_BAD_SEQUENCE))
    assert not charger.receiving and out.messages == []


def test_duplicate_packet_is_ignored() -> None:
    charger, bms = pair()
    rts = bms.send(0x0600, bytes(13), 0.0)
    packets = bms.feed(charger.feed(rts.frames[0], 0.0).frames[0], 0.0).frames
    charger.feed(packets[0], 0.0)
    assert charger.feed(packets[0], 0.0) == TpOutput()
    assert charger.feed(packets[1], 0.0).messages == [(0x0600, bytes(13))]


def test_receiver_timeouts_abort() -> None:
    charger, bms = pair(t1_s=0.75, t2_s=1.25)
    rts = bms.send(BRM_PGN, BRM, 0.0)
    charger.feed(rts.frames[0], 0.0)
    assert charger.next_deadline() == 1.25  # T2 after our CTS
    assert charger.poll(1.2) == TpOutput()
    out = charger.poll(1.25)
    assert out.aborts[0].reason == ABORT_TIMEOUT and out.frames[0].data[0] == ABORT
    # T1 between packets
    charger.feed(rts.frames[0], 2.0)
    cts = bms.feed(charger.feed(rts.frames[0], 2.0).frames[0], 2.0)
    charger.feed(cts.frames[0], 2.0)
    assert charger.next_deadline() == 2.75


def test_sender_timeout_and_packet_spacing() -> None:
    charger, bms = pair(t3_s=1.25)
    rts = bms.send(BRM_PGN, BRM, 0.0, packet_interval_s=0.01)
    assert bms.next_deadline() == 1.25
    assert bms.poll(1.25).aborts[0].direction == "tx"
    rts = bms.send(BRM_PGN, BRM, 2.0, packet_interval_s=0.01)
    out = bms.feed(charger.feed(rts.frames[0], 2.0).frames[0], 2.0)
    assert len(out.frames) == 1  # the first packet at once, the rest spaced 10 ms
    assert bms.next_deadline() == pytest.approx(2.01)
    assert len(bms.poll(2.035).frames) == 3


def test_peer_abort_and_restart_by_new_rts() -> None:
    charger, bms = pair()
    rts = bms.send(BRM_PGN, BRM, 0.0)
    charger.feed(rts.frames[0], 0.0)
    again = charger.feed(rts.frames[0], 0.1)
    assert again.aborts[0].detail == "restarted by a new RTS" and again.frames[0].data[0] == CTS
    abort = bms.abort_send(0.2)
    out = charger.feed(abort.frames[0], 0.2)
    assert out.aborts[0].by == "peer" and not charger.receiving


def test_bam_reception() -> None:
    charger = Transport(CHARGER_ADDRESS, BMS_ADDRESS)
    cm = CanFrame(0x1CECFFF4, bytes((0x20, 13, 0, 2, 0xFF, 0x00, 0x06, 0x00)), True)
    assert charger.feed(cm, 0.0) == TpOutput()
    charger.feed(CanFrame(0x1CEBFFF4, bytes((1, *range(7))), True), 0.05)
    out = charger.feed(CanFrame(0x1CEBFFF4, bytes((2, *range(7, 13), 0xFF)), True), 0.1)
    assert out.messages == [(0x0600, bytes(range(13)))] and out.frames == []


def test_frames_from_other_ecus_are_ignored() -> None:
    charger, bms = pair()
    rts = bms.send(BRM_PGN, BRM, 0.0).frames[0]
    other_source = CanFrame(rts.arbitration_id & ~0xFF | 0xB5, rts.data, True)  # another ECU to 0x56
    other_dest = CanFrame(rts.arbitration_id & ~0xFF00 | 0xA0 << 8, rts.data, True)  # the BMS to someone else
    assert charger.feed(other_source, 0.0) == TpOutput() and charger.feed(other_dest, 0.0) == TpOutput()
    assert not charger.receiving


def test_end_of_message_ack_completes_the_sender() -> None:
    charger, bms = pair()
    rts = bms.send(0x1100, bytes(9), 0.0)
    packets = bms.feed(charger.feed(rts.frames[0], 0.0).frames[0], 0.0).frames
    charger.feed(packets[0], 0.0)
    ack = charger.feed(packets[1], 0.0).frames[0]
    assert ack.data[0] == END_OF_MSG_ACK and bms.feed(ack, 0.0).sent == [0x1100] and not bms.busy_sending


@settings(max_examples=80, deadline=None)
@given(
    payload=st.binary(min_size=9, max_size=300),
    per_cts=st.integers(1, 255),
    grant=st.integers(1, 255),
    ignore=st.booleans(),
)
def test_any_message_any_window(payload: bytes, per_cts: int, grant: int, ignore: bool) -> None:
    charger, bms = pair(max_packets_per_cts=grant)
    got, _ = exchange(
        charger, bms, bms.send(0x1500, payload, 0.0, max_packets_per_cts=per_cts, ignore_cts_count=ignore)
    )
    assert got.messages == [(0x1500, payload)] and got.aborts == []


@settings(max_examples=200, deadline=None)
@given(
    frames=st.lists(st.tuples(st.sampled_from([0x1CEC56F4, 0x1CEB56F4, 0x1CECFFF4, 0x1CEBFFF4]), st.binary(max_size=8)))
)
def test_arbitrary_frames_never_crash(frames: list[tuple[int, bytes]]) -> None:
    charger = Transport(CHARGER_ADDRESS, BMS_ADDRESS)
    for i, (ident, data) in enumerate(frames):
        charger.feed(CanFrame(ident, data, True), i * 0.1)
        charger.poll(i * 0.1)
