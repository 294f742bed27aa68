"""STK password, Nairobi timestamps and the SecurityCredential against generated keys."""

from __future__ import annotations

import json
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest

from mpesa.errors import ConfigurationError
from mpesa.security import NAIROBI
from mpesa.security import daraja_timestamp
from mpesa.security import load_certificate
from mpesa.security import parse_daraja_timestamp
from mpesa.security import security_credential
from mpesa.security import stk_password
from tests.helpers.daraja_keys import generate_keys
from tests.helpers.daraja_keys import shared_keys

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "daraja"
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
INITIATOR_PASSWORD = "Safaricom999!*!"


def fixture(name: str) -> dict[str, object]:
    return json.loads((FIXTURES / name).read_text())


@pytest.mark.parametrize("name", ["stk_push_request.json", "stk_query_request.json"])
def test_stk_password_equals_fixture_password(name):
    body = fixture(name)

    password = stk_password(body["BusinessShortCode"], SANDBOX_PASSKEY, body["Timestamp"])

    assert password == body["Password"]


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 11, 20, 11, 30, 5, tzinfo=UTC), "20261120143005"),
        (datetime(2026, 11, 20, 22, 15, 0, tzinfo=UTC), "20261121011500"),  # next day in Nairobi
        (datetime(2026, 11, 20, 14, 30, 5, tzinfo=NAIROBI), "20261120143005"),
    ],
)
def test_daraja_timestamp_is_nairobi_time(moment, expected):
    assert daraja_timestamp(moment) == expected


def test_daraja_timestamp_refuses_naive_datetime():
    with pytest.raises(ValueError, match="aware"):
        daraja_timestamp(datetime(2026, 11, 20, 11, 30))  # naive on purpose


@pytest.mark.parametrize("encoding", ["pem", "der"])
def test_security_credential_decrypts_to_bare_password(encoding):
    keys = shared_keys()
    certificate = keys.cert_pem if encoding == "pem" else keys.cert_der

    credential = security_credential(INITIATOR_PASSWORD, certificate)

    assert keys.decrypt(credential) == INITIATOR_PASSWORD


def test_security_credential_is_random_padded_each_time():
    certificate = shared_keys().cert_pem

    first = security_credential(INITIATOR_PASSWORD, certificate)
    second = security_credential(INITIATOR_PASSWORD, certificate)

    assert first != second


def test_security_credential_length_is_344_for_2048_bit_key():
    credential = security_credential(INITIATOR_PASSWORD, shared_keys().cert_der)

    assert len(credential) == 344


def test_security_credential_length_follows_key_size():
    keys = generate_keys(key_size=1024)

    credential = security_credential(INITIATOR_PASSWORD, keys.cert_pem)

    assert (len(credential), keys.decrypt(credential)) == (172, INITIATOR_PASSWORD)


def test_html_page_instead_of_certificate_is_configuration_error():
    html = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Portal</body></html>"

    with pytest.raises(ConfigurationError, match="HTML"):
        security_credential(INITIATOR_PASSWORD, html)


def test_garbage_pem_is_configuration_error():
    broken = b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"

    with pytest.raises(ConfigurationError, match=r"not an X\.509 certificate"):
        security_credential(INITIATOR_PASSWORD, broken)


def test_empty_initiator_password_is_configuration_error():
    with pytest.raises(ConfigurationError, match="empty"):
        security_credential("", shared_keys().cert_pem)


@pytest.mark.parametrize("encoding", ["pem", "der"])
def test_load_certificate_reads_pem_and_der(tmp_path, encoding):
    keys = shared_keys()
    data = keys.cert_pem if encoding == "pem" else keys.cert_der
    path = tmp_path / f"sandbox.{encoding}"
    path.write_bytes(data)

    assert load_certificate(path) == data


def test_load_certificate_refuses_html_download(tmp_path):
    path = tmp_path / "SandboxCertificate.cer"
    path.write_bytes(b"<html><body>Session expired</body></html>")

    with pytest.raises(ConfigurationError, match="HTML"):
        load_certificate(path)


def test_load_certificate_missing_file_is_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="cannot read certificate"):
        load_certificate(tmp_path / "missing.cer")


@pytest.mark.parametrize(
    "value",
    [
        "20261120143041",
        20261120143041,
        " 20260229000000 ",  # not a leap year
        "20241231235959",
        "20261320143041",  # month 13
        "20261100143041",  # day 0
        "20261120246041",  # hour 24, minute 60
        "20261120143060",  # second 60
        "2026112014304",  # 13 digits
        "2026-11-20 14:30:41",
        "２０２６１１２０１４３０４１",  # full-width digits: not ASCII
    ],
)
def test_parse_daraja_timestamp_agrees_with_strptime(value: str | int) -> None:
    """The 14-digit fast path reads the same moment, or refuses the same text, as strptime."""
    text = str(value).strip()
    try:
        expected = datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=NAIROBI)
    except ValueError:
        with pytest.raises(ValueError):
            parse_daraja_timestamp(value)
        return
    assert parse_daraja_timestamp(value) == expected
    assert parse_daraja_timestamp(value).tzinfo is NAIROBI
