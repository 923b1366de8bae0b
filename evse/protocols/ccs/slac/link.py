"""SLAC over a raw AF_PACKET socket (EtherType 0x88E1): the thin I/O layer around `SlacEvse`.

Needs CAP_NET_RAW (root) and, on hardware, the network interface of a HomePlug Green PHY modem (QCA7000-class):
the EVSE's own modem turns the EV's sounds into CM_ATTEN_PROFILE.IND frames and applies CM_SET_KEY.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from evse.protocols.ccs.slac.evse_role import Action, Failed, Matched, Send, SlacEvse
from evse.protocols.ccs.slac.messages import ETH_P_HOMEPLUG

#: largest Ethernet frame we read
MAX_FRAME = 1518


class SlacError(RuntimeError):
    """SLAC did not match: the reason names the missing step."""


def open_socket(iface: str) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_HOMEPLUG))
    sock.bind((iface, ETH_P_HOMEPLUG))
    sock.setblocking(False)
    return sock


def interface_mac(sock: socket.socket) -> bytes:
    return bytes(sock.getsockname()[4][:6])


async def run_evse_slac(
    iface: str, *, slac: SlacEvse | None = None, sock_factory: Callable[[str], socket.socket] = open_socket
) -> Matched:
    """Run the EVSE role on `iface` until the EV matched (returns `Matched`) or SLAC failed (`SlacError`)."""
    loop = asyncio.get_running_loop()
    sock = sock_factory(iface)
    if slac is None:
        slac = SlacEvse(evse_mac=interface_mac(sock))
    received: asyncio.Queue[bytes] = asyncio.Queue()

    def readable() -> None:
        while True:
            try:
                received.put_nowait(sock.recv(MAX_FRAME))
            except (BlockingIOError, InterruptedError):
                return

    def perform(actions: list[Action]) -> Matched | None:
        for action in actions:
            if isinstance(action, Send):
                sock.send(action.frame)
            elif isinstance(action, Failed):
                raise SlacError(f"SLAC failed: {action.reason}")
            elif isinstance(action, Matched):
                return action
        return None

    loop.add_reader(sock.fileno(), readable)
    try:
        perform(slac.start(loop.time()))
        while True:
            timeout = None if slac.deadline_s is None else max(0.0, slac.deadline_s - loop.time())
            try:
                frame = await asyncio.wait_for(received.get(), timeout)
            except TimeoutError:
                matched = perform(slac.tick(loop.time()))
            else:
                matched = perform(slac.feed(frame, loop.time()))
            if matched is not None:
                return matched
    finally:
        loop.remove_reader(sock.fileno())
        sock.close()
