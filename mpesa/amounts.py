"""Whole-shilling amounts: parse what a cashier types, coerce Daraja's numbers, format for people.

No float arithmetic and no Decimal: text is parsed digit by digit, and a float that arrives from
JSON is accepted only when it is a whole number (``150.0``), never rounded.
"""

from __future__ import annotations

import re

STK_MINIMUM = 1
B2C_MINIMUM = 10
DEFAULT_MAXIMUM = 250_000

# the digits of a number as people write it: 1500, 1,500, 1 500 (groups of three), optional .00
_NUMBER = re.compile(
    r"""
    (?P<sign>[-+])?\s*
    (?P<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,3}(?:[ \u00a0\u202f][0-9]{3})+|[0-9]+)
    (?:\.(?P<fraction>[0-9]*))?
    """,
    re.VERBOSE,
)
# "KES 1,500", "Ksh1500", "sh. 1500", "1,500/=", "1500 bob": currency marks Kenyans really type
_CURRENCY_PREFIX = re.compile(r"^(?:kes|kshs?|shs?)\.?\s*", re.IGNORECASE)
_CURRENCY_SUFFIX = re.compile(r"\s*(?:/=|/-|kes|kshs?|shs?|bob)\.?$", re.IGNORECASE)
# more digits than this is never a real amount; it also keeps int() away from huge strings
_MAX_DIGITS = 15


class AmountError(ValueError):
    """An amount a cashier typed cannot be used; str() is a sentence a cashier understands."""


def format_kes(amount: int) -> str:
    """Format whole shillings for people: 1500 -> "KES 1,500"."""
    return f"KES {amount:,}"


def format_cents(cents: int) -> str:
    """Format an amount in cents (balances carry cents) for people: 2500050 -> "KES 25,000.50"."""
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    return f"KES {sign}{whole:,}.{rest:02d}"


def parse_amount(raw: str | int, *, minimum: int, maximum: int) -> int:
    """Parse a typed amount ("1500", "1,500", "KES 1,500", "1500.00") into whole shillings."""
    if isinstance(raw, bool):
        raise AmountError(f"{raw} is not an amount; enter whole shillings, e.g. 1500")
    if isinstance(raw, int):
        amount = raw
    elif isinstance(raw, str):
        amount = _parse_typed(raw)
    else:
        raise AmountError(f"{raw!r} is not an amount; enter whole shillings, e.g. 1500")
    if amount <= 0:
        shown = raw.strip() if isinstance(raw, str) else str(raw)
        raise AmountError(
            f"{shown} is not a valid amount; "
            f"enter a positive amount of at least {format_kes(minimum)}"
        )
    if amount < minimum:
        raise AmountError(f"{format_kes(amount)} is below the {format_kes(minimum)} minimum")
    if amount > maximum:
        raise AmountError(
            f"{format_kes(amount)} is over the {format_kes(maximum)} limit per transaction"
        )
    return amount


def whole_shillings(value: object) -> int:
    """Coerce a Daraja amount (150, 150.0, "150.00", "1,500") to shillings; 1.5 -> ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"{value} is not an amount")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        # JSON numbers like 150.00 arrive as floats; only exact whole values are amounts
        if not value.is_integer():
            raise ValueError(f"{value!r} is not a whole number of shillings")
        return int(value)
    if isinstance(value, str):
        text = _strip_currency(value.strip())
        match = _NUMBER.fullmatch(text)
        if match is None:
            raise ValueError(f"{value!r} is not an amount")
        try:
            return _whole_value(match, value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a whole number of shillings") from exc
    raise ValueError(f"{value!r} is not an amount")


def _parse_typed(raw: str) -> int:
    """Parse typed text into shillings, raising AmountError with a sentence naming what is wrong."""
    text = raw.strip()
    if not text:
        raise AmountError("No amount given; enter whole shillings, e.g. 1500")
    number = _strip_currency(text)
    match = _NUMBER.fullmatch(number)
    if match is None:
        if re.fullmatch(r"[0-9]+(?:,[0-9]+)+", number):
            # "1,50" is a European decimal or a typo: guessing either way could charge the wrong sum
            raise AmountError(
                f"{text} is not a clear amount; write whole shillings like 1500 or 1,500"
            )
        raise AmountError(f"{text} is not an amount; enter whole shillings, e.g. 1500")
    try:
        return _whole_value(match, text)
    except ValueError as exc:
        raise AmountError(str(exc)) from exc


def _strip_currency(text: str) -> str:
    """Remove one leading or trailing currency mark ("KES", "Ksh", "/=") from typed text."""
    without_prefix = _CURRENCY_PREFIX.sub("", text, count=1)
    return _CURRENCY_SUFFIX.sub("", without_prefix, count=1).strip()


def _whole_value(match: re.Match[str], shown: str) -> int:
    """Turn a matched number into int shillings, refusing any non-zero fraction."""
    fraction = match.group("fraction") or ""
    if fraction.strip("0"):
        raise ValueError(
            f"{shown.strip()} is not a whole number of shillings; M-Pesa moves whole shillings only"
        )
    digits = re.sub(r"[^0-9]", "", match.group("whole"))
    if len(digits.lstrip("0")) > _MAX_DIGITS:
        raise ValueError(f"{shown.strip()} is far too large to be an amount")
    amount = int(digits)
    return -amount if match.group("sign") == "-" else amount
