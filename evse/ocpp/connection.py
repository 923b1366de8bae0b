"""The connection supervisor: connect with subprotocol ocpp1.6, reconnect with exponential backoff and jitter,
and hand each open connection to the client (which runs the BootNotification gate and everything after it)."""

from __future__ import annotations

import asyncio
import logging
import random
import re
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

from evse.ocpp.settings import OcppSettings
from evse.ocpp.transport import (
    SUBPROTOCOL,
    TransportError,
    basic_auth_header,
    csms_url,
    read_password,
    ssl_context,
)

log = logging.getLogger("evse.ocpp.connection")


class _HideAuthorization(logging.Filter):
    """websockets logs the handshake headers at debug level: the Basic-auth header carries the password."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "authorization" in text.lower():
            record.msg = re.sub(r"(?i)(authorization:\s*\S+\s+)\S+", r"\1***", text)
            record.args = ()
        return True


#: the logger websockets writes the connection's events to
websockets_log = logging.getLogger("evse.ocpp.websockets")
websockets_log.addFilter(_HideAuthorization())


def backoff_delays(settings: OcppSettings, rng: random.Random) -> Callable[[int], float]:
    """Delay before reconnect attempt n (0-based): initial × 2ⁿ capped at max, plus up to `jitter` of itself."""

    def delay(n: int) -> float:
        base = min(settings.backoff_max_s, settings.backoff_initial_s * (2 ** min(n, 30)))
        return base * (1.0 + settings.backoff_jitter * rng.random())

    return delay


class ConnectionSupervisor:
    def __init__(
        self,
        settings: OcppSettings,
        profile: Callable[[], int],
        authorization_key: Callable[[], str],
        ping_interval_s: Callable[[], float],
        serve: Callable[[ClientConnection], Awaitable[None]],
        rng: random.Random | None = None,
        on_security_event: Callable[[str, str], None] | None = None,
        open_link: Callable[[str], Awaitable[Any]] | None = None,
    ) -> None:
        self._settings = settings
        self._profile = profile
        self._authorization_key = authorization_key
        self._ping_interval_s = ping_interval_s
        self._serve = serve
        self._delay = backoff_delays(settings, rng or random.Random())
        self.connections = 0
        self.last_error = ""
        self._on_security_event = on_security_event
        self._last_event = ""
        self._socket: ClientConnection | None = None
        #: instead of a WebSocket: a link opened in process (`evse.ocpp.memory_link`, the simulation's CSMS)
        self._open_link = open_link

    async def reconnect(self) -> None:
        """Close the present connection (new credentials, security profile, reset): the loop connects again."""
        if self._socket is not None:
            await self._socket.close()

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                await self._connect_once()
                failures = 0
            except TransportError as exc:
                self.last_error = str(exc)
                log.error("%s", exc)
            except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.ConnectionClosed) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("CSMS connection failed: %s", self.last_error)
                self._security_event(exc)
            delay_s = self._delay(failures)
            failures += 1
            await asyncio.sleep(delay_s)

    def _security_event(self, exc: Exception) -> None:
        """Whitepaper §3 (security events): a refused login or an untrusted CSMS certificate is reported once
        per change, not at every reconnect attempt."""
        kind = ""
        if isinstance(exc, websockets.InvalidStatus) and exc.response.status_code in (401, 403):
            kind = "FailedToAuthenticateAtCentralSystem"
        elif isinstance(exc, ssl.SSLCertVerificationError):
            kind = "InvalidCentralSystemCertificate"
        if kind and kind != self._last_event and self._on_security_event is not None:
            self._on_security_event(kind, str(exc)[:255])
        self._last_event = kind

    async def _connect_once(self) -> None:
        profile = self._profile()
        settings = self._settings
        url = csms_url(settings, profile)
        if self._open_link is not None:
            await self._serve_link(url)
            return
        headers: dict[str, str] = {}
        if profile in (1, 2):
            headers["Authorization"] = basic_auth_header(
                settings.charge_point_id, read_password(settings, self._authorization_key())
            )
        ctx = ssl_context(settings, profile)
        ping_s = settings.ping_interval_s or self._ping_interval_s()
        async with connect(
            url,
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            additional_headers=headers,
            ssl=ctx,
            open_timeout=settings.connect_timeout_s,
            ping_interval=ping_s if ping_s > 0 else None,
            ping_timeout=settings.ping_timeout_s,
            close_timeout=2.0,
            max_size=settings.max_frame_bytes,
            proxy=None,
            compression=None,
            logger=websockets_log,
        ) as socket:
            if socket.subprotocol != SUBPROTOCOL:
                await socket.close(1002, "ocpp1.6 subprotocol required")
                raise TransportError(f"the CSMS at {url} did not accept the ocpp1.6 subprotocol: check ocpp.csms_url.")
            self.connections += 1
            self._last_event = ""
            log.info("connected to %s (security profile %d)", url, profile)
            self._socket = socket
            try:
                await self._serve(socket)
            finally:
                self._socket = None

    async def _serve_link(self, url: str) -> None:
        assert self._open_link is not None
        link = await self._open_link(url)
        self.connections += 1
        log.info("connected to %s (in-process link)", url)
        self._socket = link
        try:
            await self._serve(link)
        finally:
            self._socket = None
            await link.close()
