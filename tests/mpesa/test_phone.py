"""Kenyan phone numbers: normalising typed input, masking for logs, matching callback echoes."""

from __future__ import annotations

import hashlib

import phonenumbers
import pytest
from phonenumbers import carrier

from mpesa.phone import PhoneError
from mpesa.phone import display_msisdn
from mpesa.phone import mask_id
from mpesa.phone import mask_msisdn
from mpesa.phone import normalize_msisdn
from mpesa.phone import reported_phone_matches


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0712345678", "254712345678"),
        ("0712 345 678", "254712345678"),
        ("0712-345-678", "254712345678"),
        ("0712.345.678", "254712345678"),
        ("(0712) 345 678", "254712345678"),
        (" 0712345678 ", "254712345678"),
        ("+254712345678", "254712345678"),
        ("+254 712 345 678", "254712345678"),
        ("254712345678", "254712345678"),
        ("712345678", "254712345678"),
        ("00254712345678", "254712345678"),
        ("0708374149", "254708374149"),
        ("0110123456", "254110123456"),
        ("+254 110 123 456", "254110123456"),
        ("0757123456", "254757123456"),
    ],
)
def test_normalize_accepts_safaricom_numbers(raw: str, expected: str) -> None:
    assert normalize_msisdn(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("0733 123 456", "0733 123 456 is an Airtel number; M-Pesa needs Safaricom"),
        ("0100123456", "0100123456 is an Airtel number; M-Pesa needs Safaricom"),
        ("0770 123 456", "0770 123 456 is a Telkom number; M-Pesa needs Safaricom"),
        ("0744123456", "0744123456 is a Homeland Media number; M-Pesa needs Safaricom"),
        ("+255 712 345 678", "+255 712 345 678 is not a Kenyan number"),
        ("+1 202 555 0143", "+1 202 555 0143 is not a Kenyan number"),
        ("0712 34", "0712 34 is too short for a Kenyan mobile number"),
        ("07-12", "07-12 is too short for a Kenyan mobile number"),
        ("07123456789", "07123456789 is too long for a Kenyan mobile number"),
        ("abc", "abc is not a phone number"),
        ("0712ABCDEF", "0712ABCDEF is not a phone number"),
        ("+", "+ is not a phone number"),
        ("", "No phone number given"),
        ("   ", "No phone number given"),
        ("0201234567", "0201234567 is a landline, not a mobile number"),
        ("+254 20 1234567", "+254 20 1234567 is a landline, not a mobile number"),
        ("0800 723 253", "0800 723 253 is not a mobile number"),
        ("0712345678901234567890123456789012345678901234567890", None),
    ],
)
def test_normalize_refuses_with_a_sentence(raw: str, message: str | None) -> None:
    with pytest.raises(PhoneError) as caught:
        normalize_msisdn(raw)
    if message is not None:
        assert str(caught.value) == message


def test_long_input_is_not_echoed_in_full() -> None:
    raw = "07" + "1" * 80
    with pytest.raises(PhoneError) as caught:
        normalize_msisdn(raw)
    assert len(str(caught.value)) < 100


@pytest.mark.parametrize(
    ("prefixes", "raw", "expected"),
    [
        (["0733"], "0733 123 456", "254733123456"),
        (["254733"], "0733123456", "254733123456"),
        (["+254 733"], "+254733123456", "254733123456"),
        (["733"], "0733123456", "254733123456"),
        (("0770", "0733"), "0770123456", "254770123456"),
    ],
)
def test_extra_prefixes_allow_ported_numbers(prefixes: list[str], raw: str, expected: str) -> None:
    assert normalize_msisdn(raw, extra_prefixes=prefixes) == expected


def test_extra_prefix_does_not_allow_other_prefixes() -> None:
    with pytest.raises(PhoneError):
        normalize_msisdn("0734123456", extra_prefixes=["0733"])


@pytest.mark.parametrize("prefix", ["07", "254", "", "07x3"])
def test_extra_prefix_must_be_specific_digits(prefix: str) -> None:
    with pytest.raises(ValueError):
        normalize_msisdn("0733123456", extra_prefixes=[prefix])


# daraja.md §15 is read from phonenumbers' carrier data; keep the two in agreement
@pytest.mark.parametrize(
    ("prefix", "network"),
    [
        *[(f"011{d}", "Safaricom") for d in range(10)],
        ("0140", "Safaricom"),
        ("0180", "Safaricom"),
        ("0700", "Safaricom"),
        ("0729", "Safaricom"),
        ("0757", "Safaricom"),
        ("0768", "Safaricom"),
        ("0790", "Safaricom"),
        ("0730", "Airtel"),
        ("0750", "Airtel"),
        ("0100", "Airtel"),
        ("0770", "Telkom"),
    ],
)
def test_carrier_table_matches_phonenumbers(prefix: str, network: str) -> None:
    number = phonenumbers.parse(prefix + "123456", "KE")
    assert carrier.name_for_number(number, "en") == network
    if network == "Safaricom":
        assert normalize_msisdn(prefix + "123456") == "254" + prefix[1:] + "123456"
    else:
        with pytest.raises(PhoneError):
            normalize_msisdn(prefix + "123456")


def test_phone_error_is_a_value_error() -> None:
    assert issubclass(PhoneError, ValueError)


@pytest.mark.parametrize(
    ("msisdn", "masked"),
    [
        ("254708374149", "2547****149"),
        ("254110123456", "2541****456"),
        ("2547 0837 4149", "2547****149"),
        (None, "-"),
        ("", "-"),
        ("12345", "****"),
        ("1234567", "****"),
        ("12345678", "1234****678"),
    ],
)
def test_mask_msisdn(msisdn: str | None, masked: str) -> None:
    assert mask_msisdn(msisdn) == masked


EXPECTED = "254708374149"
EXPECTED_HASH = hashlib.sha256(EXPECTED.encode()).hexdigest()


@pytest.mark.parametrize(
    ("reported", "matches"),
    [
        (None, True),
        ("", True),
        ("   ", True),
        ("************", True),
        ("254708***149", True),
        ("254708***430", False),
        ("254709***149", False),
        ("2547 ***** 149", True),
        ("2547 ***** 126", False),
        ("2548 ***** 149", False),
        ("254708****49", True),
        ("254708****48", False),
        ("2547***149", True),
        ("2547***148", False),
        ("2547*******************149", True),
        ("25470837414900***149", False),
        ("+254708***149", True),
        (EXPECTED_HASH, True),
        (EXPECTED_HASH.upper(), True),
        (hashlib.sha256(b"254708374148").hexdigest(), False),
        (254708374149, True),
        (254708374148, False),
        (254708374149.0, True),
        ("254708374149", True),
        ("+254 708 374 149", True),
        ("0708374149", True),
        ("708374149", True),
        ("0708374148", False),
        ("unknown", False),
        ("25470837414x", False),
    ],
)
def test_reported_phone_matches(reported: str | int | None, matches: bool) -> None:
    assert reported_phone_matches(EXPECTED, reported) is matches


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        # ws_CO_ + DDMMYYYYHHMMSS + milliseconds + the phone's last 9 digits
        ("ws_CO_03122026114050487708374149", "ws_CO_03122026114050487…149"),
        ("ws_CO_20112026143005812722000032", "ws_CO_20112026143005812…032"),
        # older ids carry no phone and stay searchable as they are
        ("ws_CO_191220191020363925", "ws_CO_191220191020363925"),
        ("ws_CO_DMZ_123_456", "ws_CO_DMZ_123_456"),
        ("AG_20261120_20104f3c9e7a1b2d5c6e", "AG_20261120_20104f3c9e7a1b2d5c6e"),
        ("order-254708374149-2", "order-2547****149-2"),
        ("1254708374149", "1254708374149"),  # not a phone: 13 digits
        ("", "-"),
        (None, "-"),
    ],
)
def test_mask_id_hides_the_phone_an_id_carries(value: str | None, shown: str) -> None:
    assert mask_id(value) == shown


def test_masked_checkout_ids_stay_distinct_and_stable() -> None:
    first = "ws_CO_03122026114050487708374149"
    same_second = "ws_CO_03122026114050488708374149"

    assert mask_id(first) == mask_id(first)
    assert mask_id(first) != mask_id(same_second)
    assert "708374" not in mask_id(first)


@pytest.mark.parametrize(
    ("msisdn", "shown"),
    [
        ("254708374149", "0708 374 149"),
        ("254110000001", "0110 000 001"),
        ("2547****149", "2547****149"),  # a masked number is shown as it came
        ("", ""),
    ],
)
def test_a_number_is_shown_as_kenyans_write_it(msisdn, shown):
    assert display_msisdn(msisdn) == shown
