"""PN532 RFID reader against the chip emulator on a pty link (real time, short polls), and the frame codec."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evse.hardware.drivers.emulators.pn532 import Pn532Emulator
from evse.hardware.drivers.emulators.ptylink import PtyLink
from evse.hardware.drivers.rfid import pn532 as p
from evse.hardware.drivers.rfid.authorize import CardAuthorizer
from evse.hardware.drivers.rfid.reader import READER_SILENT, Pn532Reader
from evse.hardware.drivers.settings import Pn532Settings
from evse.station.control import Authorization, AuthorizationStatus

FAST = Pn532Settings(
    port="", poll_interval_s=0.02, response_timeout_s=0.1, failed_commands_for_fault=3, card_repeat_s=0.5
)


@given(st.integers(0, 255), st.binary(max_size=200))
def test_information_frame_round_trip(tfi: int, data: bytes) -> None:
    (frame,) = p.FrameReader().feed(p.information_frame(tfi, data))
    if bytes([tfi]) + data == p.ERROR_FRAME_DATA:
        assert frame.kind == "error"
    else:
        assert (frame.kind, frame.tfi, frame.data) == ("data", tfi, data)


@given(st.binary(max_size=300))
def test_reader_survives_any_bytes(noise: bytes) -> None:
    reader = p.FrameReader()
    frames = reader.feed(noise) + reader.feed(p.ACK + p.command(0x02))
    assert all(f.kind in ("ack", "nack", "data", "error") for f in frames)


def test_known_frames() -> None:
    assert p.command(p.CMD_GET_FIRMWARE_VERSION) == bytes.fromhex("0000FF02FED4022A00")
    kinds = [f.kind for f in p.FrameReader().feed(p.ACK + p.NACK + bytes.fromhex("0000FF01FF7F8100"))]
    assert kinds == ["ack", "nack", "error"]
    assert p.parse_target_uid(bytes.fromhex("4B0101000408 04 DEADBEEF".replace(" ", ""))) == bytes.fromhex("DEADBEEF")
    assert p.parse_target_uid(bytes.fromhex("4B00")) is None
    bad = bytearray(p.command(0x02))
    bad[-2] ^= 0x01  # the data checksum
    reader = p.FrameReader()
    assert reader.feed(bytes(bad)) == [] and reader.bad_frames == 1


@dataclass
class Rig:
    reader: Pn532Reader
    chip: Pn532Emulator
    link: PtyLink
    cards: list[str]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    link = PtyLink()
    chip = Pn532Emulator(link.device_port)
    cards: list[str] = []
    settings = msgspec.structs.replace(FAST, port=link.driver_port)
    reader = Pn532Reader(settings, cards.append)
    yield Rig(reader, chip, link, cards)
    reader.shutdown()
    chip.close()
    link.close()


async def until(condition: Callable[[], bool], timeout_s: float = 2.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - a pty peer: no event to wait on
            await asyncio.sleep(0.01)


async def test_a_presented_card_is_reported_once_then_again_after_removal(rig: Rig) -> None:
    await until(lambda: p.CMD_IN_LIST_PASSIVE_TARGET in rig.chip.commands)
    assert rig.chip.commands[:2] == [p.CMD_SAM_CONFIGURATION, p.CMD_RF_CONFIGURATION]
    rig.chip.card_uid = bytes.fromhex("04A1B2C3D4E5F6")
    await until(lambda: len(rig.cards) == 1)
    await asyncio.sleep(0.2)
    assert rig.cards == ["04A1B2C3D4E5F6"]  # held on the reader: not repeated within card_repeat_s
    rig.chip.card_uid = None
    await asyncio.sleep(0.1)
    rig.chip.card_uid = bytes.fromhex("04A1B2C3D4E5F6")
    await until(lambda: len(rig.cards) == 2)
    assert rig.reader.fault() is None


@pytest.mark.parametrize("fault", ["mute", "corrupt", "nack", "error_frame"])
async def test_reader_faults_are_reported_and_recovered(rig: Rig, fault: str) -> None:
    await until(lambda: p.CMD_IN_LIST_PASSIVE_TARGET in rig.chip.commands)
    target = rig.link if fault in ("mute", "corrupt") else rig.chip
    setattr(target, fault, True)
    await until(lambda: rig.reader.fault() == READER_SILENT)
    setattr(target, fault, False)
    await until(lambda: rig.reader.fault() is None)
    rig.chip.card_uid = bytes.fromhex("DEADBEEF")
    await until(lambda: rig.cards == ["DEADBEEF"])


class FakeStation:
    def __init__(self) -> None:
        self.asked: list[tuple[int, str]] = []

    async def authorize(self, connector_id: int, id_tag: str) -> Authorization:
        self.asked.append((connector_id, id_tag))
        status = AuthorizationStatus.ACCEPTED if id_tag == "DEADBEEF" else AuthorizationStatus.INVALID
        return Authorization(status, id_tag, source="local_list")


async def test_card_uid_goes_to_station_authorize(rig: Rig) -> None:
    station = FakeStation()
    authorizer = CardAuthorizer(station, connector_id=2)  # type: ignore[arg-type]
    rig.reader.on_card = authorizer.on_card
    rig.chip.card_uid = bytes.fromhex("DEADBEEF")
    await until(lambda: bool(authorizer.results))
    assert station.asked == [(2, "DEADBEEF")]
    assert authorizer.results[0][1].status == AuthorizationStatus.ACCEPTED
