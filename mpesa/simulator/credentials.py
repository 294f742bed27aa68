"""The simulator's own RSA key pair and certificate, standing in for Safaricom's published one.

Clients encrypt the initiator password with the certificate (``GET /simulator/certificate``) and
the simulator decrypts every SecurityCredential with the private key, so a client's credential
code is tested for real. Like Safaricom's files, the certificate's validity dates lie in the past:
Daraja uses the key and ignores the dates, and a client must too.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

COMMON_NAME = "apicrypt.simulator.invalid"
KEY_SIZE = 2048  # Safaricom's certificates are 2048-bit: 344-character credentials
NOT_BEFORE = datetime(2019, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2021, 1, 1, tzinfo=UTC)  # expired, like the files Safaricom hands out


@dataclass(frozen=True)
class SimulatorKeys:
    """A private key and its self-signed certificate (PEM)."""

    private_key: rsa.RSAPrivateKey
    certificate_pem: bytes

    def decrypt(self, credential: str) -> str | None:
        """Return the password inside a SecurityCredential, or None when it is not one of ours."""
        try:
            encrypted = base64.b64decode(credential.strip(), validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(encrypted) != self.private_key.key_size // 8:
            return None
        try:
            plain = self.private_key.decrypt(encrypted, padding.PKCS1v15())
        except ValueError:
            return None
        try:
            return plain.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def to_pem(self) -> bytes:
        """Return the private key followed by the certificate, as one PEM file."""
        key = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return key + self.certificate_pem


def generate_keys() -> SimulatorKeys:
    """Create a fresh 2048-bit key and an expired self-signed certificate for it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    return SimulatorKeys(private_key=key, certificate_pem=_certificate(key))


def _certificate(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mpesa-bot Daraja simulator"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@functools.cache
def default_keys() -> SimulatorKeys:
    """One key pair per process: generating keys is the slow part of starting a simulator."""
    return generate_keys()


def load_or_create_keys(path: str | Path) -> SimulatorKeys:
    """Read the key pair kept at ``path``, or create it there (mode 0600) so restarts keep it."""
    path = Path(path)
    if not path.exists():
        keys = generate_keys()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(keys.to_pem())
        return keys
    data = path.read_bytes()
    try:
        key = serialization.load_pem_private_key(data, password=None)
        cert = x509.load_pem_x509_certificate(data[data.index(b"-----BEGIN CERTIFICATE") :])
    except ValueError as exc:
        raise ValueError(f"{path} does not hold the simulator's key and certificate") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA key")
    return SimulatorKeys(
        private_key=key, certificate_pem=cert.public_bytes(serialization.Encoding.PEM)
    )
