"""Lenient value types for what Daraja posts to us (daraja.md §12): numbers, strings or floats.

Daraja sends the same field as 0, "0" or 0.0, amounts as 150.00, times in three formats; these
conversions accept all of them and say plainly what they cannot read.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated

from pydantic import BeforeValidator

from mpesa.amounts import whole_shillings
from mpesa.codes import normalize_result_code
from mpesa.security import NAIROBI
from mpesa.security import parse_daraja_timestamp

_DARAJA_STAMP = re.compile(r"[0-9]{14}(?:\.0*)?")
_DOTTED_TIME = "%d.%m.%Y %H:%M:%S"  # B2C TransactionCompletedDateTime, "20.11.2026 14:31:07"
_MONEY = re.compile(
    r"(?P<sign>[-+])?\s*(?P<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]*)(?:\.(?P<fraction>[0-9]*))?"
)


def loose_key(key: str) -> str:
    """A key for loose comparison: "Originator Conversation ID" -> "originatorconversationid"."""
    if len(key) <= _CACHED_KEY_LENGTH:
        return _loose_key(key)
    return "".join(key.split()).casefold()


# Daraja's field names are few and short: each callback asks for the same dozens of keys
_CACHED_KEY_LENGTH = 64


@functools.lru_cache(maxsize=1024)
def _loose_key(key: str) -> str:
    return "".join(key.split()).casefold()


def compact_key(key: str) -> str:
    """Drop whitespace from a key but keep its case: "Conversation ID" -> "ConversationID"."""
    return "".join(key.split())


def scalar_text(value: object) -> str | None:
    """A scalar as text (numbers without a spurious ".0"), stripped; None when absent or empty."""
    if value is None or isinstance(value, bool | Mapping | list):
        return None
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value).strip()
    return text or None


def free_text(value: object) -> str:
    """A free-text field (names, account numbers) as sent, "" when absent."""
    if value is None or isinstance(value, bool | Mapping | list):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def required_text(value: object) -> str:
    """An identifier that must be present and non-empty."""
    text = scalar_text(value)
    if text is None:
        raise ValueError("is empty")
    return text


def result_code(value: object) -> str:
    """A result code normalised to a string (0, "0", 0.0 -> "0"); empty is an error."""
    code = normalize_result_code(value)
    if not code:
        raise ValueError("is empty")
    return code


def optional_int(value: object) -> int | None:
    """An informational integer (ResultType) or None when it is not one."""
    text = scalar_text(value)
    if text is None or not re.fullmatch(r"[-+]?[0-9]+(?:\.0*)?", text):
        return None
    return int(text.split(".")[0])


def daraja_time(value: object) -> datetime | None:
    """A Daraja time (YYYYMMDDHHMMSS as number/string, "DD.MM.YYYY HH:MM:SS", ISO) in Nairobi time.

    An unreadable time is None, not an error: a payment must not be lost over its timestamp.
    """
    if isinstance(value, datetime):
        return value.replace(tzinfo=NAIROBI) if value.tzinfo is None else value.astimezone(NAIROBI)
    text = scalar_text(value)
    if text is None:
        return None
    try:
        if _DARAJA_STAMP.fullmatch(text):
            return parse_daraja_timestamp(text[:14])
        if re.fullmatch(r"[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{4} [0-9:]+", text):
            return datetime.strptime(text, _DOTTED_TIME).replace(tzinfo=NAIROBI)
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=NAIROBI) if moment.tzinfo is None else moment.astimezone(NAIROBI)


def cents(value: object) -> int | None:
    """A balance ("25000.00", 94520.0, "-213.00", "1,234.5") in int cents; None if unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value * 100
    # a float's repr is the shortest decimal that round-trips, i.e. what Daraja wrote
    text = repr(value) if isinstance(value, float) else scalar_text(value)
    match = _MONEY.fullmatch(text.strip()) if text else None
    if match is None:
        return None
    whole = match.group("whole").replace(",", "")
    fraction = match.group("fraction") or ""
    if not whole and not fraction:
        return None
    if fraction[2:].strip("0"):
        return None  # sub-cent digits: not a balance we can hold exactly
    cents = int(whole or "0") * 100 + int((fraction[:2] or "0").ljust(2, "0"))
    return -cents if match.group("sign") == "-" else cents


def yes_no(value: object) -> bool | None:
    """Daraja's "Y"/"N" flags as bool; None when absent or unrecognised."""
    if isinstance(value, bool):
        return value
    text = (scalar_text(value) or "").casefold()
    if text in ("y", "yes", "true", "1"):
        return True
    if text in ("n", "no", "false", "0"):
        return False
    return None


Shillings = Annotated[int, BeforeValidator(whole_shillings)]
ResultCode = Annotated[str, BeforeValidator(result_code)]
RequiredText = Annotated[str, BeforeValidator(required_text)]
OptionalText = Annotated[str | None, BeforeValidator(scalar_text)]
FreeText = Annotated[str, BeforeValidator(free_text)]
DarajaTime = Annotated[datetime | None, BeforeValidator(daraja_time)]
OptionalInt = Annotated[int | None, BeforeValidator(optional_int)]


def optional_shillings(value: object) -> int | None:
    """A whole-shilling amount, or None when the item carries no value."""
    return None if value is None else whole_shillings(value)


OptionalShillings = Annotated[int | None, BeforeValidator(optional_shillings)]
Cents = Annotated[int | None, BeforeValidator(cents)]
YesNo = Annotated[bool | None, BeforeValidator(yes_no)]
