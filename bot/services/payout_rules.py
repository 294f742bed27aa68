"""What a payout's phone, amount and reason must be: one set of rules for /send, bulk and schedules.

Each check raises ``InvalidInput`` naming the field, with a sentence a cashier understands.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings
from bot.services.errors import InvalidInput
from mpesa.amounts import B2C_MINIMUM, STK_MINIMUM, AmountError, parse_amount
from mpesa.phone import PhoneError, normalize_msisdn

DEFAULT_REMARKS = "Payout"
REMARKS_MIN, REMARKS_MAX = 2, 100


@dataclass(frozen=True)
class PayoutTerms:
    """A payout's checked terms: Daraja's phone form, whole shillings, the remarks sent."""

    msisdn: str
    amount: int
    remarks: str


def payout_msisdn(raw_phone: str, *, settings: Settings) -> str:
    """A Safaricom number in Daraja's 2547XXXXXXXX form (Airtel, landlines... are refused)."""
    try:
        return normalize_msisdn(str(raw_phone), extra_prefixes=settings.mpesa_extra_prefixes)
    except PhoneError as exc:
        raise InvalidInput(str(exc), field="phone") from None


def payout_amount(raw_amount: str | int, *, settings: Settings) -> int:
    """Whole shillings between the B2C minimum and MPESA_MAX_AMOUNT ("1.5" is refused)."""
    try:
        return parse_amount(raw_amount, minimum=B2C_MINIMUM, maximum=settings.mpesa_max_amount)
    except AmountError as exc:
        raise InvalidInput(str(exc), field="amount") from None


def request_amount(raw_amount: str | int, *, settings: Settings) -> int:
    """Whole shillings an STK Push may ask for (KES 1 up to MPESA_MAX_AMOUNT)."""
    try:
        return parse_amount(raw_amount, minimum=STK_MINIMUM, maximum=settings.mpesa_max_amount)
    except AmountError as exc:
        raise InvalidInput(str(exc), field="amount") from None


def payout_remarks(reason: str | None) -> str:
    """The reason sent to M-Pesa as Remarks: spaces squeezed, 2 to 100 characters."""
    remarks = " ".join((reason or "").split()) or DEFAULT_REMARKS
    if not REMARKS_MIN <= len(remarks) <= REMARKS_MAX:
        raise InvalidInput(
            f"The reason must be {REMARKS_MIN} to {REMARKS_MAX} characters long.", field="reason"
        )
    return remarks


def payout_terms(
    raw_phone: str, raw_amount: str | int, reason: str | None, *, settings: Settings
) -> PayoutTerms:
    """Check all three in the order a person reads them: phone, amount, reason."""
    return PayoutTerms(
        payout_msisdn(raw_phone, settings=settings),
        payout_amount(raw_amount, settings=settings),
        payout_remarks(reason),
    )
