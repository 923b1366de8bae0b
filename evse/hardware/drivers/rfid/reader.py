"""A PN532 on a UART as an RFID card reader: presented card UIDs (upper-case hex) go to `on_card`.

One task owns the line: it configures the reader (SAM normal mode, a bounded number of passive-activation retries
so a search without a card returns), then searches for a type A card every `poll_interval_s`. A card is reported
once when it arrives and again only after `card_repeat_s` on the reader or after it was taken away. Commands
without a valid ACK and answer (silence, NACK, error frame, checksum errors) `failed_commands_for_fault` times in a
row make `fault()` return "rfid_reader_silent"; the reader is then woken up and configured again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import serial

from evse.hardware.drivers.rfid import pn532 as p
from evse.hardware.drivers.settings import Pn532Settings

READER_SILENT = "rfid_reader_silent"


class Pn532Reader:
    def __init__(self, settings: Pn532Settings, on_card: Callable[[str], None] = lambda uid: None) -> None:
        self.settings = settings
        self.on_card = on_card
        self._serial = serial.Serial(settings.port, settings.baudrate, timeout=0)
        self._frames: asyncio.Queue[p.Frame] = asyncio.Queue()
        self._parser = p.FrameReader()
        self._failures = 0
        self._last_uid: str | None = None
        self._last_report_s = 0.0
        self.cards_read = 0
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._serial.fileno(), self._readable)
        self._task = self._loop.create_task(self._run(), name=f"pn532-{settings.port}")

    @property
    def bad_frames(self) -> int:
        return self._parser.bad_frames

    def fault(self) -> str | None:
        return READER_SILENT if self._failures >= self.settings.failed_commands_for_fault else None

    def shutdown(self) -> None:
        """Stop the background task and release the port (drivers with a task all have `shutdown()`)."""
        self._task.cancel()
        self._loop.remove_reader(self._serial.fileno())
        self._serial.close()

    def _readable(self) -> None:
        try:
            chunk = self._serial.read(4096)
        except serial.SerialException:
            return
        for frame in self._parser.feed(chunk):
            self._frames.put_nowait(frame)

    async def _next_frame(self) -> p.Frame | None:
        try:
            return await asyncio.wait_for(self._frames.get(), self.settings.response_timeout_s)
        except TimeoutError:
            return None

    async def _transact(self, code: int, params: bytes = b"", *, wake: bool = False) -> bytes | None:
        while not self._frames.empty():
            self._frames.get_nowait()
        self._serial.write((p.WAKE_UP if wake else b"") + p.command(code, params))
        ack = await self._next_frame()
        if ack is None or ack.kind != "ack":
            return None
        answer = await self._next_frame()
        if answer is None or answer.kind != "data" or answer.tfi != p.TFI_PN532 or answer.data[:1] != bytes([code + 1]):
            return None
        return answer.data

    async def _configure(self) -> bool:
        sam = await self._transact(p.CMD_SAM_CONFIGURATION, b"\x01\x14\x01", wake=True)
        if sam is None:
            return False
        # MxRtyATR, MxRtyPSL default; MxRtyPassiveActivation = 2: a search without a card answers "no target"
        rf = await self._transact(p.CMD_RF_CONFIGURATION, bytes([p.RF_ITEM_MAX_RETRIES, 0xFF, 0x01, 0x02]))
        return rf is not None

    async def _run(self) -> None:
        configured = False
        while True:
            if not configured:
                configured = await self._configure()
                ok = configured
            else:
                answer = await self._transact(p.CMD_IN_LIST_PASSIVE_TARGET, bytes([1, p.BAUD_106_TYPE_A]))
                ok = answer is not None
                if answer is not None:
                    self._card(p.parse_target_uid(answer))
            if ok:
                self._failures = 0
            else:
                self._failures += 1
                if self.fault() is not None:
                    configured = False  # wake the reader up and configure it again
            await asyncio.sleep(self.settings.poll_interval_s)

    def _card(self, uid: bytes | None) -> None:
        now = self._loop.time()
        if uid is None:
            self._last_uid = None
            return
        text = uid.hex().upper()
        if text == self._last_uid and now - self._last_report_s < self.settings.card_repeat_s:
            return
        self._last_uid, self._last_report_s = text, now
        self.cards_read += 1
        with contextlib.suppress(Exception):  # a failing consumer must not stop the reader
            self.on_card(text)
