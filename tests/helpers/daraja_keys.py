"""A throwaway RSA key pair and self-signed X.509 certificate standing in for Safaricom's."""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class DarajaKeys:
    """A private key and its certificate in PEM and DER, like the files Safaricom publishes."""

    private_key: rsa.RSAPrivateKey
    cert_pem: bytes
    cert_der: bytes
    private_key_pem: bytes

    def decrypt(self, credential: str) -> str:
        """Undo ``security_credential``: base64-decode and RSA-decrypt (PKCS#1 v1.5) to text."""
        return self.private_key.decrypt(base64.b64decode(credential), padding.PKCS1v15()).decode()


def self_signed(key: rsa.RSAPrivateKey, common_name: str) -> x509.Certificate:
    """A certificate for ``key`` signed by itself, valid from yesterday for a year."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )


def generate_keys(*, key_size: int = 2048, common_name: str = "apicrypt.test") -> DarajaKeys:
    """Create a fresh RSA key (``key_size`` bits) and a self-signed certificate for it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    cert = self_signed(key, common_name)
    return DarajaKeys(
        private_key=key,
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        cert_der=cert.public_bytes(serialization.Encoding.DER),
        private_key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


@functools.cache
def shared_keys() -> DarajaKeys:
    """One 2048-bit key pair per test process (generating keys is the slow part)."""
    return generate_keys()
