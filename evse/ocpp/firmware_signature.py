"""Security whitepaper §4.4 SignedUpdateFirmware: the signing certificate must chain to the configured firmware
root certificate, and the downloaded file's signature (SHA-256 with RSA PKCS#1 v1.5 or ECDSA) must verify.

Imported when a signed update arrives (`evse.ocpp.maintenance`), not at daemon start (cryptography's
primitives are megabytes a charger without signed updates does not need)."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa


class SignedFirmware:
    """The signing certificate and signature of a SignedUpdateFirmware request, checked against the root."""

    def __init__(self, firmware: dict[str, Any], root_file: Path) -> None:
        """Raises ValueError (or KeyError, OSError) with the reason when the certificate is not acceptable."""
        self.signing = x509.load_pem_x509_certificate(firmware["signingCertificate"].encode())
        self.signature = base64.b64decode(firmware["signature"], validate=True)
        if not _issued_by_root(self.signing, root_file):
            raise ValueError("not issued by the firmware root certificate")

    def verify(self, data: bytes) -> bool:
        key = self.signing.public_key()
        try:
            if isinstance(key, rsa.RSAPublicKey):
                key.verify(self.signature, data, padding.PKCS1v15(), hashes.SHA256())
            elif isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(self.signature, data, ec.ECDSA(hashes.SHA256()))
            else:
                return False
        except InvalidSignature:
            return False
        return True


def _issued_by_root(cert: x509.Certificate, root_file: Path) -> bool:
    root = x509.load_pem_x509_certificate(root_file.read_bytes())
    if cert == root:
        return True
    try:
        cert.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        return False
    now = dt.datetime.now(dt.UTC)  # wall-clock ok: certificate validity is a calendar question
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc
