"""How we reach the CSMS: the URL, the TLS context and the Basic-auth header of the security profiles (OCPP 1.6
security whitepaper ed. 3, §2: profile 1 Basic auth over ws, 2 TLS + Basic auth, 3 TLS with a client certificate).

Server certificate validation is always on with TLS (hostname and chain, the configured CA file or the system
store). The password comes from a file or the persisted AuthorizationKey and is never logged: `redact()` is
applied to every frame we log.
"""

from __future__ import annotations

import base64
import re
import ssl
from pathlib import Path

from evse.ocpp.settings import OcppSettings

SUBPROTOCOL = "ocpp1.6"


class TransportError(Exception):
    """A configuration problem the user must fix (one sentence naming the thing and the fix)."""


def csms_url(settings: OcppSettings, profile: int) -> str:
    url = settings.csms_url.rstrip("/")
    if profile >= 2 and not url.startswith("wss://"):
        raise TransportError(
            f"OCPP security profile {profile} needs a wss:// csms_url, got {url!r}: change ocpp.csms_url."
        )
    if profile <= 1 and url.startswith("wss://"):
        # profile 0/1 over TLS is harmless (stricter than asked); allowed
        pass
    return f"{url}/{settings.charge_point_id}"


def read_password(settings: OcppSettings, authorization_key: str) -> str:
    if settings.password_file:
        try:
            return Path(settings.password_file).read_text().strip()
        except OSError as exc:
            raise TransportError(
                f"cannot read the password file {settings.password_file!r} ({exc.strerror}): fix ocpp.password_file."
            ) from None
    if not authorization_key:
        raise TransportError(
            "OCPP security profile 1/2 needs a password: set ocpp.password_file or the AuthorizationKey key."
        )
    return authorization_key


def basic_auth_header(charge_point_id: str, password: str) -> str:
    token = base64.b64encode(f"{charge_point_id}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def ssl_context(settings: OcppSettings, profile: int) -> ssl.SSLContext | None:
    if not settings.csms_url.startswith("wss://"):
        return None
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=settings.ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise TransportError(f"cannot load the OCPP CA file {settings.ca_file!r} ({exc}): fix ocpp.ca_file.") from None
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # whitepaper §2.3: TLS 1.2 or above
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    if profile == 3:
        if not settings.client_cert_file or not settings.client_key_file:
            raise TransportError(
                "OCPP security profile 3 needs a client certificate: set ocpp.client_cert_file and client_key_file."
            )
        try:
            ctx.load_cert_chain(settings.client_cert_file, settings.client_key_file)
        except (OSError, ssl.SSLError) as exc:
            raise TransportError(
                f"cannot load the OCPP client certificate ({exc}): fix ocpp.client_cert_file / ocpp.client_key_file."
            ) from None
    return ctx


def redact(frame: str) -> str:
    """A frame fit for the log: the AuthorizationKey value (ChangeConfiguration) replaced."""
    if "AuthorizationKey" not in frame:
        return frame
    return re.sub(r'("value"\s*:\s*")[^"]*(")', r"\1***\2", frame)
