"""A PN532 on the device end of a serial line (`PtyLink.device_port`): answers SAMConfiguration, RFConfiguration
and InListPassiveTarget like the chip, with a card that can be presented and removed.

Faults: `nack` (answer every command with NACK), `error_frame` (ACK, then the application error frame); silence and
checksum errors belong to the line (`PtyLink.mute` / `PtyLink.corrupt`).
"""

from __future__ import annotations

import asyncio

import serial

from evse.hardware.drivers.rfid import pn532 as p


class Pn532Emulator:
    def __init__(self, port: str, baudrate: int = 115_200) -> None:
        self._serial = serial.Serial(port, baudrate, timeout=0)
        self._parser = p.FrameReader()
        self.card_uid: bytes | None = None
        self.nack = False
        self.error_frame = False
        self.commands: list[int] = []
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._serial.fileno(), self._readable)

    def close(self) -> None:
        self._loop.remove_reader(self._serial.fileno())
        self._serial.close()

    def _readable(self) -> None:
        try:
            chunk = self._serial.read(4096)
        except serial.SerialException:
            return
        for frame in self._parser.feed(chunk):
            if frame.kind == "data" and frame.tfi == p.TFI_HOST and frame.data:
                self._command(frame.data[0], frame.data[1:])

    def _command(self, code: int, params: bytes) -> None:
        self.commands.append(code)
        if self.nack:
            self._serial.write(p.NACK)
            return
        self._serial.write(p.ACK)
        if self.error_frame:
            self._serial.write(p.PREAMBLE + b"\x01\xff" + p.ERROR_FRAME_DATA + b"\x81\x00")
            return
        answer = bytes([code + 1])
        if code == p.CMD_GET_FIRMWARE_VERSION:
            answer += bytes([0x32, 0x01, 0x06, 0x07])
        elif code == p.CMD_IN_LIST_PASSIVE_TARGET:
            if self.card_uid is None:
                answer += b"\x00"
            else:
                answer += bytes([1, 1, 0x00, 0x04, 0x08, len(self.card_uid)]) + self.card_uid
        self._serial.write(p.information_frame(p.TFI_PN532, answer))
