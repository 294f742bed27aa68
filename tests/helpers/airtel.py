"""Shared bits of the Airtel tests: the samples, a throwaway RSA key pair, typed comparisons."""

from __future__ import annotations

import base64
import functools
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from airtel.security import RsaPadding
from airtel.security import public_key_pem

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "airtel"

# Airtel's paths, spelled out here rather than taken from airtel.client, so a wrong one fails
PUSH = "/merchant/v1/payments/"
REFUND = "/standard/v1/payments/refund"
DISBURSE = "/standard/v1/disbursements/"
DISBURSE_V2 = "/standard/v2/disbursements/"


def fixture(name: str) -> dict[str, Any]:
    """One of Airtel's sample bodies (tests/fixtures/airtel/README.md lists them)."""
    return json.loads((FIXTURES / name).read_text())


@functools.cache
def private_key() -> rsa.RSAPrivateKey:
    """A 2048-bit key pair standing in for Airtel's, made once per test process."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem() -> str:
    """The stand-in key's public half as PEM (what AIRTEL_PUBLIC_KEY_PATH would hold)."""
    return public_key_pem(private_key().public_key())


def decrypt(ciphertext: str, scheme: RsaPadding) -> bytes:
    """Undo ``encrypt_pin`` / the ``x-key`` with the stand-in private key."""
    return private_key().decrypt(base64.b64decode(ciphertext), scheme.scheme())


def typed(value: Any) -> Any:
    """A body with every scalar paired with its type: 150 vs 150.0 vs "150" then differ."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    return (type(value).__name__, value)
