"""Daraja's passwords and credentials: STK password, Nairobi timestamps, SecurityCredential."""

from __future__ import annotations

import base64
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa

from mpesa.errors import ConfigurationError

NAIROBI = ZoneInfo("Africa/Nairobi")
TIMESTAMP_FORMAT = "%Y%m%d%H%M%S"


def nairobi_now() -> datetime:
    """Return the current time as an aware datetime in Africa/Nairobi (EAT, UTC+3)."""
    return datetime.now(NAIROBI)


def daraja_timestamp(now: datetime | None = None) -> str:
    """Return Daraja's 14-digit ``YYYYMMDDHHMMSS`` timestamp in Nairobi time."""
    moment = now or nairobi_now()
    if moment.tzinfo is None:
        raise ValueError("daraja_timestamp needs an aware datetime (a naive one hides the zone)")
    return moment.astimezone(NAIROBI).strftime(TIMESTAMP_FORMAT)


def parse_daraja_timestamp(value: str | int) -> datetime:
    """Parse ``YYYYMMDDHHMMSS`` (string or number) as an aware Nairobi datetime."""
    text = str(value).strip()
    if len(text) == 14 and text.isascii() and text.isdigit():
        # 14 digits split only one way; strptime would take the same fields, ten times slower
        return datetime(
            int(text[:4]),
            int(text[4:6]),
            int(text[6:8]),
            int(text[8:10]),
            int(text[10:12]),
            int(text[12:]),
            tzinfo=NAIROBI,
        )
    return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=NAIROBI)


def stk_password(shortcode: str, passkey: str, timestamp: str) -> str:
    """Return the STK Push/Query password: base64(shortcode + passkey + timestamp)."""
    return base64.b64encode(f"{shortcode}{passkey}{timestamp}".encode()).decode("ascii")


def load_certificate(path: str | Path) -> bytes:
    """Read a certificate file (PEM or DER) and return its bytes, checking it really is one."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read certificate {path}: {exc.strerror}") from exc
    _public_key(data)
    return data


def security_credential(initiator_password: str, certificate: bytes) -> str:
    """Encrypt the bare initiator password with the certificate's RSA key (PKCS#1 v1.5), base64."""
    if not initiator_password:
        raise ConfigurationError("the initiator password is empty")
    key = _public_key(certificate)
    encrypted = key.encrypt(initiator_password.encode("utf-8"), padding.PKCS1v15())
    return base64.b64encode(encrypted).decode("ascii")


def _public_key(certificate: bytes) -> rsa.RSAPublicKey:
    """Load the RSA public key of an X.509 certificate given as PEM or DER bytes."""
    loader = (
        x509.load_pem_x509_certificate
        if certificate.lstrip().startswith(b"-----BEGIN")
        else x509.load_der_x509_certificate
    )
    try:
        cert = loader(certificate)
    except ValueError as exc:
        # a failed portal download saved as .cer is often an HTML page
        hint = " (it looks like an HTML page)" if b"<html" in certificate[:512].lower() else ""
        raise ConfigurationError(f"the certificate file is not an X.509 certificate{hint}") from exc
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise ConfigurationError("the certificate does not carry an RSA public key")
    return key
