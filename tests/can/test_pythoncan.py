"""PythonCanChannel over python-can's `virtual` interface (real time: python-can delivers on a thread, so these
tests run on the real loop and bound every wait to a fraction of a second)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import can
import pytest

from evse.can.channel import CanChannel, CanError, CanFrame
from evse.can.pythoncan import CAN_ERR_BUSOFF, CAN_ERR_RESTARTED, PythonCanChannel

WAIT_S = 1.0
_names = itertools.count()


@pytest.fixture
def vchannel() -> str:
    return f"evse-test-{next(_names)}"


async def _until(predicate: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    """Poll `predicate` (frames arrive from python-can's reader thread, so there is no event to await)."""
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.002)


async def test_is_a_can_channel_and_receives_frames_stamped_with_loop_time(vchannel: str) -> None:
    peer = can.Bus(interface="virtual", channel=vchannel)
    chan = PythonCanChannel.open("virtual", vchannel)
    try:
        assert isinstance(chan, CanChannel)
        before = asyncio.get_running_loop().time()
        peer.send(can.Message(arbitration_id=0x102, data=bytes([2, 1, 2, 3, 4, 5, 6, 7]), is_extended_id=False))
        async with asyncio.timeout(WAIT_S):
            frame = await chan.recv()
        assert frame.arbitration_id == 0x102
        assert frame.data == bytes([2, 1, 2, 3, 4, 5, 6, 7])
        assert not frame.is_extended_id
        assert before <= frame.timestamp_s <= asyncio.get_running_loop().time()
        assert chan.frames_received == 1
    finally:
        chan.close()
        peer.shutdown()


async def test_send_reaches_the_peer(vchannel: str) -> None:
    peer = can.Bus(interface="virtual", channel=vchannel)
    chan = PythonCanChannel.open("virtual", vchannel)
    try:
        chan.send(CanFrame(0x108, bytes(8)))
        chan.send(CanFrame(0x1826F456, b"\x01\x02", is_extended_id=True))
        first = peer.recv(WAIT_S)
        second = peer.recv(WAIT_S)
        assert first is not None and first.arbitration_id == 0x108 and not first.is_extended_id
        assert second is not None and second.arbitration_id == 0x1826F456 and second.is_extended_id
        assert bytes(second.data) == b"\x01\x02"
        assert chan.frames_sent == 2
    finally:
        chan.close()
        peer.shutdown()


async def test_receiver_callback_runs_in_the_loop_thread(vchannel: str) -> None:
    import threading

    peer = can.Bus(interface="virtual", channel=vchannel)
    chan = PythonCanChannel.open("virtual", vchannel)
    seen: list[tuple[int, int]] = []
    chan.set_receiver(lambda f: seen.append((f.arbitration_id, threading.get_ident())))
    try:
        for ident in (0x100, 0x101, 0x102):
            peer.send(can.Message(arbitration_id=ident, data=bytes(8), is_extended_id=False))
        await _until(lambda: len(seen) == 3)
        assert [i for i, _ in seen] == [0x100, 0x101, 0x102]
        assert {t for _, t in seen} == {threading.get_ident()}
    finally:
        chan.close()
        peer.shutdown()


async def test_frames_queued_before_a_receiver_is_set_are_handed_over(vchannel: str) -> None:
    peer = can.Bus(interface="virtual", channel=vchannel)
    chan = PythonCanChannel.open("virtual", vchannel)
    try:
        peer.send(can.Message(arbitration_id=0x100, data=bytes(8), is_extended_id=False))
        await _until(lambda: chan.frames_received == 1)
        seen: list[int] = []
        chan.set_receiver(lambda f: seen.append(f.arbitration_id))
        assert seen == [0x100]
    finally:
        chan.close()
        peer.shutdown()


async def test_error_frames_are_counted_not_delivered_and_bus_off_blocks_send(vchannel: str) -> None:
    peer = can.Bus(interface="virtual", channel=vchannel)
    chan = PythonCanChannel.open("virtual", vchannel)
    try:
        peer.send(can.Message(arbitration_id=0x004, is_error_frame=True, data=bytes(8), is_extended_id=False))
        await _until(lambda: chan.error_frames == 1)
        assert not chan.bus_off
        chan.send(CanFrame(0x109, bytes(8)))  # a non-bus-off error frame does not stop sending

        peer.send(can.Message(arbitration_id=CAN_ERR_BUSOFF, is_error_frame=True, data=bytes(8)))
        await _until(lambda: chan.bus_off)
        assert chan.bus_off_events == 1
        with pytest.raises(CanError, match="bus-off"):
            chan.send(CanFrame(0x109, bytes(8)))

        peer.send(can.Message(arbitration_id=CAN_ERR_RESTARTED, is_error_frame=True, data=bytes(8)))
        await _until(lambda: not chan.bus_off)
        chan.send(CanFrame(0x109, bytes(8)))
        assert chan.error_frames == 3
        assert chan.frames_received == 0  # error frames are never data
        assert chan._queue.empty()
    finally:
        chan.close()
        peer.shutdown()


async def test_reader_failure_surfaces_as_can_error(vchannel: str) -> None:
    chan = PythonCanChannel.open("virtual", vchannel)
    try:
        chan._on_reader_error(OSError("interface went away"))
        with pytest.raises(CanError, match="interface went away"):
            chan.send(CanFrame(0x108, bytes(8)))
        with pytest.raises(CanError, match="interface went away"):
            await chan.recv()
    finally:
        chan.close()


async def test_send_after_close_raises(vchannel: str) -> None:
    chan = PythonCanChannel.open("virtual", vchannel)
    chan.close()
    chan.close()  # idempotent
    with pytest.raises(CanError, match="closed"):
        chan.send(CanFrame(0x108, bytes(8)))


async def test_missing_interface_is_one_clear_sentence() -> None:
    with pytest.raises(CanError) as info:
        PythonCanChannel.open("no-such-interface", "can9")
    text = str(info.value)
    assert "no-such-interface:can9" in text and text.endswith(".")


async def test_failed_write_is_a_can_error(vchannel: str) -> None:
    class FailingBus(can.BusABC):
        def __init__(self) -> None:
            super().__init__(channel="failing")
            self.channel_info = "failing"

        def send(self, msg: can.Message, timeout: float | None = None) -> None:
            raise can.CanOperationError("Transmit buffer full")

        def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
            import time

            time.sleep(timeout or 0)  # wall-clock ok: a fake driver's blocking read
            return None, False

    chan = PythonCanChannel(FailingBus(), "failing")
    try:
        with pytest.raises(CanError, match="Transmit buffer full"):
            chan.send(CanFrame(0x108, bytes(8)))
        assert chan.send_failures == 1
    finally:
        chan.close()


async def test_chademo_hardware_channel_from_a_vehicle_link(vchannel: str) -> None:
    from evse.protocols.chademo.adapter import hardware_channel

    chan = hardware_channel("virtual", vchannel)
    try:
        assert isinstance(chan, PythonCanChannel) and chan.name == f"virtual:{vchannel}"
    finally:
        chan.close()
    with pytest.raises(CanError, match=r"ip link set can7 up type can bitrate 500000"):
        hardware_channel("socketcan", "can7")


async def test_bitrate_zero_is_not_passed_to_the_interface(vchannel: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, object]] = []
    real_bus = can.Bus

    def spy(**config: object) -> can.BusABC:
        seen.append(config)
        return real_bus(**config)  # type: ignore[arg-type]

    monkeypatch.setattr(can, "Bus", spy)
    for bitrate in (0, 250_000):
        PythonCanChannel.open("virtual", vchannel, bitrate).close()
    assert "bitrate" not in seen[0] and seen[1]["bitrate"] == 250_000
