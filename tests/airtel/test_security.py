"""Airtel's cryptography: the published signing vector, PIN paddings, key formats, hashes."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from airtel.errors import ConfigurationError
from airtel.security import RsaPadding
from airtel.security import aes_signature
from airtel.security import base64_der_to_pem
from airtel.security import callback_hash
from airtel.security import encrypt_pin
from airtel.security import load_public_key
from airtel.security import load_public_key_file
from airtel.security import public_key_base64
from airtel.security import public_key_pem
from airtel.security import sign_message
from tests.helpers.airtel import decrypt
from tests.helpers.airtel import fixture
from tests.helpers.airtel import private_key
from tests.helpers.daraja_keys import self_signed

# airtel.md §4: global-121/121-platform's message_signing.ts test vector, exact bytes
VECTOR_BODY = (
    b'{"reference":"1234","subscriber":{"country":"UG","currency":"UGX","msisdn":"752604392"},'
    b'"transaction":{"amount":"100","country":"UG","currency":"UGX","id":"test_id "}}'
)
VECTOR_KEY = "PSw37xtnShLl7zgWn4dLSnf1J5GRhRsOD4OfvJOuLIM="
VECTOR_IV = "gGIhDvCBnSBhBgYiXCyMnw=="
VECTOR_SIGNATURE = (
    "bDOsVGZzbK0P5jO/M5QVMH/qxSmRJLEvIPZCdW6H81xvsZNI6jZej54oBQlHZ38yy63QNeyyYcfEkGJ8f3f15wHWs86V9"
    "BCIpHSesS3SrhozE/gGA1fLydeSS26mw0jhyt9XIpabk1RjDH59SfsrkHKU38I5mRlthG/t2qXJck0FhNR64bgOExm9C"
    "suxUlfpsSoW1g81g1u5a4yMFIHhp77f+h3EXNHzcEsdSWhqTho="
)


def test_x_signature_reproduces_the_published_vector():
    signature = aes_signature(
        VECTOR_BODY, base64.b64decode(VECTOR_KEY), base64.b64decode(VECTOR_IV)
    )

    assert signature == VECTOR_SIGNATURE


def test_sign_message_reproduces_the_vector_and_encrypts_key_and_iv():
    signed = sign_message(
        VECTOR_BODY,
        private_key().public_key(),
        aes_key=base64.b64decode(VECTOR_KEY),
        iv=base64.b64decode(VECTOR_IV),
    )

    assert signed.headers["x-signature"] == VECTOR_SIGNATURE
    assert decrypt(signed.headers["x-key"], RsaPadding.PKCS1V15) == (
        f"{VECTOR_KEY}:{VECTOR_IV}".encode()
    )
    assert signed.body == VECTOR_BODY


def test_sign_message_makes_a_fresh_key_each_time():
    key = private_key().public_key()

    first, second = (sign_message(b"{}", key) for _ in range(2))

    assert first.signature != second.signature


@pytest.mark.parametrize("scheme", list(RsaPadding))
def test_pin_round_trips_with_each_padding(scheme):
    encrypted = encrypt_pin("1234", private_key().public_key(), scheme=scheme)

    assert decrypt(encrypted, scheme) == b"1234"
    # randomised padding: never compare ciphertexts
    assert encrypted != encrypt_pin("1234", private_key().public_key(), scheme=scheme)


def test_oaep_pin_does_not_decrypt_as_the_other_oaep():
    encrypted = encrypt_pin("1234", private_key().public_key(), scheme=RsaPadding.OAEP_SHA256)

    with pytest.raises(ValueError):
        decrypt(encrypted, RsaPadding.OAEP_SHA1)


@pytest.mark.parametrize("pin", ["", "123", "12345", "12a4"])
def test_pin_must_be_four_digits(pin):
    with pytest.raises(ConfigurationError, match="4 digits"):
        encrypt_pin(pin, private_key().public_key())


@pytest.mark.parametrize(
    "form",
    ["pem", "base64-der", "base64-der-wrapped", "der-bytes", "certificate", "base64-as-pem"],
)
def test_public_key_is_read_in_every_form_airtel_hands_out(form):
    key = private_key().public_key()
    data: str | bytes = {
        "pem": lambda: public_key_pem(key),
        "base64-der": lambda: public_key_base64(key),
        "base64-der-wrapped": lambda: "\n".join(
            public_key_base64(key)[i : i + 76] for i in range(0, 392, 76)
        ),
        "der-bytes": lambda: base64.b64decode(public_key_base64(key)),
        "certificate": lambda: self_signed(private_key(), "openapi.airtel.test").public_bytes(
            Encoding.PEM
        ),
        "base64-as-pem": lambda: base64_der_to_pem(public_key_base64(key)),
    }[form]()

    loaded = load_public_key(data)

    assert loaded.public_numbers() == key.public_numbers()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("", "empty"),
        (fixture("encryption_keys_response.json")["data"]["key"], "cannot be read"),
        ("<html><body>Sign in</body></html>", "HTML page"),
    ],
)
def test_unreadable_public_key_is_configuration_error(data, message):
    with pytest.raises(ConfigurationError, match=message):
        load_public_key(data)


def test_public_key_file_missing_is_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="cannot read Airtel public key"):
        load_public_key_file(tmp_path / "airtel.pem")


def test_public_key_file_is_read(tmp_path):
    path = tmp_path / "airtel.pem"
    path.write_text(public_key_pem(private_key().public_key()))

    assert (
        load_public_key_file(path).public_numbers() == private_key().public_key().public_numbers()
    )


def test_callback_hash_reproduces_the_sample():
    body = fixture("collection_callback_with_hash.json")
    compact = (
        b'{"id":"COL000042A","message":"Paid KES 150 to DEMO MERCHANT. Trans ID '
        b'MP250301.1030.K00042.","status_code":"TS","airtel_money_id":"MP250301.1030.K00042"}'
    )

    assert callback_hash("example-callback-key", compact) == body["hash"]
