"""Security profiles 1 (Basic auth), 2 (TLS + Basic auth), 3 (TLS client certificate) against a local TLS CSMS
with a CA generated in the test; the server certificate is always verified; the password is never logged."""

from __future__ import annotations

import asyncio
import base64
import logging
from pathlib import Path

import pytest

from evse.ocpp.transport import TransportError, csms_url, redact, ssl_context
from tests.ocpp.conftest import fast_settings, until
from tests.ocpp.csms import TestCsms
from tests.ocpp.pki import Pki, make_pki

PASSWORD = "0123456789abcdef0123"


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "password"
    path.write_text(PASSWORD + "\n")
    return path


async def test_profile1_basic_auth(make_service, password_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    csms = TestCsms(password=PASSWORD)
    await csms.start()
    try:
        service = await make_service(csms.port, security_profile=1, password_file=str(password_file))
        await csms.wait_for("StatusNotification")
        assert service.client.online
        assert csms.auth_headers[-1] is not None and csms.auth_headers[-1].startswith("Basic ")
    finally:
        await csms.stop()
    token = base64.b64encode(f"CP1:{PASSWORD}".encode()).decode()
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("websockets.server"))
    assert "Basic " in caplog.text  # the (test CSMS's) header log is there, so the check below means something
    assert PASSWORD not in ours and token not in ours  # nor in websockets' debug log of our request headers


async def test_profile1_wrong_password_is_refused_and_retried(make_service, tmp_path: Path) -> None:
    csms = TestCsms(password=PASSWORD)
    await csms.start()
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password-at-all")
    try:
        service = await make_service(csms.port, security_profile=1, password_file=str(wrong))
        await until(lambda: len(csms.auth_headers) >= 3)
        assert not service.client.online
        assert "401" in service.client.supervisor.last_error
        csms.password = "not-the-password-at-all"  # the CSMS learns the key: the client gets in
        await csms.wait_for("SecurityEventNotification", lambda p: p["type"] == "FailedToAuthenticateAtCentralSystem")
        events = [p["type"] for _, p in csms.actions("SecurityEventNotification")]
        assert events.count("FailedToAuthenticateAtCentralSystem") == 1  # once per change, not per attempt
    finally:
        await csms.stop()


async def test_profile2_tls_and_basic_auth(make_service, pki: Pki, password_file: Path) -> None:
    csms = TestCsms(password=PASSWORD, ssl_context=pki.server_context())
    await csms.start()
    try:
        service = await make_service(
            csms.port,
            csms_url=f"wss://127.0.0.1:{csms.port}",
            security_profile=2,
            password_file=str(password_file),
            ca_file=str(pki.ca_file),
        )
        await csms.wait_for("StatusNotification")
        assert service.client.online
    finally:
        await csms.stop()


async def test_profile2_untrusted_server_certificate_is_refused(make_service, pki: Pki, password_file: Path) -> None:
    csms = TestCsms(password=PASSWORD, ssl_context=pki.server_context())
    await csms.start()
    try:
        service = await make_service(
            csms.port,
            csms_url=f"wss://127.0.0.1:{csms.port}",
            security_profile=2,
            password_file=str(password_file),
            ca_file=str(pki.other_ca_file),
        )
        await until(lambda: "CERTIFICATE_VERIFY_FAILED" in service.client.supervisor.last_error)
        await asyncio.sleep(0.2)
        assert csms.connections == 0 and not service.client.online
    finally:
        await csms.stop()


async def test_profile3_client_certificate(make_service, pki: Pki) -> None:
    csms = TestCsms(ssl_context=pki.server_context(require_client_cert=True))
    await csms.start()
    try:
        service = await make_service(
            csms.port,
            csms_url=f"wss://127.0.0.1:{csms.port}",
            security_profile=3,
            ca_file=str(pki.ca_file),
            client_cert_file=str(pki.client_cert),
            client_key_file=str(pki.client_key),
        )
        await csms.wait_for("StatusNotification")
        assert service.client.online
        assert csms.auth_headers[-1] is None  # profile 3 authenticates by certificate only
    finally:
        await csms.stop()


def test_configuration_errors_are_one_sentence() -> None:
    with pytest.raises(TransportError, match="wss://"):
        csms_url(fast_settings(1, csms_url="ws://example"), 2)
    with pytest.raises(TransportError, match="client_cert_file"):
        ssl_context(fast_settings(1, csms_url="wss://example"), 3)


def test_authorization_key_is_redacted_from_logged_frames() -> None:
    frame = '[2,"1","ChangeConfiguration",{"key":"AuthorizationKey","value":"s3cret-s3cret-s3cret"}]'
    assert "s3cret" not in redact(frame)
    assert redact('[2,"1","Heartbeat",{}]') == '[2,"1","Heartbeat",{}]'


async def test_change_authorization_key_reconnects_with_it(make_service, password_file: Path) -> None:
    csms = TestCsms(password=PASSWORD)
    await csms.start()
    try:
        service = await make_service(csms.port, security_profile=1)  # no file: the persisted AuthorizationKey
        await asyncio.sleep(0.2)
        assert not service.client.online  # no key yet: a clear configuration error, retried
        assert "AuthorizationKey" in service.client.supervisor.last_error
        service.client.keys.set("AuthorizationKey", PASSWORD)
        await csms.wait_for("StatusNotification")
        peer = csms.peers["CP1"]
        new = "fedcba9876543210fedc"
        csms.password = new
        result = await peer.request("ChangeConfiguration", key="AuthorizationKey", value=new)
        assert result.status == "Accepted"
        await csms.wait_for("BootNotification", count=2)
        assert service.client.keys.get("AuthorizationKey") == new
        conf = await csms.peers["CP1"].request("GetConfiguration", key=["AuthorizationKey"])
        assert conf.unknown_key == ["AuthorizationKey"]  # write-only: never read back
    finally:
        await csms.stop()
