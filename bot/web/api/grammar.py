"""The exact grammar of what the API accepts, shared by the server checks and the OpenAPI document.

Each pattern here is what the OpenAPI document declares AND what the server fully matches, so a
value the document allows is never refused as malformed and a value it forbids never gets in.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from collections.abc import Iterable
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from datetime import tzinfo

from airtel.phone import PhoneError as AirtelPhoneError
from airtel.phone import normalize_msisdn as airtel_normalize
from mpesa.phone import PhoneError
from mpesa.phone import normalize_msisdn

# -- text: no control characters (PostgreSQL refuses NUL; none belongs in an order) ------------

CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
TEXT_PATTERN = rf"^[^{CONTROL}]*$"
# something to look up: text with at least one character that is not a space
NON_BLANK_PATTERN = rf"^[^{CONTROL}]*[^\s{CONTROL}][^{CONTROL}]*$"

# -- dates and date-times ------------------------------------------------------------------------

# years 1900-2999: every offset keeps them inside what datetime and both databases hold
_YEAR = r"(?:19|2[0-9])[0-9]{2}"
_LEAP_YEAR = r"(?:(?:19|2[0-9])(?:0[48]|[2468][048]|[13579][26])|2000|2400|2800)"
_MONTH_DAY = (
    r"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    r"|(?:0[13-9]|1[0-2])-(?:29|30)"
    r"|(?:0[13578]|1[02])-31)"
)
_DATE = rf"(?P<date>{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
_TIME = (
    r"(?P<time>(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?)"
    r"(?P<offset>Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?"
)
MOMENT_PATTERN = rf"^{_DATE}(?:T{_TIME})?$"
_MOMENT = re.compile(MOMENT_PATTERN)

# -- history cursors: "c" and the hex id to continue before; any such value is a valid page -----

# ids are 32-bit signed integers in both databases: at most 7fffffff
CURSOR_PATTERN = r"^c(?:[0-7][0-9a-f]{7}|[0-9a-f]{1,7})$"
_CURSOR = re.compile(CURSOR_PATTERN)

# -- page size -------------------------------------------------------------------------------------

LIMIT_PATTERN = re.compile(r"[0-9]{1,3}")

# -- phones --------------------------------------------------------------------------------------

# how the API takes a Kenyan mobile number: 0712345678, 712345678, 254712345678, +254712345678
PHONE_SHAPE = re.compile(r"(?:\+254|254|0)?([17][0-9]{8})")
_PHONE_FORMS = r"(?:\+254|254|0)?"


def parse_moment(raw: str, *, local: tzinfo) -> datetime | None:
    """The moment ``raw`` names (a date is its midnight; no offset means ``local``), or None."""
    match = _MOMENT.fullmatch(raw)
    if match is None:
        return None
    year, month, day = (int(part) for part in match["date"].split("-"))
    hour = minute = second = micro = 0
    if match["time"]:
        clock, _, fraction = match["time"].partition(".")
        hour, minute, *rest = (int(part) for part in clock.split(":"))
        second = rest[0] if rest else 0
        micro = int(fraction.ljust(6, "0")) if fraction else 0
    zone: tzinfo = local
    offset = match["offset"]
    if offset == "Z":
        zone = UTC
    elif offset:
        sign = -1 if offset[0] == "-" else 1
        hours, minutes = (int(part) for part in offset[1:].split(":"))
        zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=zone)


def encode_cursor(before_id: int) -> str:
    """The cursor of the page that continues before payment ``before_id``."""
    return f"c{before_id:x}"


def decode_cursor(cursor: str) -> int | None:
    """The payment id a cursor continues before, or None when it is not a cursor."""
    return int(cursor[1:], 16) if _CURSOR.fullmatch(cursor) else None


def _accepted_blocks(check: Callable[[str], object], refused: type[Exception]) -> tuple[str, ...]:
    """The 4-digit national prefixes (7XXX, 1XXX) whose numbers ``check`` accepts.

    Read from the phone library the server itself uses; ranges are allocated in blocks of
    100,000 numbers at least, so the first and last number of a block decide it.
    """
    accepted = []
    for lead in "17":
        for block in range(1000):
            national = f"{lead}{block:03d}"
            try:
                for tail in ("00000", "99999"):
                    check(f"254{national}{tail}")
            except refused:
                continue
            accepted.append(national)
    return tuple(accepted)


@functools.lru_cache(maxsize=1)
def safaricom_blocks() -> tuple[str, ...]:
    """The 4-digit national prefixes whose numbers the M-Pesa check accepts."""
    return _accepted_blocks(normalize_msisdn, PhoneError)


@functools.lru_cache(maxsize=1)
def airtel_blocks() -> tuple[str, ...]:
    """The 4-digit national prefixes whose numbers the Airtel check accepts (carrier data)."""
    return _accepted_blocks(airtel_normalize, AirtelPhoneError)


def routed_prefixes(
    carrier_blocks: Iterable[str], own_extra: Iterable[str], other_extra: Iterable[str]
) -> set[str]:
    """The national prefixes one provider serves: its carrier's blocks, with the overrides.

    Overrides are applied shortest first, so the longer prefix wins, as the router decides:
    one of ``own_extra`` adds its numbers, one of ``other_extra`` takes them away.
    """
    pieces = set(carrier_blocks)
    extras = [(p[3:], True) for p in normalized_prefixes(own_extra)]
    extras += [(p[3:], False) for p in normalized_prefixes(other_extra)]
    for prefix, add in sorted(extras, key=lambda item: len(item[0])):
        pieces = _without(pieces, prefix)
        if add:
            pieces.add(prefix)
    return pieces


def _without(pieces: set[str], prefix: str) -> set[str]:
    """``pieces`` (a set of national prefixes) minus every number starting with ``prefix``."""
    result = {piece for piece in pieces if not piece.startswith(prefix)}
    for piece in pieces:
        if prefix.startswith(piece) and piece != prefix:
            result.discard(piece)
            # keep the rest of the piece: every sibling on the way down to ``prefix``
            for depth in range(len(piece), len(prefix)):
                stem = prefix[:depth]
                result.update(stem + digit for digit in "0123456789" if digit != prefix[depth])
    return result


def provider_pattern(pieces: Iterable[str]) -> str:
    """The pattern of the four forms of every number under ``pieces`` (national prefixes)."""
    alternatives = "|".join(_alternatives(_compress(pieces)))
    return rf"^{_PHONE_FORMS}(?:{alternatives})$"


def _compress(prefixes: Iterable[str]) -> list[str]:
    """Regex pieces for the prefixes: ten siblings become their parent ("7080".."7089" -> "708")."""
    pieces = set(prefixes)
    while True:
        parents: dict[str, list[str]] = {}
        for piece in pieces:
            parents.setdefault(piece[:-1], []).append(piece)
        full = [parent for parent, children in parents.items() if len(children) == 10]
        if not full:
            return sorted(pieces)
        for parent in full:
            pieces -= set(parents[parent])
            pieces.add(parent)


def phone_pattern(extra_prefixes: Iterable[str] = ()) -> str:
    """The pattern of every phone the API accepts: a Safaricom number in one of the four forms.

    ``extra_prefixes`` are MPESA_EXTRA_PREFIXES (0733, 254733): numbers the M-Pesa check
    accepts whatever the phone library says.
    """
    national = set(safaricom_blocks())
    for prefix in normalized_prefixes(extra_prefixes):
        national.add(prefix[3:])
    alternatives = "|".join(_alternatives(_compress(national)))
    return rf"^{_PHONE_FORMS}(?:{alternatives})$"


def provider_patterns(
    mpesa_extra: Iterable[str] = (), airtel_extra: Iterable[str] = (), *, airtel: bool = False
) -> dict[str, str]:
    """Per paymentMethod ("MPESA", "AIRTEL"), the pattern of the phones it takes, as routed."""
    if not airtel:
        return {"MPESA": phone_pattern(mpesa_extra)}
    mpesa = routed_prefixes(safaricom_blocks(), mpesa_extra, airtel_extra)
    others = routed_prefixes(airtel_blocks(), airtel_extra, mpesa_extra)
    return {"MPESA": provider_pattern(mpesa), "AIRTEL": provider_pattern(others)}


def any_phone_pattern(
    mpesa_extra: Iterable[str] = (), airtel_extra: Iterable[str] = (), *, airtel: bool = False
) -> str:
    """The pattern of every phone some enabled provider takes (history filters)."""
    if not airtel:
        return phone_pattern(mpesa_extra)
    pieces = routed_prefixes(safaricom_blocks(), mpesa_extra, airtel_extra)
    pieces |= routed_prefixes(airtel_blocks(), airtel_extra, mpesa_extra)
    return provider_pattern(pieces)


def _alternatives(pieces: list[str]) -> list[str]:
    """One regex per group of sibling prefixes: "140".."146" -> "14[0-6][0-9]{6}"."""
    groups: dict[str, list[str]] = {}
    for piece in pieces:
        groups.setdefault(piece[:-1], []).append(piece[-1])
    result = []
    for parent, lasts in sorted(groups.items()):
        digits = "".join(sorted(lasts))
        last = digits if len(digits) == 1 else f"[{digits}]"
        result.append(f"{parent}{last}[0-9]{{{8 - len(parent)}}}")
    return result


def normalized_prefixes(extra_prefixes: Iterable[str]) -> list[str]:
    """Extra prefixes in the 2547.../2541... form, only those a 12-digit mobile number can have."""
    result = []
    for prefix in extra_prefixes:
        digits = re.sub(r"[^0-9]", "", prefix)
        if digits.startswith("254"):
            full = digits
        elif digits.startswith("0"):
            full = "254" + digits[1:]
        else:
            full = "254" + digits
        if 5 <= len(full) <= 12 and full[3] in "17":
            result.append(full)
    return result
