"""Calendar arithmetic of schedules: Nairobi wall-clock times, short months, ends and counts."""

from __future__ import annotations

from calendar import monthrange
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from bot.services.calendar import CalendarError
from bot.services.calendar import Frequency
from bot.services.calendar import Recurrence
from bot.services.calendar import nairobi
from bot.services.calendar import parse_day
from bot.services.calendar import parse_rule
from bot.services.calendar import parse_time_of_day
from bot.services.calendar import parse_weekdays
from mpesa.security import NAIROBI


def local(*args: int) -> datetime:
    """A Nairobi wall-clock time as the UTC instant the calendar returns."""
    return datetime(*args, tzinfo=NAIROBI).astimezone(UTC)


def test_a_one_off_is_at_its_nairobi_time_and_only_once() -> None:
    rule = Recurrence(Frequency.ONCE, start=date(2026, 12, 1), at=time(9, 30))

    first = rule.first()

    assert first == datetime(2026, 12, 1, 6, 30, tzinfo=UTC)  # Nairobi is UTC+3 all year
    assert rule.next_after(first) is None
    assert rule.next_after(local(2026, 11, 30, 12, 0)) == first


def test_daily_runs_every_day_until_the_end_date_inclusive() -> None:
    rule = Recurrence(
        Frequency.DAILY, start=date(2026, 12, 30), at=time(8, 0), until=date(2027, 1, 2)
    )

    assert rule.upcoming(local(2026, 12, 1, 0, 0), 10) == [
        local(2026, 12, 30, 8, 0),
        local(2026, 12, 31, 8, 0),
        local(2027, 1, 1, 8, 0),
        local(2027, 1, 2, 8, 0),
    ]


def test_weekly_on_given_days_across_a_midnight_in_utc() -> None:
    # 01:30 in Nairobi is 22:30 UTC the day before: the weekday is Nairobi's
    rule = Recurrence(Frequency.WEEKLY, start=date(2026, 11, 23), at=time(1, 30), weekdays=(0, 4))

    assert rule.upcoming(local(2026, 11, 23, 0, 0), 4) == [
        local(2026, 11, 23, 1, 30),  # Monday
        local(2026, 11, 27, 1, 30),  # Friday
        local(2026, 11, 30, 1, 30),
        local(2026, 12, 4, 1, 30),
    ]
    assert rule.first() == datetime(2026, 11, 22, 22, 30, tzinfo=UTC)


def test_wages_every_friday_at_five() -> None:
    rule = Recurrence(Frequency.WEEKLY, start=date(2026, 11, 20), at=time(17, 0), weekdays=(4,))

    after_one = rule.next_after(local(2026, 11, 27, 17, 0))

    assert rule.first() == local(2026, 11, 20, 17, 0)
    assert after_one == local(2026, 12, 4, 17, 0)
    assert rule.describe() == "every Friday at 17:00, from 20 Nov 2026"


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (31, [(2027, 1, 31), (2027, 2, 28), (2027, 3, 31), (2027, 4, 30)]),
        (30, [(2027, 1, 30), (2027, 2, 28), (2027, 3, 30), (2027, 4, 30)]),
        (29, [(2027, 1, 29), (2027, 2, 28), (2027, 3, 29), (2027, 4, 29)]),
        (1, [(2027, 2, 1), (2027, 3, 1), (2027, 4, 1), (2027, 5, 1)]),
    ],
)
def test_monthly_on_a_day_the_short_months_use_their_last_day(day, expected) -> None:
    rule = Recurrence(Frequency.MONTHLY, start=date(2027, 1, 2), at=time(18, 0), month_day=day)

    found = rule.upcoming(local(2027, 1, 2, 0, 0), 4)

    assert found == [local(*d, 18, 0) for d in expected]  # 1 January is before the start


def test_a_leap_february_has_its_29th() -> None:
    rule = Recurrence(Frequency.MONTHLY, start=date(2028, 1, 1), at=time(9, 0), month_day=31)

    assert rule.upcoming(local(2028, 1, 31, 9, 0), 1) == [local(2028, 2, 29, 9, 0)]


def test_a_count_ends_the_schedule_and_the_caller_counts() -> None:
    rule = Recurrence(Frequency.DAILY, start=date(2026, 12, 1), at=time(7, 0), count=3)

    assert [rule.is_last(n) for n in (1, 2, 3)] == [False, False, True]
    assert "3 times" in rule.describe()


def test_an_occurrence_is_never_returned_twice_from_any_instant() -> None:
    rule = Recurrence(Frequency.DAILY, start=date(2026, 12, 1), at=time(17, 0))
    due = local(2026, 12, 1, 17, 0)

    assert rule.next_after(due) == local(2026, 12, 2, 17, 0)
    assert rule.first_at_or_after(due) == due


@settings(max_examples=60, deadline=None)
@given(
    start=st.dates(min_value=date(2026, 1, 1), max_value=date(2030, 12, 31)),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    month_day=st.integers(1, 31),
    days=st.sets(st.integers(0, 6), min_size=1),
)
def test_occurrences_strictly_increase_and_fall_on_the_rule(
    start, hour, minute, month_day, days
) -> None:
    at = time(hour, minute)
    for rule in (
        Recurrence(Frequency.DAILY, start=start, at=at),
        Recurrence(Frequency.WEEKLY, start=start, at=at, weekdays=tuple(days)),
        Recurrence(Frequency.MONTHLY, start=start, at=at, month_day=month_day),
    ):
        found = [rule.first(), *rule.upcoming(rule.first(), 5)]
        assert found == sorted(set(found))
        for moment in found:
            wall = moment.astimezone(NAIROBI)
            assert (wall.hour, wall.minute) == (hour, minute)
            assert wall.date() >= start
            if rule.frequency is Frequency.WEEKLY:
                assert wall.weekday() in days
            if rule.frequency is Frequency.MONTHLY:
                length = monthrange(wall.year, wall.month)[1]
                assert wall.day == min(month_day, length)


@pytest.mark.parametrize(
    ("recurrence", "reason"),
    [
        (
            {"frequency": Frequency.WEEKLY, "weekdays": ()},
            "A weekly schedule needs at least one day, e.g. fri.",
        ),
        (
            {"frequency": Frequency.MONTHLY, "month_day": 32},
            "A monthly schedule needs a day of the month from 1 to 31.",
        ),
        (
            {"frequency": Frequency.DAILY, "until": date(2026, 11, 1)},
            "The end date is before the first day.",
        ),
        (
            {"frequency": Frequency.DAILY, "count": 0},
            "The number of occurrences must be at least 1.",
        ),
        (
            {"frequency": Frequency.ONCE, "count": 3},
            "A one-off schedule has no end date or count.",
        ),
        (
            {"frequency": Frequency.DAILY, "weekdays": (4,)},
            "Days of the week only go with a weekly schedule.",
        ),
    ],
)
def test_rules_that_cannot_work_are_refused_in_words(recurrence, reason) -> None:
    with pytest.raises(CalendarError) as caught:
        Recurrence(start=date(2026, 12, 1), at=time(9, 0), **recurrence)

    assert str(caught.value) == reason


NOW = local(2026, 11, 25, 10, 0)  # a Wednesday


@pytest.mark.parametrize(
    ("words", "frequency", "first", "rest"),
    [
        ("weekly fri 17:00 Wages", Frequency.WEEKLY, local(2026, 11, 27, 17, 0), ["Wages"]),
        ("weekly mon,thu 9:30", Frequency.WEEKLY, local(2026, 11, 26, 9, 30), []),
        ("daily 0800 Lunch money", Frequency.DAILY, local(2026, 11, 26, 8, 0), ["Lunch", "money"]),
        ("monthly 1 09:00 Rent", Frequency.MONTHLY, local(2026, 12, 1, 9, 0), ["Rent"]),
        ("monthly 31st 18:00", Frequency.MONTHLY, local(2026, 11, 30, 18, 0), []),
        ("2026-12-01 17:00 Deposit", Frequency.ONCE, local(2026, 12, 1, 17, 0), ["Deposit"]),
        ("tomorrow 9:00", Frequency.ONCE, local(2026, 11, 26, 9, 0), []),
        ("1/12 17h00", Frequency.ONCE, local(2026, 12, 1, 17, 0), []),
        ("once 3/1/2027 07:15", Frequency.ONCE, local(2027, 1, 3, 7, 15), []),
    ],
)
def test_rules_are_read_from_chat_words(words, frequency, first, rest) -> None:
    parsed = parse_rule(words.split(), now=NOW)

    assert parsed.recurrence.frequency is frequency
    assert parsed.recurrence.first_at_or_after(NOW) == first
    assert parsed.rest == rest


@pytest.mark.parametrize(
    ("words", "until", "count"),
    [
        ("weekly fri 17:00 until 2027-06-30 Wages", date(2027, 6, 30), None),
        ("monthly 1 09:00 12 times Rent", None, 12),
        ("daily 08:00 x5 Lunch", None, 5),
    ],
)
def test_an_end_date_or_a_count_can_follow(words, until, count) -> None:
    parsed = parse_rule(words.split(), now=NOW)

    assert (parsed.recurrence.until, parsed.recurrence.count) == (until, count)
    assert len(parsed.rest) == 1


@pytest.mark.parametrize(
    ("words", "reason"),
    [
        ("", "Say when: e.g. weekly fri 17:00, monthly 1 09:00 or 2026-12-01 17:00."),
        ("weekly", "Give the day of the week (e.g. fri) too."),
        ("weekly funday 17:00", "'funday' is not a day of the week; use mon to sun."),
        ("monthly 40 09:00", "'40' is not a day of the month (1 to 31)."),
        ("daily 25:00", "'25:00' is not a time of day; write it like 17:00."),
        ("someday 10:00", "'someday' is not a date; write it like 2026-12-01 or 1/12/2026."),
        ("31/2 10:00", "'31/2' is not a date."),
    ],
)
def test_unreadable_rules_say_what_is_wrong(words, reason) -> None:
    with pytest.raises(CalendarError) as caught:
        parse_rule(words.split(), now=NOW)

    assert str(caught.value) == reason


def test_small_parsers() -> None:
    assert parse_time_of_day("9.05") == time(9, 5)
    assert parse_weekdays("Monday, fri") == (0, 4)
    assert parse_weekdays(["sun", "sat"]) == (5, 6)
    assert parse_day("1/3", today=date(2026, 12, 5)) == date(2027, 3, 1)
    assert nairobi(datetime(2026, 11, 27, 14, 0, tzinfo=UTC)) == "Fri 27 Nov 2026 17:00"
