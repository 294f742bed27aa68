"""SMS texts customers read: both languages, and one or two SMS segments each (GSM-7 counted)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

import pytest

from bot.notify.receipts import pay_link_sms
from bot.notify.receipts import payment_receipt_sms
from bot.notify.receipts import payout_sms
from bot.notify.receipts import sms_segments
from models import Order
from models import Payment
from models import Payout

BUSINESS = "Household Planet Kenya"
# the longest values the columns allow where a customer's SMS shows them
ORDER = Order(id=1, code="HP7K2Q9XABCD", amount=250_000, description="Microwave 20L")
LINK = "https://pay.householdplanet.co.ke/pay/HP7K2Q9XABCD"


def paid_payment(**overrides) -> Payment:
    fields = {
        "id": 12,
        "msisdn": "254708374149",
        "amount": 250_000,
        "paid_amount": 250_000,
        "account_reference": "HouseholdPlanet",
        "description": "",
        "receipt": "UKN3SVJ3YV",
        "paid_at": datetime(2026, 11, 23, 15, 15, tzinfo=UTC),
    }
    return Payment(**{**fields, **overrides})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a" * 160, ("gsm7", 1)),
        ("a" * 161, ("gsm7", 2)),
        ("a" * 306, ("gsm7", 2)),
        ("a" * 307, ("gsm7", 3)),
        ("€" * 80, ("gsm7", 1)),  # the extension table takes two septets each
        ("€" * 81, ("gsm7", 2)),
        ("é" * 160, ("gsm7", 1)),  # in the basic table
        ("a" * 69 + "—", ("ucs2", 1)),
        ("a" * 70 + "—", ("ucs2", 2)),
        ("a" * 133 + "—", ("ucs2", 2)),
        ("a" * 134 + "—", ("ucs2", 3)),
        ("🧾" * 35, ("ucs2", 1)),  # an emoji is two UTF-16 code units
        ("🧾" * 36, ("ucs2", 2)),
    ],
)
def test_sms_segments_count_like_the_network(text, expected):
    assert sms_segments(text) == expected


@pytest.mark.parametrize("language", ["en", "sw"])
def test_sms_receipts_fit_one_or_two_gsm7_segments(language):
    texts = [
        payment_receipt_sms(paid_payment(), ORDER, business_name=BUSINESS, language=language),
        payment_receipt_sms(
            paid_payment(description="Blender 2L and two cups"),
            None,
            business_name=BUSINESS,
            language=language,
        ),
        payment_receipt_sms(
            paid_payment(receipt=None), ORDER, business_name=BUSINESS, language=language
        ),
        pay_link_sms(ORDER, LINK, business_name=BUSINESS, language=language),
        payout_sms(
            Payout(
                id=1, msisdn="254708374149", amount=15_000, receipt="UKN7JLWLD3", remarks="Refund"
            ),
            business_name=BUSINESS,
            language=language,
        ),
    ]

    counted = [sms_segments(text) for text in texts]

    assert [encoding for encoding, _ in counted] == ["gsm7"] * len(texts)
    assert all(1 <= segments <= 2 for _, segments in counted), list(
        zip(texts, counted, strict=True)
    )
    # the plain receipt, the one a paying customer gets, fits one SMS
    assert counted[0] == ("gsm7", 1)


def test_receipt_sms_in_both_languages():
    english = payment_receipt_sms(paid_payment(), ORDER, business_name=BUSINESS, language="en")
    swahili = payment_receipt_sms(paid_payment(), ORDER, business_name=BUSINESS, language="sw")

    assert english == (
        "Household Planet Kenya: we received KES 250,000 for order HP7K2Q9XABCD. "
        "M-Pesa receipt UKN3SVJ3YV. Thank you."
    )
    assert swahili == (
        "Household Planet Kenya: tumepokea KES 250,000 kwa oda HP7K2Q9XABCD. "
        "Risiti ya M-Pesa UKN3SVJ3YV. Asante."
    )
