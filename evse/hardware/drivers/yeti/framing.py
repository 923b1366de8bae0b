"""The board's serial framing: a protobuf message, its CRC-32 appended, COBS-encoded, ended by a 0x00 byte.

Facts from the public EVerest driver (modules/PhyVersoBSP/phyverso_mcu_comms, Apache-2.0), not its code:
* the CRC is CRC-32/JAMCRC (the reflected 0x04C11DB7 polynomial, init 0xFFFFFFFF, no final XOR), sent least
  significant byte first; a receiver runs the CRC over message and CRC together and expects 0;
* the whole is COBS-encoded (Cheshire & Baker 1999), so 0x00 occurs only as the frame delimiter;
* the receiver's buffer holds 2048 bytes: a longer run without a delimiter is garbage and is dropped.
"""

from __future__ import annotations

import zlib

from cobs import cobs

#: frame delimiter (COBS guarantees it appears nowhere else)
DELIMITER = b"\x00"
#: receive buffer of the EVerest driver and the MCU firmware: a longer frame is garbage
MAX_FRAME_BYTES = 2048
CRC_BYTES = 4


def jamcrc(data: bytes) -> int:
    """CRC-32/JAMCRC: zlib's CRC-32 without its final inversion."""
    return ~zlib.crc32(data) & 0xFFFFFFFF


def encode_frame(message: bytes) -> bytes:
    """One frame on the wire for a serialized protobuf message."""
    return cobs.encode(message + jamcrc(message).to_bytes(CRC_BYTES, "little")) + DELIMITER


class FrameDecoder:
    """Splits a byte stream into the messages of valid frames. Noise, broken COBS, short frames and CRC errors
    are counted in `bad_frames` and dropped; the decoder then resynchronises on the next delimiter."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._overflow = False
        self.bad_frames = 0
        self.good_frames = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        messages: list[bytes] = []
        start = 0
        while True:
            end = chunk.find(DELIMITER, start)
            if end < 0:
                self._append(chunk[start:])
                return messages
            self._append(chunk[start:end])
            frame, overflow = bytes(self._buffer), self._overflow
            self._buffer.clear()
            self._overflow = False
            start = end + 1
            if overflow:
                self.bad_frames += 1
            elif frame:  # two delimiters in a row: an empty frame, sent by some senders to resynchronise
                message = self._decode(frame)
                if message is not None:
                    messages.append(message)

    def _append(self, data: bytes) -> None:
        if self._overflow:
            return
        self._buffer += data
        if len(self._buffer) > MAX_FRAME_BYTES:
            self._buffer.clear()
            self._overflow = True

    def _decode(self, frame: bytes) -> bytes | None:
        try:
            data = cobs.decode(frame)
        except cobs.DecodeError:
            self.bad_frames += 1
            return None
        if len(data) < CRC_BYTES or jamcrc(data) != 0:
            self.bad_frames += 1
            return None
        self.good_frames += 1
        return data[:-CRC_BYTES]
