"""Firmware management and diagnostics against a real HTTP server on loopback: UpdateFirmware (never during a
transaction, installed through the configured command), SignedUpdateFirmware (signature verified against the
configured certificate), GetDiagnostics with retries."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.ocpp.csms import TestCsms
from tests.ocpp.http_peer import HttpPeer
from tests.ocpp.pki import make_pki
from tests.ocpp.station_double import StationDouble

PAST = "2020-01-01T00:00:00Z"
FIRMWARE = b"\x7fELF new firmware image"


@pytest.fixture
async def http() -> AsyncIterator[HttpPeer]:
    peer = HttpPeer()
    await peer.start()
    peer.files["fw.bin"] = FIRMWARE
    yield peer
    await peer.stop()


def statuses(csms: TestCsms, action: str = "FirmwareStatusNotification") -> list[str]:
    return [p["status"] for a, p in csms.actions(action)]


async def test_update_firmware_waits_for_the_transaction_and_installs(
    csms: TestCsms, make_service, station: StationDouble, http: HttpPeer, tmp_path: Path
) -> None:
    installed = tmp_path / "installed"
    installed.mkdir()
    await make_service(csms.port, firmware_install_command=f"cp -t {installed}")
    await csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 1)
    peer = csms.peers["CP1"]
    station.begin(1)
    await csms.wait_for("StartTransaction")
    await peer.request("UpdateFirmware", location=http.url("/fw/fw.bin"), retrieve_date=PAST)
    await csms.wait_for("FirmwareStatusNotification", lambda p: p["status"] == "Downloaded")
    await asyncio.sleep(0.3)
    assert "Installing" not in statuses(csms)  # a transaction runs
    station.end(1)
    await csms.wait_for("FirmwareStatusNotification", lambda p: p["status"] == "Installed", timeout_s=5)
    assert statuses(csms) == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert (installed / "fw.bin").read_bytes() == FIRMWARE


async def test_download_failure_after_retries(csms: TestCsms, make_service, http: HttpPeer) -> None:
    await make_service(csms.port)
    await csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 1)
    await csms.peers["CP1"].request(
        "UpdateFirmware", location=http.url("/fw/missing.bin"), retrieve_date=PAST, retries=2, retry_interval=0
    )
    await csms.wait_for("FirmwareStatusNotification", lambda p: p["status"] == "DownloadFailed")
    assert http.requests.count("GET /fw/missing.bin") == 3


async def test_signed_update_verified_against_the_configured_certificate(
    csms: TestCsms, make_service, http: HttpPeer, tmp_path: Path
) -> None:
    from tests.ocpp.pki import issue

    pki = make_pki(tmp_path)
    signing_cert, signing_key = issue(pki.ca_key, pki.ca, "firmware signer")
    signature = base64.b64encode(signing_key.sign(FIRMWARE, ec.ECDSA(hashes.SHA256()))).decode()
    pem = signing_cert.public_bytes(serialization.Encoding.PEM).decode()
    installed = tmp_path / "installed"
    installed.mkdir()
    await make_service(
        csms.port, firmware_certificate_file=str(pki.ca_file), firmware_install_command=f"cp -t {installed}"
    )
    await csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 1)
    peer = csms.peers["CP1"]
    firmware = {
        "location": http.url("/fw/fw.bin"),
        "retrieve_date_time": PAST,
        "signing_certificate": pem,
        "signature": signature,
    }
    assert (await peer.request("SignedUpdateFirmware", request_id=1, firmware=firmware)).status == "Accepted"
    await csms.wait_for("SignedFirmwareStatusNotification", lambda p: p["status"] == "Installed")
    await csms.wait_for("SecurityEventNotification", lambda p: p["type"] == "FirmwareUpdated")
    seen = [p["status"] for _, p in csms.actions("SignedFirmwareStatusNotification")]
    assert seen == ["Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed"]
    # a wrong signature: InvalidSignature and a security event, nothing installed
    (installed / "fw.bin").unlink()
    bad = dict(firmware, signature=base64.b64encode(signing_key.sign(b"other", ec.ECDSA(hashes.SHA256()))).decode())
    assert (await peer.request("SignedUpdateFirmware", request_id=2, firmware=bad)).status == "Accepted"
    await csms.wait_for("SignedFirmwareStatusNotification", lambda p: p["status"] == "InvalidSignature")
    await csms.wait_for("SecurityEventNotification", lambda p: p["type"] == "InvalidFirmwareSignature")
    assert not (installed / "fw.bin").exists()
    # a signing certificate from someone else's CA is refused outright
    (tmp_path / "other").mkdir()
    other = make_pki(tmp_path / "other")
    foreign_cert, _ = issue(other.ca_key, other.ca, "impostor")
    foreign = dict(firmware, signing_certificate=foreign_cert.public_bytes(serialization.Encoding.PEM).decode())
    result = await peer.request("SignedUpdateFirmware", request_id=3, firmware=foreign)
    assert result.status == "InvalidCertificate"


async def test_diagnostics_upload_with_retries(csms: TestCsms, make_service, http: HttpPeer, tmp_path: Path) -> None:
    log_file = tmp_path / "evse.log"
    log_file.write_text("handshake trace\n")
    await make_service(csms.port, diagnostics_paths=[str(log_file)])
    await csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 1)
    http.fail_uploads = 1
    result = await csms.peers["CP1"].request(
        "GetDiagnostics", location=http.url("/upload"), retries=2, retry_interval=0
    )
    await csms.wait_for("DiagnosticsStatusNotification", lambda p: p["status"] == "Uploaded")
    assert statuses(csms, "DiagnosticsStatusNotification") == ["Uploading", "Uploaded"]
    assert result.file_name in http.uploads and http.requests.count("POST /upload") == 2
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(http.uploads[result.file_name])) as tar:
        assert {"ocpp-state.json", "evse.log"} <= set(tar.getnames())
    # an unreachable location fails after the retries
    await csms.peers["CP1"].request("GetDiagnostics", location="http://127.0.0.1:1/upload", retries=1, retry_interval=0)
    await csms.wait_for("DiagnosticsStatusNotification", lambda p: p["status"] == "UploadFailed")


async def test_diagnostics_upload_over_ftp(csms: TestCsms, make_service) -> None:
    from tests.ocpp.ftp_peer import FtpPeer

    ftp = FtpPeer()
    await ftp.start()
    try:
        await make_service(csms.port)
        await csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 1)
        location = f"ftp://evse:secret@127.0.0.1:{ftp.port}/diag"
        result = await csms.peers["CP1"].request("GetDiagnostics", location=location)
        await csms.wait_for("DiagnosticsStatusNotification", lambda p: p["status"] == "Uploaded")
        assert list(ftp.files) == [f"/diag/{result.file_name}"]
        assert ftp.files[f"/diag/{result.file_name}"][:2] == b"\x1f\x8b"  # gzip
        bad = f"ftp://evse:wrong@127.0.0.1:{ftp.port}/diag"
        await csms.peers["CP1"].request("GetDiagnostics", location=bad)
        await csms.wait_for("DiagnosticsStatusNotification", lambda p: p["status"] == "UploadFailed")
    finally:
        await ftp.stop()
