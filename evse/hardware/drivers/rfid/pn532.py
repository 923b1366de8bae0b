"""NXP PN532 host protocol over UART (HSU), the frame layer and the commands the reader uses.

Facts from the PN532 User Manual (UM0701-02): §6.2.1.1 normal information frame
`00 00 FF LEN LCS TFI PD… DCS 00` with LCS = −LEN and DCS = −(TFI + ΣPD) (mod 256), TFI D4 host→PN532 and
D5 PN532→host; §6.2.1.3 ACK `00 00 FF 00 FF 00`, §6.2.1.4 NACK `00 00 FF FF 00 00`; §6.2.1.5 error frame
(application-level error) `00 00 FF 01 FF 7F 81 00`. §7.2.11 SAMConfiguration (0x14), §7.3.1 RFConfiguration (0x32,
item 5 = MxRtyPassiveActivation: how often InListPassiveTarget retries before answering "no target"),
§7.3.5 InListPassiveTarget (0x4A; BrTy 0 = 106 kbit/s type A; answer NbTg, then Tg, SENS_RES(2), SEL_RES,
NFCIDLength, NFCID1). HSU wake-up (§7.2.11 note): 0x55 and a few zero bytes before the first command.
"""

from __future__ import annotations

from dataclasses import dataclass

PREAMBLE = b"\x00\x00\xff"
ACK = b"\x00\x00\xff\x00\xff\x00"
NACK = b"\x00\x00\xff\xff\x00\x00"
ERROR_FRAME_DATA = b"\x7f"
WAKE_UP = b"\x55\x55\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
TFI_HOST = 0xD4
TFI_PN532 = 0xD5

CMD_GET_FIRMWARE_VERSION = 0x02
CMD_SAM_CONFIGURATION = 0x14
CMD_RF_CONFIGURATION = 0x32
CMD_IN_LIST_PASSIVE_TARGET = 0x4A
RF_ITEM_MAX_RETRIES = 0x05
BAUD_106_TYPE_A = 0x00


def information_frame(tfi: int, data: bytes) -> bytes:
    body = bytes([tfi]) + data
    length = len(body)
    if length > 255:
        raise ValueError("a normal information frame carries at most 255 bytes")
    return PREAMBLE + bytes([length, (-length) & 0xFF]) + body + bytes([(-sum(body)) & 0xFF, 0x00])


def command(code: int, params: bytes = b"") -> bytes:
    return information_frame(TFI_HOST, bytes([code]) + params)


@dataclass(frozen=True, slots=True)
class Frame:
    kind: str  # "ack" | "nack" | "data" | "error"
    tfi: int = 0
    data: bytes = b""


class FrameReader:
    """Reassembles frames from a byte stream; bytes that are not a valid frame (bad checksum, noise) are skipped
    and counted in `bad_frames`."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.bad_frames = 0

    def feed(self, chunk: bytes) -> list[Frame]:
        self._buffer += chunk
        frames: list[Frame] = []
        while True:
            start = self._buffer.find(PREAMBLE)
            if start < 0:
                del self._buffer[: max(0, len(self._buffer) - 2)]
                return frames
            del self._buffer[:start]
            if len(self._buffer) < 6:
                return frames
            if bytes(self._buffer[:6]) == ACK:
                frames.append(Frame("ack"))
                del self._buffer[:6]
                continue
            if bytes(self._buffer[:6]) == NACK:
                frames.append(Frame("nack"))
                del self._buffer[:6]
                continue
            length, lcs = self._buffer[3], self._buffer[4]
            if (length + lcs) & 0xFF != 0 or length == 0:
                self.bad_frames += 1
                del self._buffer[:3]
                continue
            end = 5 + length + 2
            if len(self._buffer) < end:
                return frames
            body = bytes(self._buffer[5 : 5 + length])
            dcs = self._buffer[5 + length]
            if (sum(body) + dcs) & 0xFF != 0:
                self.bad_frames += 1
                del self._buffer[:3]
                continue
            del self._buffer[:end]
            if body == ERROR_FRAME_DATA:
                frames.append(Frame("error"))
            else:
                frames.append(Frame("data", body[0], body[1:]))


def parse_target_uid(data: bytes) -> bytes | None:
    """The NFCID1 (UID) of the first target in an InListPassiveTarget answer (`data` after TFI, starting with
    the response code 0x4B), None when no card answered."""
    if len(data) < 2 or data[0] != CMD_IN_LIST_PASSIVE_TARGET + 1 or data[1] == 0:
        return None
    # Tg, SENS_RES (2), SEL_RES, NFCIDLength, NFCID1
    if len(data) < 7:
        return None
    uid_length = data[6]
    uid = data[7 : 7 + uid_length]
    return uid if len(uid) == uid_length and uid_length in (4, 7, 10) else None
