"""The simulator's RSA key pair: it decrypts PINs and x-keys and hands out the public half."""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Iterable

from cryptography.hazmat.primitives.asymmetric import rsa

from airtel.security import RsaPadding

KEY_ID = "100"


@functools.cache
def default_private_key() -> rsa.RSAPrivateKey:
    """One 2048-bit key pair per process (Airtel's "Encryption 2.0" size), made on first use."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def decrypt(
    key: rsa.RSAPrivateKey, text: str, paddings: Iterable[RsaPadding]
) -> tuple[bytes, RsaPadding] | None:
    """Decrypt Base64 ciphertext trying each padding; None when none of them works.

    OAEP is tried first: it fails loudly on a wrong padding, whereas PKCS#1 v1.5 decryption uses
    implicit rejection (OpenSSL 3.2+) and returns random bytes instead of failing, so the caller
    must check that the plaintext looks like what it expects.
    """
    try:
        ciphertext = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    ordered = sorted(set(paddings), key=lambda scheme: scheme is RsaPadding.PKCS1V15)
    for scheme in ordered:
        try:
            return key.decrypt(ciphertext, scheme.scheme()), scheme
        except ValueError:
            continue
    return None
