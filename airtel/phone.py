"""Kenyan Airtel Money numbers: typed numbers, Airtel's 9-digit wire form, masking for logs.

The project's form of a phone everywhere outside the wire is ``msisdn = "2547XXXXXXXX"`` (as in
``mpesa/``); Airtel wants the 9-digit subscriber number without ``0`` or ``254``
(``"733123456"``, airtel.md §2), so the models convert at the boundary with ``airtel_msisdn``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import phonenumbers
from phonenumbers import NumberParseException
from phonenumbers import PhoneNumberType

KENYA = "KE"
KENYA_CODE = "254"
AIRTEL_CARRIER = "Airtel"
# national prefixes of Airtel Kenya in phonenumbers' carrier data (airtel.md §10); a hint only,
# numbers are portable: the KYC lookup is the authoritative check
AIRTEL_KE_PREFIXES = (
    *(f"07{n}" for n in range(30, 40)),
    *(f"07{n}" for n in range(50, 57)),
    "0760",
    *(f"07{n}" for n in range(62, 68)),
    *(f"07{n}" for n in range(80, 90)),
    *(f"010{n}" for n in range(9)),
    *(f"01{n}" for n in range(35, 40)),
)

_TYPED_PHONE = re.compile(r"\+?[0-9\s().\-]+")
_NINE = re.compile(r"[17][0-9]{8}")
_ECHO_LIMIT = 40
_MOBILE_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)


class PhoneError(ValueError):
    """A phone number cannot receive Airtel Money; str() is a sentence a cashier understands."""


def normalize_msisdn(raw: str, *, extra_prefixes: Iterable[str] = ()) -> str:
    """Turn a typed Airtel Kenya number (07.., 01.., +254.., 7..) into "2547XXXXXXXX"."""
    shown = _shown(raw)
    number = _parse(raw, shown)
    msisdn = f"{KENYA_CODE}{number.national_number}"
    # an administrator's override (ported numbers, ranges newer than our carrier data) wins
    if len(msisdn) == 12 and any(msisdn.startswith(p) for p in _prefixes(extra_prefixes)):
        return msisdn
    if not phonenumbers.is_valid_number(number):
        raise PhoneError(f"{shown} is not a valid Kenyan mobile number")
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise PhoneError(f"{shown} is not a mobile number")
    # imported here, not at the top: the carrier tables take a noticeable share of start-up,
    # and only an Airtel number being checked needs them
    from phonenumbers import carrier

    network = carrier.name_for_number(number, "en")
    if network != AIRTEL_CARRIER:
        if not network:
            raise PhoneError(f"{shown} is not an Airtel number; Airtel Money needs Airtel")
        article = "an" if network[0].lower() in "aeiou" else "a"
        raise PhoneError(f"{shown} is {article} {network} number; Airtel Money needs Airtel")
    return msisdn


def is_airtel_number(msisdn: str, *, extra_prefixes: Iterable[str] = ()) -> bool:
    """Tell whether a Kenyan number belongs to Airtel by its prefix (carrier data + overrides)."""
    try:
        normalize_msisdn(msisdn, extra_prefixes=extra_prefixes)
    except PhoneError:
        return False
    return True


def airtel_msisdn(msisdn: str | int) -> str:
    """Airtel's wire form of a Kenyan mobile: "254733123456", "0733123456" -> "733123456"."""
    if isinstance(msisdn, bool):
        raise PhoneError(f"{msisdn} is not a phone number")
    digits = re.sub(r"[\s+\-]", "", str(msisdn))
    if digits.startswith(KENYA_CODE) and len(digits) == 12:
        digits = digits[3:]
    elif digits.startswith("0") and len(digits) == 10:
        digits = digits[1:]
    if not _NINE.fullmatch(digits):
        raise PhoneError(
            f"{_shown(msisdn)} is not a Kenyan mobile number (Airtel needs 9 digits like 733123456)"
        )
    return digits


def international_msisdn(airtel: str | int) -> str:
    """The project's "2547XXXXXXXX" form of a number in Airtel's 9-digit form."""
    return f"{KENYA_CODE}{airtel_msisdn(airtel)}"


def mask_msisdn(msisdn: str | int | None) -> str:
    """Mask a phone for logs in one form for both providers: "733123456" -> "2547****456"."""
    if msisdn is None or isinstance(msisdn, bool) or not str(msisdn).strip():
        return "-"
    text = re.sub(r"\s+", "", str(msisdn))
    if _NINE.fullmatch(text):
        text = KENYA_CODE + text
    if len(text) < 8:
        return "****"
    return f"{text[:4]}****{text[-3:]}"


# _parse and _prefixes are twins of mpesa/phone.py's; kept apart:
# airtel/ imports nothing from mpesa/ (docs/architecture.md)
def _parse(raw: object, shown: str) -> phonenumbers.PhoneNumber:
    text = str(raw).strip()
    if not text:
        raise PhoneError("No phone number given")
    if not _TYPED_PHONE.fullmatch(text) or not any(ch.isdigit() for ch in text):
        raise PhoneError(f"{shown} is not a phone number")
    if text.startswith("00") and not text.startswith("000"):
        text = "+" + text[2:]  # people write 00 for "international"
    try:
        number = phonenumbers.parse(text, KENYA)
    except NumberParseException as exc:
        raise PhoneError(f"{shown} is not a Kenyan mobile number") from exc
    if str(number.country_code) != KENYA_CODE:
        raise PhoneError(f"{shown} is not a Kenyan number")
    return number


def _prefixes(extra_prefixes: Iterable[str]) -> list[str]:
    """Normalise configured prefixes ("0733", "254733", "+254 733", "733") to "254733"."""
    result = []
    for prefix in extra_prefixes:
        digits = re.sub(r"[\s+\-]", "", prefix)
        if not digits.isdigit():
            raise ValueError(f"phone prefix {prefix!r} must be digits like 0733 or 254733")
        if digits.startswith(KENYA_CODE):
            normalised = digits
        elif digits.startswith("0"):
            normalised = KENYA_CODE + digits[1:]
        else:
            normalised = KENYA_CODE + digits
        if len(normalised) < 5:
            raise ValueError(f"phone prefix {prefix!r} is too short; use 3+ digits like 073")
        result.append(normalised)
    return result


def _shown(raw: object) -> str:
    text = str(raw).strip()
    return text if len(text) <= _ECHO_LIMIT else text[: _ECHO_LIMIT - 1] + "…"
