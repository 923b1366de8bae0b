"""The `iso15118` EVCC with its sockets inside the vehicle's network namespace (see `netns.py`).

The package's EVCC creates two sockets: the SDP multicast UDP socket (`UDPClient.start`) and the TCP connection
to the SECC (`TCPClient.create`, after the SDP response). This handler creates both inside the vehicle's
namespace; everything else is the package's own code. It runs in the caller's event loop (real time: the EVCC's
timers read the wall clock).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from ipaddress import IPv6Address
from typing import Any

from iso15118.evcc.comm_session_handler import CommunicationSessionHandler, EVCCCommunicationSession
from iso15118.evcc.controller.interface import EVControllerInterface
from iso15118.evcc.evcc_config import EVCCConfig
from iso15118.evcc.transport.tcp_client import TCPClient
from iso15118.evcc.transport.udp_client import UDPClient
from iso15118.shared.exceptions import MessageProcessingError
from iso15118.shared.messages.timeouts import Timeouts
from iso15118.shared.utils import wait_for_tasks

from evse.protocols.ccs.jvm import shared_codec
from evse.protocols.ccs.netns import inside

logger = logging.getLogger(__name__)

#: TCP connection attempts after an SDP response, and the spacing between them (grows linearly)
CONNECT_ATTEMPTS = 4
CONNECT_RETRY_S = 0.2


class _NetnsUdpClient(UDPClient):
    def __init__(self, queue: asyncio.Queue[Any], iface: str, namespace: str) -> None:
        super().__init__(queue, iface)
        self._namespace = namespace

    async def start(self) -> None:
        with inside(self._namespace):
            sock = self._create_socket(self.iface)
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(protocol_factory=lambda: self, sock=sock)


async def _connect_in(namespace: str, iface: str, host: IPv6Address, port: int) -> TCPClient:
    with inside(namespace):
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        scope_id = socket.if_nametoindex(iface)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_connect(sock, (host.compressed, port, 0, scope_id))
    except BaseException:
        sock.close()
        raise
    client = TCPClient.__new__(TCPClient)
    TCPClient.__init__(client, None, port, False)
    client.reader, client.writer = await asyncio.open_connection(sock=sock)
    return client


class NetnsEvccHandler(CommunicationSessionHandler):
    """EVCC communication handler whose UDP and TCP sockets live in network namespace `namespace`."""

    def __init__(self, config: EVCCConfig, iface: str, namespace: str, ev_controller: EVControllerInterface) -> None:
        super().__init__(config, iface, shared_codec(), ev_controller)
        self.namespace = namespace

    async def start_session_handler(self) -> None:
        self.udp_client = _NetnsUdpClient(self._rcv_queue, self.iface, self.namespace)
        self.list_of_tasks = [self.udp_client.start(), self.get_from_rcv_queue(self._rcv_queue), self.restart_sdp(True)]
        await wait_for_tasks(self.list_of_tasks)

    async def start_comm_session(self, host: IPv6Address, port: int, is_tls: bool) -> None:
        if is_tls:
            logger.error("TLS is not supported by the simulated vehicle")
            return
        # A late SDP response races with the SECC restarting its TCP server for our repeated SDP request (the
        # package's EVCC then gives up for good): retry the connection, then ask again by SDP.
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                self.tcp_client = await _connect_in(self.namespace, self.iface, host, port)
                break
            except OSError as exc:
                logger.warning(f"EVCC could not connect to {host}%{self.iface} port {port}: {exc}")
                await asyncio.sleep(CONNECT_RETRY_S * (attempt + 1))
        else:
            await self.restart_sdp(False)
            return
        transport: Any = (self.tcp_client.reader, self.tcp_client.writer)
        comm_session = EVCCCommunicationSession(
            transport,
            self._rcv_queue,
            self.config,
            self.iface,
            self.ev_controller,
        )
        comm_session.is_tls = False
        try:
            await comm_session.send_sap()
            self.comm_session = (
                comm_session,
                asyncio.create_task(comm_session.start(Timeouts.SUPPORTED_APP_PROTOCOL_REQ)),
            )
        except MessageProcessingError as exc:
            logger.error(f"EVCC could not send SupportedAppProtocolReq: {exc}")


def evcc_config(protocols: list[str], energy_mode: str = "DC_extended") -> EVCCConfig:
    """An EVCC configuration for DC charging with `protocols` (e.g. ["DIN_SPEC_70121"]), EIM, no TLS."""
    fields: dict[str, Any] = dict(
        supportedProtocols=protocols,
        energyTransferMode=energy_mode,
        supportedEnergyServices=["DC"],
        useTls=False,
        enforceTls=False,
        sdpRetryCycles=1,
        chargeLoopDelay=0,
    )
    config = EVCCConfig(**fields)
    config.load_raw_values()
    return config
