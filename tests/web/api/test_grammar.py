"""The patterns the OpenAPI document declares are exactly what the server accepts."""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from bot.config import Settings
from bot.services.errors import InvalidInput
from bot.services.providers import provider_code
from bot.services.providers import route_phone
from bot.web.api import grammar
from mpesa.phone import PhoneError
from mpesa.phone import normalize_msisdn
from mpesa.security import NAIROBI

# East Africa Time as a fixed offset (Nairobi's zone has odd offsets before 1960)
EAT = timezone(timedelta(hours=3))
FORMS = ("0{n}", "{n}", "254{n}", "+254{n}")


def server_takes(phone: str, extra: list[str]) -> bool:
    """What the API does with a phone: the shape, then the M-Pesa check."""
    if not grammar.PHONE_SHAPE.fullmatch(phone):
        return False
    try:
        normalize_msisdn(phone, extra_prefixes=extra)
    except PhoneError:
        return False
    return True


@pytest.mark.parametrize("extra", [[], ["0733", "2547661"]])
def test_the_phone_pattern_is_the_server_on_every_block_and_form(extra) -> None:
    pattern = re.compile(grammar.phone_pattern(extra))
    mismatches = []
    for lead in "17":
        for block in range(1000):
            for tail in ("00000", "50505", "99999"):
                national = f"{lead}{block:03d}{tail}"
                for form in FORMS:
                    phone = form.format(n=national)
                    if bool(pattern.fullmatch(phone)) != server_takes(phone, extra):
                        mismatches.append(phone)

    assert mismatches == []


def router_takes(phone: str, settings: Settings) -> str | None:
    """What the API does with a phone when Airtel is on: the shape, then the provider router."""
    if not grammar.PHONE_SHAPE.fullmatch(phone):
        return None
    try:
        return provider_code(route_phone(phone, settings).provider)
    except InvalidInput:
        return None


@pytest.mark.parametrize(
    ("mpesa_extra", "airtel_extra"), [([], []), (["0733", "2547661"], ["0722", "07336"])]
)
def test_each_payment_methods_pattern_is_the_router_on_every_block(mpesa_extra, airtel_extra):
    settings = Settings(
        _env_file=None,
        airtel_enabled=True,
        mpesa_extra_prefixes=mpesa_extra,
        airtel_extra_prefixes=airtel_extra,
    )
    patterns = {
        method: re.compile(pattern)
        for method, pattern in grammar.provider_patterns(
            mpesa_extra, airtel_extra, airtel=True
        ).items()
    }
    anyone = re.compile(grammar.any_phone_pattern(mpesa_extra, airtel_extra, airtel=True))
    mismatches = []
    for lead in "17":
        for block in range(1000):
            for tail in ("00000", "60606", "99999"):
                phone = f"0{lead}{block:03d}{tail}"
                decided = router_takes(phone, settings)
                matched = [m for m, pattern in patterns.items() if pattern.fullmatch(phone)]
                if matched != ([decided] if decided else []):
                    mismatches.append((phone, decided, matched))
                if bool(anyone.fullmatch(phone)) != (decided is not None):
                    mismatches.append((phone, decided, "any"))

    assert mismatches == []


@pytest.mark.parametrize(
    "phone", ["0708 374 149", "0708374149 ", "+0708374149", "2540708374149", "07083741490", ""]
)
def test_the_phone_pattern_refuses_what_the_shape_refuses(phone) -> None:
    assert re.fullmatch(grammar.phone_pattern(), phone) is None
    assert not server_takes(phone, [])


@settings(max_examples=300, deadline=None)
@given(st.from_regex(grammar.MOMENT_PATTERN, fullmatch=True))
def test_every_moment_the_pattern_allows_is_a_real_moment(raw) -> None:
    value = grammar.parse_moment(raw, local=NAIROBI)

    assert value is not None
    assert value.astimezone(UTC).year in range(1899, 3001)
    assert value.isoformat()[:10] == raw[:10]


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2999, 12, 31, 23, 59)))
def test_every_real_moment_fits_the_pattern(moment) -> None:
    for raw in (
        moment.date().isoformat(),
        moment.isoformat(timespec="minutes"),
        moment.isoformat(timespec="microseconds") + "Z",
        moment.replace(tzinfo=EAT).isoformat(timespec="seconds"),
    ):
        assert re.fullmatch(grammar.MOMENT_PATTERN, raw), raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-20", datetime(2026, 11, 20, tzinfo=NAIROBI)),
        ("2024-02-29T23:59", datetime(2024, 2, 29, 23, 59, tzinfo=NAIROBI)),
        ("2000-02-29T00:00:00.5Z", datetime(2000, 2, 29, 0, 0, 0, 500_000, tzinfo=UTC)),
        ("2026-11-20T08:00:00-01:30", datetime(2026, 11, 20, 9, 30, tzinfo=UTC)),
    ],
)
def test_moments_are_read_with_their_offset_or_as_nairobi(raw, expected) -> None:
    assert grammar.parse_moment(raw, local=NAIROBI) == expected


@pytest.mark.parametrize(
    "raw",
    ["1900-02-29", "2100-02-29", "2026-04-31", "2026-11-20T24:00", "2026-11-20T08:00:60",
     "2026-11-20T08:00+24:00", "2026-11-20T08", "3000-01-01", "2026-11-20t08:00",
     "2026-11-20T08:00:00.1234567", "2026-11-20\n"],
)  # fmt: skip
def test_impossible_or_other_spellings_are_refused(raw) -> None:
    assert grammar.parse_moment(raw, local=NAIROBI) is None


def test_a_cursor_is_any_32_bit_id_in_hex_and_nothing_else() -> None:
    assert [grammar.decode_cursor(grammar.encode_cursor(n)) for n in (0, 12, 2**31 - 1)] == [
        0,
        12,
        2**31 - 1,
    ]
    assert [grammar.decode_cursor(c) for c in ("c80000000", "cDEy", "c", "12", "c0c ")] == [
        None
    ] * 5


def test_the_offset_range_keeps_every_year_in_range() -> None:
    earliest = grammar.parse_moment("1900-01-01T00:00+23:59", local=NAIROBI)
    latest = grammar.parse_moment("2999-12-31T23:59:59.999999-23:59", local=NAIROBI)

    assert earliest.astimezone(UTC) == datetime(1899, 12, 31, 0, 1, tzinfo=UTC)
    assert latest.astimezone(UTC) - datetime(3000, 1, 1, tzinfo=UTC) < timedelta(days=1)
