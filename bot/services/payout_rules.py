"""What a payout's phone, amount and reason must be: one set of rules for /send, bulk and schedules.

Each check raises ``InvalidInput`` naming the field, with a sentence a cashier understands. The
phone decides the provider (providers.route_phone), and the provider the largest amount.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings
from bot.services import providers
from bot.services.errors import InvalidInput
from bot.services.providers import Routed
from bot.services.providers import route_phone
from models import Provider

DEFAULT_REMARKS = "Payout"
REMARKS_MIN, REMARKS_MAX = 2, 100


@dataclass(frozen=True)
class PayoutTerms:
    """A payout's checked terms: the 2547XXXXXXXX phone, whole shillings, remarks, provider."""

    msisdn: str
    amount: int
    remarks: str
    provider: Provider = Provider.MPESA


def payout_route(raw_phone: str, *, settings: Settings) -> Routed:
    """The provider and 2547XXXXXXXX form of a payout's phone (landlines, Telkom... refused)."""
    return route_phone(str(raw_phone), settings)


def payout_msisdn(raw_phone: str, *, settings: Settings) -> str:
    """A Safaricom (or, with AIRTEL_ENABLED, Airtel) number in the 2547XXXXXXXX form."""
    return payout_route(raw_phone, settings=settings).msisdn


def payout_amount(
    raw_amount: str | int, *, settings: Settings, provider: Provider = Provider.MPESA
) -> int:
    """Whole shillings from the payout minimum to the provider's maximum ("1.5" is refused)."""
    return providers.payout_amount(raw_amount, provider, settings)


def request_amount(
    raw_amount: str | int, *, settings: Settings, provider: Provider = Provider.MPESA
) -> int:
    """Whole shillings a payment request may ask for (KES 1 up to the provider's maximum)."""
    return providers.request_amount(raw_amount, provider, settings)


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
    routed = payout_route(raw_phone, settings=settings)
    return PayoutTerms(
        routed.msisdn,
        payout_amount(raw_amount, settings=settings, provider=routed.provider),
        payout_remarks(reason),
        routed.provider,
    )
