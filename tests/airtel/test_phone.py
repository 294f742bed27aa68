"""Airtel Kenya numbers: typed forms, the 9-digit wire form, carrier rules, masking."""

from __future__ import annotations

import pytest

from airtel.phone import AIRTEL_KE_PREFIXES
from airtel.phone import PhoneError
from airtel.phone import airtel_msisdn
from airtel.phone import international_msisdn
from airtel.phone import is_airtel_number
from airtel.phone import mask_msisdn
from airtel.phone import normalize_msisdn


@pytest.mark.parametrize(
    "typed",
    ["0733123456", "0733 123 456", "+254733123456", "254733123456", "733123456", "00254733123456"],
)
def test_typed_airtel_numbers_normalise(typed):
    assert normalize_msisdn(typed) == "254733123456"


@pytest.mark.parametrize("prefix", AIRTEL_KE_PREFIXES)
def test_every_airtel_prefix_of_the_reference_is_airtel(prefix):
    assert is_airtel_number(prefix + "123456")


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("0708374149", "0708374149 is a Safaricom number; Airtel Money needs Airtel"),
        ("0110123456", "is a Safaricom number"),
        ("0761123456", "is a Telkom number"),
        ("", "No phone number given"),
        ("07three", "is not a phone number"),
        ("+255733123456", "is not a Kenyan number"),
        ("0733", "is not a valid Kenyan mobile number"),
        ("0202345678", "is not a mobile number"),
    ],
)
def test_numbers_that_cannot_take_airtel_money_say_why(typed, message):
    with pytest.raises(PhoneError, match=message):
        normalize_msisdn(typed)


def test_an_extra_prefix_admits_a_ported_number():
    assert normalize_msisdn("0708374149", extra_prefixes=["0708"]) == "254708374149"


@pytest.mark.parametrize("prefix", ["07", "abc"])
def test_bad_extra_prefixes_are_refused(prefix):
    with pytest.raises(ValueError, match="phone prefix"):
        normalize_msisdn("0733123456", extra_prefixes=[prefix])


@pytest.mark.parametrize(
    "msisdn", ["254733123456", "0733123456", "733123456", 733123456, "+254 733 123 456"]
)
def test_airtel_wire_form_is_nine_digits(msisdn):
    assert airtel_msisdn(msisdn) == "733123456"


@pytest.mark.parametrize("msisdn", ["25473312345", "0733", "933123456", True, "2547331234567"])
def test_airtel_wire_form_refuses_what_is_not_a_kenyan_mobile(msisdn):
    with pytest.raises(PhoneError, match="is not a"):
        airtel_msisdn(msisdn)


def test_international_form_round_trips():
    assert international_msisdn("733123456") == "254733123456"


@pytest.mark.parametrize(
    ("value", "masked"),
    [("254733123456", "2547****456"), ("733123456", "2547****456"), (None, "-"), ("12", "****")],
)
def test_masking_is_the_same_for_both_forms(value, masked):
    assert mask_msisdn(value) == masked
