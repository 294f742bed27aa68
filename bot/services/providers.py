"""Which provider moves a phone's money: the one place that decides, for every entry point.

A Kenyan number belongs to M-Pesa (Safaricom) or Airtel Money (Airtel) by its prefix:
phonenumbers' carrier data, overridden for ported numbers by MPESA_EXTRA_PREFIXES and
AIRTEL_EXTRA_PREFIXES (the longer matching prefix wins). Airtel numbers are accepted only with
AIRTEL_ENABLED; otherwise they are refused with today's reason ("… is an Airtel number; M-Pesa
needs Safaricom"). A prefix is a hint: before a payout, the Airtel KYC lookup confirms the
account (AirtelPayouts). `/request`, `/send`, bulk rows, schedules, the payment page and the
API all route through ``route_phone``.
"""

from __future__ import annotations

from dataclasses import dataclass

from airtel.phone import PhoneError as AirtelPhoneError
from airtel.phone import normalize_msisdn as airtel_normalize
from bot.config import Settings
from bot.config import normalized_prefix
from bot.i18n import N_
from bot.services.errors import InvalidInput
from models import Provider
from mpesa.amounts import B2C_MINIMUM
from mpesa.amounts import STK_MINIMUM
from mpesa.amounts import AmountError
from mpesa.amounts import parse_amount
from mpesa.phone import PhoneError
from mpesa.phone import normalize_msisdn

PROVIDER_NAMES = {Provider.MPESA: "M-Pesa", Provider.AIRTEL: "Airtel Money"}
# the API's and the export's word for a provider
PROVIDER_CODES = {Provider.MPESA: "MPESA", Provider.AIRTEL: "AIRTEL"}
# a phone M-Pesa refused for its network: with Airtel on, say both are taken
_NETWORK_REFUSAL = "M-Pesa needs Safaricom"
BOTH_NETWORKS = N_(
    "{phone} is on {network}; we take M-Pesa (Safaricom) and Airtel Money (Airtel) numbers"
)


def provider_name(provider: Provider | str | None) -> str:
    """ "M-Pesa" or "Airtel Money" (rows without a provider are M-Pesa's)."""
    return PROVIDER_NAMES[Provider(provider or Provider.MPESA)]


def provider_code(provider: Provider | str | None) -> str:
    """ "MPESA" or "AIRTEL", as the API and exports spell a provider."""
    return PROVIDER_CODES[Provider(provider or Provider.MPESA)]


def provider_for_code(code: str) -> Provider | None:
    """The provider the API's ``paymentMethod`` names ("MPESA", "AIRTEL"), or None."""
    return next((p for p, word in PROVIDER_CODES.items() if word == code), None)


@dataclass(frozen=True)
class Routed:
    """A phone as typed, read: the provider that serves it and its 2547XXXXXXXX form."""

    provider: Provider
    msisdn: str


def route_phone(raw_phone: str, settings: Settings) -> Routed:
    """The provider and number for ``raw_phone``; InvalidInput (field "phone") if none takes it."""
    text = str(raw_phone)
    if settings.airtel_enabled:
        override = _override(text, settings)
        if override is not None:
            return override
    try:
        msisdn = normalize_msisdn(text, extra_prefixes=settings.mpesa_extra_prefixes)
    except PhoneError as mpesa_refusal:
        if not settings.airtel_enabled:
            raise InvalidInput(
                mpesa_refusal.template, field="phone", params=mpesa_refusal.params
            ) from None
        try:
            msisdn = airtel_normalize(text, extra_prefixes=settings.airtel_extra_prefixes)
        except AirtelPhoneError:
            raise _refusal(mpesa_refusal) from None
        return Routed(Provider.AIRTEL, msisdn)
    return Routed(Provider.MPESA, msisdn)


def provider_of(msisdn: str, settings: Settings) -> Provider:
    """The provider of a number already in the 2547XXXXXXXX form (the same rules)."""
    return route_phone(msisdn, settings).provider


def max_amount(provider: Provider, settings: Settings) -> int:
    """The largest amount per transaction: MPESA_MAX_AMOUNT or AIRTEL_MAX_AMOUNT."""
    if provider is Provider.AIRTEL:
        return settings.airtel_max_amount
    return settings.mpesa_max_amount


def request_amount(raw_amount: str | int, provider: Provider, settings: Settings) -> int:
    """Whole shillings a payment request may ask for (KES 1 up to the provider's maximum)."""
    return _amount(raw_amount, minimum=STK_MINIMUM, maximum=max_amount(provider, settings))


def payout_amount(raw_amount: str | int, provider: Provider, settings: Settings) -> int:
    """Whole shillings a payout may send (KES 10 up to the provider's maximum)."""
    return _amount(raw_amount, minimum=B2C_MINIMUM, maximum=max_amount(provider, settings))


def _amount(raw_amount: str | int, *, minimum: int, maximum: int) -> int:
    try:
        return parse_amount(raw_amount, minimum=minimum, maximum=maximum)
    except AmountError as exc:
        raise InvalidInput(str(exc), field="amount") from None


def _override(text: str, settings: Settings) -> Routed | None:
    """A number listed for Airtel by an administrator (ported), unless M-Pesa's list is longer."""
    if not settings.airtel_extra_prefixes:
        return None
    try:
        msisdn = airtel_normalize(text, extra_prefixes=settings.airtel_extra_prefixes)
    except AirtelPhoneError:
        return None
    airtel = _longest(msisdn, settings.airtel_extra_prefixes)
    if airtel == 0 or airtel < _longest(msisdn, settings.mpesa_extra_prefixes):
        return None  # carrier data, or M-Pesa's own, more precise, override decides
    return Routed(Provider.AIRTEL, msisdn)


def _longest(msisdn: str, prefixes: list[str]) -> int:
    lengths = [len(p) for p in map(normalized_prefix, prefixes) if msisdn.startswith(p)]
    return max(lengths, default=0)


def _refusal(mpesa_refusal: PhoneError) -> InvalidInput:
    """Why neither provider takes a number (M-Pesa's words, or both networks named)."""
    network = mpesa_refusal.params.get("network")
    if network and mpesa_refusal.template.endswith(_NETWORK_REFUSAL):
        return InvalidInput(
            BOTH_NETWORKS,
            field="phone",
            params={"phone": mpesa_refusal.params["phone"], "network": network},
        )
    if "phone" in mpesa_refusal.params and mpesa_refusal.template.endswith(_NETWORK_REFUSAL):
        return InvalidInput(
            N_("{phone} is not a Safaricom or Airtel number"),
            field="phone",
            params={"phone": mpesa_refusal.params["phone"]},
        )
    return InvalidInput(mpesa_refusal.template, field="phone", params=mpesa_refusal.params)
