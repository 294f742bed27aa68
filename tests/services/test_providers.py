"""The provider router: one decision, for every entry point, of which provider serves a phone."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.config import SettingsError
from bot.config import load_settings
from bot.services.bulk_files import RawRow
from bot.services.bulk_rows import check_rows
from bot.services.errors import InvalidInput
from bot.services.payout_rules import payout_terms
from bot.services.providers import max_amount
from bot.services.providers import provider_code
from bot.services.providers import provider_for_code
from bot.services.providers import provider_name
from bot.services.providers import route_phone
from models import Provider

BOTH = "we take M-Pesa (Safaricom) and Airtel Money (Airtel) numbers"


def settings_for(**values: object) -> Settings:
    return Settings(_env_file=None, **values)


@pytest.mark.parametrize(
    ("phone", "provider", "msisdn"),
    [
        ("0708 374 149", Provider.MPESA, "254708374149"),
        ("+254 110 123 456", Provider.MPESA, "254110123456"),
        ("0733 123 456", Provider.AIRTEL, "254733123456"),
        ("750123456", Provider.AIRTEL, "254750123456"),
        ("0100 123 456", Provider.AIRTEL, "254100123456"),
        ("254786000111", Provider.AIRTEL, "254786000111"),
    ],
)
def test_with_airtel_on_each_number_goes_to_its_carriers_provider(phone, provider, msisdn):
    routed = route_phone(phone, settings_for(airtel_enabled=True))

    assert (routed.provider, routed.msisdn) == (provider, msisdn)


def test_with_airtel_off_an_airtel_number_is_refused_with_todays_reason():
    with pytest.raises(InvalidInput) as refused:
        route_phone("0733 123 456", settings_for())

    assert str(refused.value) == "0733 123 456 is an Airtel number; M-Pesa needs Safaricom"
    assert refused.value.field == "phone"
    # the template stays translatable for customers
    assert refused.value.template == "{phone} is an {network} number; M-Pesa needs Safaricom"


@pytest.mark.parametrize(
    ("phone", "reason"),
    [
        ("0770 123 456", "0770 123 456 is on Telkom; we take M-Pesa (Safaricom) and Airtel Money"),
        ("020 2345678", "020 2345678 is a landline, not a mobile number"),
        ("hello", "hello is not a phone number"),
    ],
)
def test_with_airtel_on_a_number_neither_takes_is_refused_naming_both(phone, reason):
    with pytest.raises(InvalidInput) as refused:
        route_phone(phone, settings_for(airtel_enabled=True))

    assert str(refused.value).startswith(reason)


@pytest.mark.parametrize(
    ("mpesa_extra", "airtel_extra", "phone", "provider"),
    [
        # a Safaricom-range number ported to Airtel
        ([], ["0722100"], "0722 100 032", Provider.AIRTEL),
        ([], ["0722100"], "0722 200 032", Provider.MPESA),
        # an Airtel-range number ported to Safaricom
        (["0733123"], [], "0733 123 456", Provider.MPESA),
        # both lists match: the longer (more precise) prefix decides
        (["0733"], ["073312"], "0733 123 456", Provider.AIRTEL),
        (["073312"], ["0733"], "0733 123 456", Provider.MPESA),
        (["073312"], ["0733"], "0733 999 456", Provider.AIRTEL),
    ],
)
def test_ported_numbers_follow_the_extra_prefixes_and_the_longer_one_wins(
    mpesa_extra, airtel_extra, phone, provider
):
    settings = settings_for(
        airtel_enabled=True, mpesa_extra_prefixes=mpesa_extra, airtel_extra_prefixes=airtel_extra
    )

    assert route_phone(phone, settings).provider is provider


def test_a_prefix_in_both_lists_is_refused_at_start_up():
    with pytest.raises(SettingsError) as caught:
        load_settings(
            _env_file=None, mpesa_extra_prefixes=["0733"], airtel_extra_prefixes=["254733"]
        )

    assert "254733 is in both; a number has one provider" in str(caught.value)


def test_the_amount_limit_is_the_providers_own():
    settings = settings_for(airtel_enabled=True, mpesa_max_amount=150_000, airtel_max_amount=70_000)

    mpesa = payout_terms("0708374149", "100000", "Refund", settings=settings)
    with pytest.raises(InvalidInput, match="over the KES 70,000 limit per transaction"):
        payout_terms("0733123456", "100000", "Refund", settings=settings)

    assert (mpesa.provider, mpesa.amount) == (Provider.MPESA, 100_000)
    assert max_amount(Provider.AIRTEL, settings) == 70_000


def test_the_names_people_and_the_api_use():
    assert [provider_name(p) for p in Provider] == ["M-Pesa", "Airtel Money"]
    assert [provider_code(p) for p in Provider] == ["MPESA", "AIRTEL"]
    assert provider_for_code("AIRTEL") is Provider.AIRTEL
    assert provider_for_code("TKASH") is None
    assert provider_name(None) == "M-Pesa"  # rows from before Airtel


def test_bulk_rows_take_airtel_numbers_only_when_airtel_is_on():
    rows = [
        RawRow(2, "0708374149", "1500", reference="Wages"),
        RawRow(3, "0733123456", "2000", reference="Wages"),
        RawRow(4, "0770123456", "500", reference="Wages"),
    ]

    on = check_rows(rows, settings=settings_for(airtel_enabled=True, airtel_max_amount=1_800))
    off = check_rows(rows, settings=settings_for())

    assert [(r.line, r.msisdn, r.error) for r in on] == [
        (2, "254708374149", None),
        (3, None, "KES 2,000 is over the KES 1,800 limit per transaction"),
        (
            4,
            None,
            "0770123456 is on Telkom; we take M-Pesa (Safaricom) and Airtel Money (Airtel) numbers",
        ),
    ]
    assert [r.error for r in off][1] == "0733123456 is an Airtel number; M-Pesa needs Safaricom"
