"""Airtel's cryptography: the RSA public key, the encrypted PIN, message signing, callback hashes.

Where the sources disagree (airtel.md §4, §5.2, §6.2) the choice is a parameter whose default is
the reference's most likely value: PKCS#1 v1.5 for the PIN and the ``x-key``; the callback hash
over the compact JSON of ``transaction``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import textwrap
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as symmetric_padding
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.ciphers import modes

from airtel.errors import ConfigurationError

SIGNATURE_HEADER = "x-signature"
KEY_HEADER = "x-key"
_PIN = re.compile(r"[0-9]{4}")


class RsaPadding(StrEnum):
    """RSA padding for the PIN and the ``x-key``; sources disagree, PKCS#1 v1.5 is the default."""

    PKCS1V15 = "pkcs1v15"  # the 1024-bit "v1" key of the docs, used in production by two SDKs
    OAEP_SHA1 = "oaep-sha1"  # laravel-airtel-money's PinCommand
    OAEP_SHA256 = "oaep-sha256"  # "Encryption 2.0" (OAEPWithSHA-256AndMGF1Padding, 2048 bits)

    def scheme(self) -> padding.AsymmetricPadding:
        """The ``cryptography`` padding object for this choice."""
        if self is RsaPadding.PKCS1V15:
            return padding.PKCS1v15()
        algorithm = hashes.SHA1() if self is RsaPadding.OAEP_SHA1 else hashes.SHA256()  # noqa: S303
        return padding.OAEP(mgf=padding.MGF1(algorithm=algorithm), algorithm=algorithm, label=None)


class HashInput(StrEnum):
    """Which bytes the callback ``hash`` covers; undocumented, so the verifier tries several."""

    TRANSACTION_JSON = "transaction"  # compact JSON of the ``transaction`` object (ZM note)
    RAW_BODY = "body"  # the raw body as received (a Supabase integration)
    BODY_WITHOUT_HASH = "body-without-hash"  # compact JSON of the body minus its ``hash`` field


DEFAULT_HASH_INPUTS = (HashInput.TRANSACTION_JSON, HashInput.RAW_BODY, HashInput.BODY_WITHOUT_HASH)


def load_public_key(data: bytes | str) -> rsa.RSAPublicKey:
    """Read Airtel's RSA public key: PEM, an X.509 certificate, or the portal's bare Base64 DER."""
    raw = data.encode("ascii", "replace") if isinstance(data, str) else bytes(data)
    stripped = raw.strip()
    if not stripped:
        raise ConfigurationError("the Airtel public key is empty")
    try:
        if stripped.startswith(b"-----BEGIN CERTIFICATE"):
            key = x509.load_pem_x509_certificate(stripped).public_key()
        elif stripped.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(stripped)
        else:
            key = _load_der(stripped)
    except (ValueError, UnsupportedAlgorithm) as exc:
        hint = " (it looks like an HTML page)" if b"<html" in stripped[:512].lower() else ""
        raise ConfigurationError(f"the Airtel public key cannot be read{hint}") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise ConfigurationError("the Airtel public key is not an RSA key")
    return key


def load_public_key_file(path: str | Path) -> rsa.RSAPublicKey:
    """Read the Airtel public key from a file (PEM, certificate or Base64 DER)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read Airtel public key {path}: {exc.strerror}") from exc
    return load_public_key(data)


def public_key_pem(key: rsa.RSAPublicKey) -> str:
    """The key as PEM text (SubjectPublicKeyInfo, 64-character lines)."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def public_key_base64(key: rsa.RSAPublicKey) -> str:
    """The key as Airtel hands it out: Base64 of the DER SubjectPublicKeyInfo, one line."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


def base64_der_to_pem(text: str) -> str:
    """Wrap Airtel's bare Base64 key as PEM (64-character lines), as airtel.md §4 describes."""
    body = "".join(text.split())
    lines = "\n".join(textwrap.wrap(body, 64))
    return f"-----BEGIN PUBLIC KEY-----\n{lines}\n-----END PUBLIC KEY-----\n"


def rsa_encrypt(key: rsa.RSAPublicKey, plaintext: bytes, scheme: RsaPadding) -> str:
    """Encrypt with the public key and the chosen padding; Base64 of the ciphertext."""
    try:
        ciphertext = key.encrypt(plaintext, scheme.scheme())
    except ValueError as exc:
        raise ConfigurationError(f"the Airtel public key cannot encrypt with {scheme}") from exc
    return base64.b64encode(ciphertext).decode("ascii")


def encrypt_pin(
    pin: str, key: rsa.RSAPublicKey, *, scheme: RsaPadding = RsaPadding.PKCS1V15
) -> str:
    """Encrypt the 4-digit disbursement PIN for the ``pin`` field (ciphertext differs each time)."""
    if not _PIN.fullmatch(pin or ""):
        raise ConfigurationError("the Airtel disbursement PIN must be 4 digits")
    return rsa_encrypt(key, pin.encode("ascii"), scheme)


def aes_signature(body: bytes, aes_key: bytes, iv: bytes) -> str:
    """``x-signature``: Base64(AES-256-CBC with PKCS#7 padding of the exact body bytes)."""
    if len(aes_key) != 32 or len(iv) != 16:
        raise ValueError("AES-256-CBC needs a 32-byte key and a 16-byte IV")
    padder = symmetric_padding.PKCS7(128).padder()
    padded = padder.update(body) + padder.finalize()
    encryptor = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")


@dataclass(frozen=True)
class SignedMessage:
    """A body and the two headers that sign it; send ``body`` exactly as it is here."""

    body: bytes
    signature: str
    encrypted_key: str

    @property
    def headers(self) -> dict[str, str]:
        """The ``x-signature`` and ``x-key`` headers."""
        return {SIGNATURE_HEADER: self.signature, KEY_HEADER: self.encrypted_key}


def sign_message(
    body: bytes,
    key: rsa.RSAPublicKey,
    *,
    scheme: RsaPadding = RsaPadding.PKCS1V15,
    aes_key: bytes | None = None,
    iv: bytes | None = None,
) -> SignedMessage:
    """Sign a body: a fresh AES key and IV (unless given), ``x-key`` = RSA("<b64key>:<b64iv>")."""
    aes_key = aes_key if aes_key is not None else os.urandom(32)
    iv = iv if iv is not None else os.urandom(16)
    pair = f"{base64.b64encode(aes_key).decode()}:{base64.b64encode(iv).decode()}"
    return SignedMessage(
        body=body,
        signature=aes_signature(body, aes_key, iv),
        encrypted_key=rsa_encrypt(key, pair.encode("ascii"), scheme),
    )


def callback_hash(key: str, message: bytes) -> str:
    """Base64 HMAC-SHA256 of ``message`` under the callback key shown in Airtel's portal."""
    digest = hmac.new(key.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def hashes_match(expected: str, received: str) -> bool:
    """Compare two Base64 hashes in constant time, ignoring surrounding whitespace."""
    return hmac.compare_digest(expected.strip().encode(), received.strip().encode())


def _load_der(data: bytes) -> object:
    """Bare Base64 DER (what the portal and /v1/rsa/encryption-keys give), or raw DER bytes."""
    try:
        der = base64.b64decode(b"".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        der = data
    try:
        return serialization.load_der_public_key(der)
    except ValueError:
        return x509.load_der_x509_certificate(der).public_key()
