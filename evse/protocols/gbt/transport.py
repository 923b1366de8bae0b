"""J1939-21 transport protocol between two fixed addresses, sans-I/O.

Theory of operation
-------------------
`Transport(local, peer, timers)` is fed every received frame (`feed(frame, now)`) and polled when its deadline
passes (`poll(now)`); both return a `TpOutput`: frames to send now, completed messages, aborted transfers. It never
reads a clock or sleeps, so the caller decides how time passes (the event loop, a virtual clock, a test).

* Receiving (connection mode): RTS → we answer CTS at once granting `min(RTS max-per-CTS, our max, remaining)`
  packets; data packets must come in sequence; when a window is complete we send the next CTS, when all are in we
  send EndOfMsgAck and hand the message up. Packets beyond the window but in sequence are accepted (BMSs that send
  everything on the first CTS); a duplicate is ignored; a gap aborts (reason 7, bad sequence number).
* Receiving BAM: packets collected in sequence, the message handed up after the last one; a gap drops it.
* Sending (the simulated BMS): RTS → per CTS send the granted packets, spaced `packet_interval_s` apart →
  EndOfMsgAck completes. With `ignore_cts_count` it behaves like BMSs that send every packet on the first CTS
  and take no notice of the CTSs that follow.
* Timers (J1939-21 §5.10.2.4, configurable): T1 gap between data packets, T2 data after our CTS, T3 CTS/ack after
  our data, T4 next CTS after a hold (CTS 0). Expiry sends Abort (reason 3, timeout) and reports it.
* A new RTS for a transfer in progress restarts it (BMSs retry that way after their own abort).
Only frames from `peer` to `local` (or global, for BAM) are looked at: filter on source and destination.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from evse.can.channel import CanFrame
from evse.protocols.gbt.ids import PGN_TP_CM, PGN_TP_DT, TP_PRIORITY, frame_id, parse_id

# TP.CM control bytes (J1939-21 §5.10.3)
RTS = 0x10
CTS = 0x11
END_OF_MSG_ACK = 0x13
BAM = 0x20
ABORT = 0xFF
# Abort reasons (J1939-21 table 7)
ABORT_BUSY = 1
ABORT_TIMEOUT = 3
ABORT_BAD_SEQUENCE = 7

GLOBAL_ADDRESS = 0xFF
_DT_PAYLOAD = 7
_FILL = 0xFF
#: largest message J1939-21 can carry (255 packets × 7 bytes)
MAX_MESSAGE_BYTES = 1785


@dataclass(frozen=True, slots=True)
class TpTimers:
    """J1939-21 timers in seconds (generic J1939 values by default)."""

    tr_s: float = 0.2
    th_s: float = 0.5
    t1_s: float = 0.75
    t2_s: float = 1.25
    t3_s: float = 1.25
    t4_s: float = 1.05
    max_packets_per_cts: int = 255


@dataclass(frozen=True, slots=True)
class TpAbort:
    pgn: int
    reason: int
    #: "rx" (a transfer to us) or "tx" (ours); who aborted: "local" or "peer"
    direction: str
    by: str
    detail: str


@dataclass(slots=True)
class TpOutput:
    frames: list[CanFrame] = field(default_factory=list)
    messages: list[tuple[int, bytes]] = field(default_factory=list)
    aborts: list[TpAbort] = field(default_factory=list)
    #: PGNs of our transfers the peer acknowledged
    sent: list[int] = field(default_factory=list)

    def extend(self, other: TpOutput) -> None:
        self.frames.extend(other.frames)
        self.messages.extend(other.messages)
        self.aborts.extend(other.aborts)
        self.sent.extend(other.sent)


@dataclass(slots=True)
class _Receive:
    pgn: int
    size: int
    packets: int
    max_per_cts: int
    bam: bool
    chunks: list[bytes] = field(default_factory=list)
    window_end: int = 0  # last packet number granted by the current CTS
    deadline: float = 0.0

    @property
    def next_packet(self) -> int:
        return len(self.chunks) + 1


@dataclass(slots=True)
class _Send:
    pgn: int
    data: bytes
    packets: int
    ignore_cts_count: bool
    packet_interval_s: float
    deadline: float = 0.0
    #: data packets granted but not yet sent, with their due time
    queue: list[tuple[float, int]] = field(default_factory=list)
    held: bool = False
    highest_queued: int = 0


def _u24(data: bytes, offset: int) -> int:
    return data[offset] | data[offset + 1] << 8 | data[offset + 2] << 16


def _pgn_bytes(pgn: int) -> bytes:
    return bytes((pgn & 0xFF, (pgn >> 8) & 0xFF, (pgn >> 16) & 0xFF))


class Transport:
    """One J1939-21 endpoint talking to one peer (see the module docstring)."""

    def __init__(self, local: int, peer: int, timers: TpTimers | None = None) -> None:
        self.local = local
        self.peer = peer
        self.timers = timers or TpTimers()
        self._rx: _Receive | None = None
        self._bam: _Receive | None = None
        self._tx: _Send | None = None
        self._cm_id = frame_id(PGN_TP_CM, local, peer, TP_PRIORITY)
        self._dt_id = frame_id(PGN_TP_DT, local, peer, TP_PRIORITY)

    # ---- queries
    @property
    def busy_sending(self) -> bool:
        return self._tx is not None

    @property
    def receiving(self) -> bool:
        return self._rx is not None or self._bam is not None

    def next_deadline(self) -> float | None:
        """The earliest loop time at which `poll` has something to do, None if idle."""
        earliest: float | None = None
        for at in (
            None if self._rx is None else self._rx.deadline,
            None if self._bam is None else self._bam.deadline,
            None if self._tx is None else (self._tx.queue[0][0] if self._tx.queue else self._tx.deadline),
        ):
            if at is not None and (earliest is None or at < earliest):
                earliest = at
        return earliest

    # ---- input
    def is_transport_frame(self, frame: CanFrame) -> bool:
        """A TP.CM/TP.DT frame from our peer to us (or to all, for BAM)."""
        if not frame.is_extended_id:
            return False
        ident = parse_id(frame.arbitration_id)
        return (
            ident.pgn in (PGN_TP_CM, PGN_TP_DT)
            and ident.source == self.peer
            and ident.destination in (self.local, GLOBAL_ADDRESS)
        )

    def feed(self, frame: CanFrame, now: float) -> TpOutput:
        out = TpOutput()
        if not self.is_transport_frame(frame) or not frame.data:
            return out
        ident = parse_id(frame.arbitration_id)
        if ident.pgn == PGN_TP_CM:
            self._on_cm(frame.data, now, out)
        else:
            self._on_dt(frame.data, ident.destination == GLOBAL_ADDRESS, now, out)
        return out

    def poll(self, now: float) -> TpOutput:
        out = TpOutput()
        if self._rx is not None and now >= self._rx.deadline:
            self._abort_rx(self._rx.pgn, ABORT_TIMEOUT, "no data packet in time (T1/T2)", out)
        if self._bam is not None and now >= self._bam.deadline:
            out.aborts.append(TpAbort(self._bam.pgn, ABORT_TIMEOUT, "rx", "local", "BAM packet gap (T1)"))
            self._bam = None
        tx = self._tx
        if tx is not None:
            while tx.queue and tx.queue[0][0] <= now:
                self._send_packet(tx, tx.queue.pop(0)[1], now, out)
            if not tx.queue and now >= tx.deadline:
                self._send_abort(tx.pgn, ABORT_TIMEOUT, out)
                out.aborts.append(TpAbort(tx.pgn, ABORT_TIMEOUT, "tx", "local", "no CTS or ack in time (T3/T4)"))
                self._tx = None
        return out

    # ---- sending
    def send(
        self,
        pgn: int,
        data: bytes,
        now: float,
        *,
        max_packets_per_cts: int = 0xFF,
        ignore_cts_count: bool = False,
        packet_interval_s: float = 0.0,
    ) -> TpOutput:
        """Start a connection-mode transfer of `data` (9..1785 bytes) to the peer with an RTS."""
        if not 8 < len(data) <= MAX_MESSAGE_BYTES:
            raise ValueError(f"a TP message has 9..{MAX_MESSAGE_BYTES} bytes, not {len(data)}")
        out = TpOutput()
        if self._tx is not None:
            self._send_abort(self._tx.pgn, ABORT_BUSY, out)
            out.aborts.append(TpAbort(self._tx.pgn, ABORT_BUSY, "tx", "local", "replaced by a new transfer"))
        packets = -(-len(data) // _DT_PAYLOAD)
        self._tx = _Send(pgn, bytes(data), packets, ignore_cts_count, packet_interval_s, now + self.timers.t3_s)
        size = len(data)
        rts = bytes((RTS, size & 0xFF, size >> 8, packets, max_packets_per_cts & 0xFF)) + _pgn_bytes(pgn)
        out.frames.append(CanFrame(self._cm_id, rts, True))
        return out

    def abort_send(self, now: float) -> TpOutput:
        """Abort our transfer in progress (fault injection, shutdown)."""
        out = TpOutput()
        if self._tx is not None:
            self._send_abort(self._tx.pgn, ABORT_TIMEOUT, out)
            self._tx = None
        return out

    # ---- internals
    def _on_cm(self, data: bytes, now: float, out: TpOutput) -> None:
        data = data + bytes(8 - len(data)) if len(data) < 8 else data
        control, pgn = data[0], _u24(data, 5)
        if control == RTS:
            size, packets = data[1] | data[2] << 8, data[3]
            if packets == 0 or not (packets - 1) * _DT_PAYLOAD < size <= packets * _DT_PAYLOAD:
                self._send_abort(pgn, ABORT_BUSY, out)  # an RTS we cannot make sense of
                return
            if self._rx is not None:
                out.aborts.append(TpAbort(self._rx.pgn, ABORT_BUSY, "rx", "peer", "restarted by a new RTS"))
            max_per_cts = data[4] if data[4] not in (0, 0xFF) else packets
            self._rx = _Receive(pgn, size, packets, max_per_cts, bam=False)
            self._grant(self._rx, now, out)
        elif control == BAM:
            size, packets = data[1] | data[2] << 8, data[3]
            if packets and (packets - 1) * _DT_PAYLOAD < size <= packets * _DT_PAYLOAD:
                self._bam = _Receive(pgn, size, packets, packets, bam=True, deadline=now + self.timers.t1_s)
        elif control == CTS:
            self._on_cts(data[1], data[2], pgn, now, out)
        elif control == END_OF_MSG_ACK:
            if self._tx is not None and self._tx.pgn == pgn:
                out.sent.append(pgn)
                self._tx = None
        elif control == ABORT:
            if self._tx is not None and self._tx.pgn == pgn:
                out.aborts.append(TpAbort(pgn, data[1], "tx", "peer", f"peer aborted (reason {data[1]})"))
                self._tx = None
            if self._rx is not None and self._rx.pgn == pgn:
                out.aborts.append(TpAbort(pgn, data[1], "rx", "peer", f"peer aborted (reason {data[1]})"))
                self._rx = None

    def _grant(self, rx: _Receive, now: float, out: TpOutput) -> None:
        count = min(rx.max_per_cts, self.timers.max_packets_per_cts, rx.packets - len(rx.chunks))
        rx.window_end = len(rx.chunks) + count
        cts = bytes((CTS, count, rx.next_packet, _FILL, _FILL)) + _pgn_bytes(rx.pgn)
        out.frames.append(CanFrame(self._cm_id, cts, True))
        rx.deadline = now + self.timers.t2_s

    def _on_dt(self, data: bytes, broadcast: bool, now: float, out: TpOutput) -> None:
        session = self._bam if broadcast else self._rx
        if session is None:
            return
        sequence = data[0]
        if sequence < session.next_packet:
            return  # a duplicate: ignored
        if sequence > session.next_packet:
            detail = f"packet {sequence} where {session.next_packet} was due"
            if session.bam:
                out.aborts.append(TpAbort(session.pgn, ABORT_BAD_SEQUENCE, "rx", "local", f"BAM {detail}"))
                self._bam = None
            else:
                self._abort_rx(session.pgn, ABORT_BAD_SEQUENCE, detail, out)
            return
        session.chunks.append(bytes(data[1:8]))
        session.deadline = now + self.timers.t1_s
        if len(session.chunks) == session.packets:
            out.messages.append((session.pgn, b"".join(session.chunks)[: session.size]))
            if session.bam:
                self._bam = None
            else:
                ack = bytes((END_OF_MSG_ACK, session.size & 0xFF, session.size >> 8, session.packets, _FILL))
                out.frames.append(CanFrame(self._cm_id, ack + _pgn_bytes(session.pgn), True))
                self._rx = None
        elif not session.bam and len(session.chunks) == session.window_end:
            self._grant(session, now, out)

    def _on_cts(self, count: int, next_packet: int, pgn: int, now: float, out: TpOutput) -> None:
        tx = self._tx
        if tx is None or tx.pgn != pgn:
            return
        if count == 0:
            tx.held, tx.deadline = True, now + self.timers.t4_s
            return
        tx.held = False
        if tx.ignore_cts_count:
            # such a BMS sends everything on the first CTS and takes no notice of later ones
            if next_packet <= tx.highest_queued:
                return
            last = tx.packets
        else:
            last = min(tx.packets, next_packet + count - 1)
        tx.highest_queued = max(tx.highest_queued, last)
        due = now
        tx.queue = []
        for number in range(max(1, next_packet), last + 1):
            tx.queue.append((due, number))
            due += tx.packet_interval_s
        while tx.queue and tx.queue[0][0] <= now:
            self._send_packet(tx, tx.queue.pop(0)[1], now, out)

    def _send_packet(self, tx: _Send, number: int, now: float, out: TpOutput) -> None:
        chunk = tx.data[(number - 1) * _DT_PAYLOAD : number * _DT_PAYLOAD]
        payload = bytes((number,)) + chunk + bytes([_FILL] * (_DT_PAYLOAD - len(chunk)))
        out.frames.append(CanFrame(self._dt_id, payload, True))
        tx.deadline = now + self.timers.t3_s

    def _abort_rx(self, pgn: int, reason: int, detail: str, out: TpOutput) -> None:
        self._send_abort(pgn, reason, out)
        out.aborts.append(TpAbort(pgn, reason, "rx", "local", detail))
        self._rx = None

    def _send_abort(self, pgn: int, reason: int, out: TpOutput) -> None:
        payload = bytes((ABORT, reason, _FILL, _FILL, _FILL)) + _pgn_bytes(pgn)
        out.frames.append(CanFrame(self._cm_id, payload, True))
