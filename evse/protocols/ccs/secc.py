"""Run the `iso15118` SECC for one connector on one network interface.

Configuration is passed in code (no `.env`, no environment variables): the package's `Config` dataclass is
filled from our `CcsSettings`, and its shared settings (message logging, PKI path) are set directly rather than
through `load_shared_settings()`, which would read a `.env` file from the working directory.

The SECC's UDP server (SDP on port 15118, multicast ff02::1) and TCP server bind to `iface`, which must carry an
IPv6 link-local address (a PLC modem's interface on hardware; the charger end of a veth pair in simulation).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from iso15118.secc import SECCHandler
from iso15118.secc.controller.interface import EVSEControllerInterface
from iso15118.secc.secc_settings import Config
from iso15118.shared.messages.enums import AuthEnum, Protocol
from iso15118.shared.settings import SHARED_CWD, SettingKey, shared_settings

from evse.protocols.ccs.jvm import shared_codec
from evse.protocols.ccs.settings import CcsSettings
from evse.protocols.ccs.tasks import cancel_owned

#: the protocol names our SECC may offer (DC only: the EVSE controller answers DC parameters only)
SUPPORTED_PROTOCOLS: dict[str, Protocol] = {
    "DIN_SPEC_70121": Protocol.DIN_SPEC_70121,
    "ISO_15118_2": Protocol.ISO_15118_2,
}


def configure_shared(log_messages: bool) -> None:
    """Set the package's process-wide settings without reading `.env`."""
    shared_settings.update(
        {
            SettingKey.PKI_PATH: SHARED_CWD + "/pki/",
            SettingKey.MESSAGE_LOG_JSON: log_messages,
            SettingKey.MESSAGE_LOG_EXI: False,
            SettingKey.ENABLE_TLS_1_3: False,
        }
    )


def secc_config(settings: CcsSettings, iface: str) -> Config:
    unknown = [p for p in settings.protocols if p not in SUPPORTED_PROTOCOLS]
    if unknown:
        raise ValueError(
            f"ccs.protocols names {unknown}: use any of {sorted(SUPPORTED_PROTOCOLS)} (ISO 15118-20 is not offered)"
        )
    config = Config()
    config.iface = iface
    config.log_level = "INFO"
    config.enforce_tls = False
    config.free_charging_service = settings.free_charging_service
    config.free_cert_install_service = False
    config.allow_cert_install_service = False
    config.use_cpo_backend = False
    config.supported_protocols = [SUPPORTED_PROTOCOLS[p] for p in settings.protocols]
    # External identification means only: Plug & Charge needs TLS and a PKI (see docs/protocols/ccs.md).
    config.supported_auth_options = [AuthEnum.EIM]
    config.standby_allowed = False
    return config


class Secc:
    """One SECC (UDP SDP server + TCP V2G server) on `iface`, answering through `controller`."""

    def __init__(self, settings: CcsSettings, iface: str, controller: EVSEControllerInterface) -> None:
        self.settings = settings
        self.iface = iface
        self.controller = controller
        self.config = secc_config(settings, iface)
        self.handler: SECCHandler | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start serving (the JVM is started first if this process has none yet)."""
        configure_shared(self.settings.log_v2g_messages)
        if not self.settings.log_v2g_messages:
            logging.getLogger("iso15118").setLevel(logging.WARNING)
            # the package reports every closed UDP socket as an error with a traceback: not one for operators
            logging.getLogger("iso15118.secc.transport.udp_server").setLevel(logging.CRITICAL)
        codec = shared_codec()
        self.handler = SECCHandler(exi_codec=codec, evse_controller=self.controller, config=self.config)
        self._task = asyncio.create_task(self.handler.start(self.iface), name=f"secc-{self.iface}")

    def failed(self) -> BaseException | None:
        """The exception that ended the SECC, if it ended (e.g. the interface has no link-local address)."""
        if self._task is None or not self._task.done() or self._task.cancelled():
            return None
        return self._task.exception()

    def close_v2g_session(self) -> None:
        """End the running V2G session now (CP went to A/E/F): the package treats it as a TCP EOF."""
        if self.handler is not None:
            self.handler.close_session()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        handler = self.handler
        if handler is not None:
            sessions = [session for session, _task in handler.comm_sessions.values()]
            tasks = [task for _session, task in handler.comm_sessions.values()]
            if handler.tcp_server_handler is not None:
                tasks.append(handler.tcp_server_handler)
            for task in tasks:
                task.cancel()
            await cancel_owned([handler, handler.udp_server, handler.tcp_server, *sessions])
            transport = getattr(handler.udp_server, "_transport", None)
            if transport is not None:
                transport.close()
            server = getattr(handler.tcp_server, "server", None)
            if server is not None:
                server.close()
            self.handler = None
