"""Our J1939-21 transport against an independent implementation (the `can-j1939` package) on a python-can
`virtual` bus, in both directions and with both window behaviours. Real time (can-j1939 runs threads on the wall
clock): every wait is bounded to a few seconds."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import can
import j1939
import pytest

from evse.can.pythoncan import PythonCanChannel
from evse.protocols.gbt.driver import CoreDriver
from evse.protocols.gbt.ids import BMS_ADDRESS, CHARGER_ADDRESS
from evse.protocols.gbt.transport import TpOutput, Transport

BOUND_S = 5.0
BRM = bytes(range(1, 50))  # 49 bytes, 7 packets
_channels = itertools.count()


class Endpoint:
    """Our transport on a python-can channel, collecting what it receives."""

    def __init__(self, channel: PythonCanChannel, local: int, peer: int) -> None:
        self.transport = Transport(local, peer)
        self.messages: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
        self.outputs: list[TpOutput] = []
        self.driver = CoreDriver(channel, self.transport, self._on_output)
        self.driver.start()

    def _on_output(self, output: TpOutput) -> None:
        self.outputs.append(output)
        for message in output.messages:
            self.messages.put_nowait(message)

    def send(self, pgn: int, data: bytes, **kwargs: object) -> None:
        loop = asyncio.get_running_loop()
        self.driver.submit(self.transport.send(pgn, data, loop.time(), **kwargs))  # type: ignore[arg-type]


@pytest.fixture
async def bus_name() -> AsyncIterator[str]:
    yield f"gbt-tp-{next(_channels)}"


def _ecu(bus_name: str, max_cmdt_packets: int) -> j1939.ElectronicControlUnit:
    ecu = j1939.ElectronicControlUnit(max_cmdt_packets=max_cmdt_packets)
    ecu.connect(interface="virtual", channel=bus_name, receive_own_messages=False)
    return ecu


@pytest.mark.parametrize("max_cmdt_packets", [1, 255], ids=["one_per_cts", "all_at_once"])
async def test_can_j1939_bms_sends_brm_to_us(bus_name: str, max_cmdt_packets: int) -> None:
    channel = PythonCanChannel(can.Bus(interface="virtual", channel=bus_name, receive_own_messages=False))
    ours = Endpoint(channel, CHARGER_ADDRESS, BMS_ADDRESS)
    ecu = _ecu(bus_name, max_cmdt_packets)
    try:
        ecu.subscribe(lambda *args: None, device_address=BMS_ADDRESS)
        # PDU1: PF 0x02, PS = destination 0x56, priority 7, from the BMS address
        assert ecu.send_pgn(0, 0x02, CHARGER_ADDRESS, 7, BMS_ADDRESS, list(BRM))
        pgn, data = await asyncio.wait_for(ours.messages.get(), BOUND_S)
        assert (pgn, data) == (0x0200, BRM)
        assert not any(out.aborts for out in ours.outputs)
    finally:
        ecu.disconnect()
        ecu.stop()
        ours.driver.stop()
        channel.close()


@pytest.mark.parametrize("max_cmdt_packets", [1, 3, 255], ids=["one_per_cts", "three_per_cts", "all_at_once"])
async def test_we_send_to_a_can_j1939_receiver(bus_name: str, max_cmdt_packets: int) -> None:
    loop = asyncio.get_running_loop()
    received: asyncio.Queue[tuple[int, int, bytes]] = asyncio.Queue()
    channel = PythonCanChannel(can.Bus(interface="virtual", channel=bus_name, receive_own_messages=False))
    ours = Endpoint(channel, BMS_ADDRESS, CHARGER_ADDRESS)
    ecu = _ecu(bus_name, max_cmdt_packets)

    def on_message(priority: int, pgn: int, sa: int, timestamp: float, data: bytes) -> None:
        loop.call_soon_threadsafe(received.put_nowait, (pgn, sa, bytes(data)))

    try:
        ecu.subscribe(on_message, device_address=CHARGER_ADDRESS)
        payload = bytes(range(100, 149))
        ours.send(0x0200, payload, max_packets_per_cts=0xFF)
        pgn, source, data = await asyncio.wait_for(received.get(), BOUND_S)
        assert (pgn & 0xFF00, source, data) == (0x0200, BMS_ADDRESS, payload)
        # the receiver's end-of-message ack completes our transfer
        for _ in range(100):
            if not ours.transport.busy_sending:
                break
            await asyncio.sleep(0.01)
        assert not ours.transport.busy_sending
        assert [pgn for out in ours.outputs for pgn in out.sent] == [0x0200]
    finally:
        ecu.disconnect()
        ecu.stop()
        ours.driver.stop()
        channel.close()


async def test_can_j1939_peer_that_never_answers_is_aborted_on_t3(bus_name: str) -> None:
    """Our sender gives up with an abort when the receiver does not accept the destination (no CTS)."""
    channel = PythonCanChannel(can.Bus(interface="virtual", channel=bus_name, receive_own_messages=False))
    ours = Endpoint(channel, BMS_ADDRESS, CHARGER_ADDRESS)
    ours.transport.timers = type(ours.transport.timers)(t3_s=0.2)
    ecu = _ecu(bus_name, 1)  # nobody subscribed at 0x56: can-j1939 ignores the RTS
    try:
        ours.send(0x0600, bytes(13))
        await asyncio.sleep(0.4)
        aborts = [a for out in ours.outputs for a in out.aborts]
        assert aborts and aborts[0].direction == "tx" and not ours.transport.busy_sending
    finally:
        ecu.disconnect()
        ecu.stop()
        ours.driver.stop()
        channel.close()
