"""Kenyan M-Pesa phone numbers: normalise typed numbers, mask them for logs, match callbacks."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import phonenumbers
from phonenumbers import NumberParseException
from phonenumbers import PhoneNumberType
from phonenumbers import ValidationResult

KENYA = "KE"
KENYA_CODE = 254
M_PESA_CARRIER = "Safaricom"

# what people wrap phone numbers in; anything else (letters!) would be read as a vanity number
_TYPED_PHONE = re.compile(r"\+?[0-9\s().\-]+")
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
_ECHO_LIMIT = 40
# ws_CO_ + DDMMYYYYHHMMSS + milliseconds + 9 phone digits (older ids are shorter, phone-free)
_PHONE_BEARING_CHECKOUT = re.compile(r"ws_CO_[0-9]{23,}")
_EMBEDDED_MSISDN = re.compile(r"(?<![0-9])254[17][0-9]{8}(?![0-9])")
_MOBILE_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
_LANDLINE_TYPES = (PhoneNumberType.FIXED_LINE,)


class PhoneError(ValueError):
    """A phone number cannot receive M-Pesa; str() is a sentence a cashier understands.

    ``template`` and ``params`` are the same sentence before it was filled in, so a caller can
    show it in another language.
    """

    def __init__(self, template: str, **params: str) -> None:
        self.template = template
        self.params = params
        super().__init__(template.format(**params) if params else template)


def normalize_msisdn(raw: str, *, extra_prefixes: Iterable[str] = ()) -> str:
    """Turn a typed Safaricom number (07.., 01.., +254.., 7..) into Daraja's "2547XXXXXXXX" form."""
    shown = _shown(raw)
    text = str(raw).strip()
    if not text:
        raise PhoneError("No phone number given")
    if not _TYPED_PHONE.fullmatch(text) or not any(ch.isdigit() for ch in text):
        raise PhoneError("{phone} is not a phone number", phone=shown)
    if text.startswith("00") and not text.startswith("000"):
        # people write 00 for "international"; Kenya's own exit code is 000
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, KENYA)
    except NumberParseException as exc:
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE:
            raise PhoneError("{phone} is not a Kenyan number", phone=shown) from exc
        if exc.error_type in (
            NumberParseException.TOO_SHORT_NSN,
            NumberParseException.TOO_SHORT_AFTER_IDD,
        ):
            raise PhoneError(
                "{phone} is too short for a Kenyan mobile number", phone=shown
            ) from exc
        raise PhoneError("{phone} is not a phone number", phone=shown) from exc
    if number.country_code != KENYA_CODE:
        raise PhoneError("{phone} is not a Kenyan number", phone=shown)
    msisdn = f"{KENYA_CODE}{number.national_number}"
    # an administrator's override (ported numbers, ranges newer than our carrier data) wins
    if len(msisdn) == 12 and any(msisdn.startswith(p) for p in _prefixes(extra_prefixes)):
        return msisdn
    if not phonenumbers.is_valid_number(number):
        reason = phonenumbers.is_possible_number_for_type_with_reason(
            number, PhoneNumberType.MOBILE
        )
        if reason == ValidationResult.TOO_SHORT:
            raise PhoneError("{phone} is too short for a Kenyan mobile number", phone=shown)
        if reason == ValidationResult.TOO_LONG:
            raise PhoneError("{phone} is too long for a Kenyan mobile number", phone=shown)
        raise PhoneError("{phone} is not a valid Kenyan phone number", phone=shown)
    kind = phonenumbers.number_type(number)
    if kind in _LANDLINE_TYPES:
        raise PhoneError("{phone} is a landline, not a mobile number", phone=shown)
    if kind not in _MOBILE_TYPES:
        raise PhoneError("{phone} is not a mobile number", phone=shown)
    # imported here, not at the top: the carrier tables take a noticeable share of start-up,
    # and only a number being checked needs them
    from phonenumbers import carrier

    network = carrier.name_for_number(number, "en")
    if network != M_PESA_CARRIER:
        if not network:
            raise PhoneError(
                "{phone} is not a Safaricom number; M-Pesa needs Safaricom", phone=shown
            )
        if network[0].lower() in "aeiou":
            raise PhoneError(
                "{phone} is an {network} number; M-Pesa needs Safaricom",
                phone=shown,
                network=network,
            )
        raise PhoneError(
            "{phone} is a {network} number; M-Pesa needs Safaricom", phone=shown, network=network
        )
    return msisdn


def display_msisdn(msisdn: str) -> str:
    """A Kenyan number as people write it: "254708374149" -> "0708 374 149" (others as given)."""
    if len(msisdn) == 12 and msisdn.startswith("254") and msisdn.isdigit():
        local = "0" + msisdn[3:]
        return f"{local[:4]} {local[4:7]} {local[7:]}"
    return msisdn


def mask_msisdn(msisdn: str | None) -> str:
    """Mask a phone for logs: "254708374149" -> "2547****149" (first 4, last 3 characters kept)."""
    if not msisdn:
        return "-"
    text = re.sub(r"\s+", "", str(msisdn))
    if len(text) < 8:
        return "****"
    return f"{text[:4]}****{text[-3:]}"


def mask_id(value: str | None) -> str:
    """Mask the phone digits an id carries, keeping a stable, searchable form for logs.

    Modern CheckoutRequestIDs end in the customer's last 9 digits:
    "ws_CO_03122026114050487708374149" -> "ws_CO_03122026114050487…149". Any 2547/2541 number
    inside another id is masked as ``mask_msisdn`` does; other ids come back unchanged.
    """
    if not value:
        return "-"
    text = str(value)
    if _PHONE_BEARING_CHECKOUT.fullmatch(text):
        return f"{text[:-9]}…{text[-3:]}"
    return _EMBEDDED_MSISDN.sub(lambda m: mask_msisdn(m.group()), text)


def reported_phone_matches(expected_msisdn: str, reported: str | int | None) -> bool:
    """Check a phone Daraja reported (masked, hashed, plain or absent) against the expected one."""
    if reported is None or isinstance(reported, bool):
        return True
    if isinstance(reported, float) and reported.is_integer():
        reported = int(reported)  # a JSON encoder that writes numbers as floats
    text = re.sub(r"\s+", "", str(reported))
    expected = _plain_msisdn(expected_msisdn)
    if not text or set(text) == {"*"}:
        return True
    if _SHA256_HEX.fullmatch(text):
        # C2B v1 sends sha256 of the 2547... form
        return hashlib.sha256(expected.encode("ascii")).hexdigest() == text.lower()
    if "*" in text:
        return _masked_matches(expected, text)
    if not re.fullmatch(r"\+?[0-9]+", text):
        return False
    return _plain_msisdn(text) == expected


def _masked_matches(expected: str, masked: str) -> bool:
    """Compare only the digits Daraja left visible ("254708***430", "2547*****126")."""
    if not re.fullmatch(r"[0-9*+]+", masked):
        return False
    masked = masked.removeprefix("+")
    if len(masked) == len(expected):
        return all(m in ("*", e) for m, e in zip(masked, expected, strict=True))
    # the number of stars does not always match the hidden digits: compare both ends
    head = masked[: masked.index("*")]
    tail = masked[masked.rindex("*") + 1 :]
    if len(head) + len(tail) > len(expected):
        return False
    return expected.startswith(head) and expected.endswith(tail)


def _plain_msisdn(text: str) -> str:
    """Bring a plain number to the 254XXXXXXXXX form without judging its network."""
    digits = re.sub(r"[^0-9]", "", text)
    if len(digits) == 10 and digits.startswith("0"):
        return f"{KENYA_CODE}{digits[1:]}"
    if len(digits) == 9:
        return f"{KENYA_CODE}{digits}"
    return digits


def _prefixes(extra_prefixes: Iterable[str]) -> list[str]:
    """Normalise configured prefixes ("0733", "254733", "+254 733", "733") to "254733"."""
    result = []
    for prefix in extra_prefixes:
        digits = re.sub(r"[\s+\-]", "", prefix)
        if not digits.isdigit():
            raise ValueError(f"phone prefix {prefix!r} must be digits like 0733 or 254733")
        if digits.startswith("254"):
            normalised = digits
        elif digits.startswith("0"):
            normalised = f"{KENYA_CODE}{digits[1:]}"
        else:
            normalised = f"{KENYA_CODE}{digits}"
        if len(normalised) < 5:
            # "07" or "254" would wave every Kenyan number through the Safaricom check
            raise ValueError(f"phone prefix {prefix!r} is too short; use 3+ digits like 073")
        result.append(normalised)
    return result


def _shown(raw: object) -> str:
    """The number as typed, trimmed and shortened, for messages that echo it."""
    text = str(raw).strip()
    return text if len(text) <= _ECHO_LIMIT else text[: _ECHO_LIMIT - 1] + "…"
