"""Calendar arithmetic for schedules: when the occurrences of a rule fall, in Nairobi time.

Nairobi keeps UTC+3 all year (no daylight saving), so a local wall-clock time maps to exactly one
instant. Everything here is pure: no clock is read, the caller passes "now" or the previous
occurrence. Occurrences are aware datetimes in UTC, to the minute.
"""

from __future__ import annotations

import calendar as _calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta

from models.enums import ScheduleFrequency
from mpesa.security import NAIROBI

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WEEKDAY_ALIASES = {
    **{name: i for i, name in enumerate(WEEKDAY_NAMES)},
    **{name.lower(): i for i, name in enumerate(DAY_NAMES)},
    "tues": 1,
    "wednes": 2,
    "thur": 3,
    "thurs": 3,
}
_TIME = re.compile(r"([01]?[0-9]|2[0-3])[:.h]?([0-5][0-9])")
# how far ahead we look for the next occurrence before deciding there is none (a weekly rule
# finds one within 7 days, a monthly one within 31; far past any real rule)
_SEARCH_DAYS = 400


Frequency = ScheduleFrequency


class CalendarError(ValueError):
    """A rule that cannot be used; str() says what is wrong in words a shop owner understands."""


@dataclass(frozen=True)
class Recurrence:
    """When a schedule's occurrences fall: a local time of day on the days the rule picks.

    ``start`` is the first local day that may hold an occurrence (for ONCE: the day itself),
    ``until`` the last one; ``count`` caps the number of occurrences.
    """

    frequency: Frequency
    start: date
    at: time
    weekdays: tuple[int, ...] = field(default=())
    month_day: int | None = None
    until: date | None = None
    count: int | None = None

    def __post_init__(self) -> None:
        if self.at.tzinfo is not None or self.at.second or self.at.microsecond:
            raise CalendarError("The time of day is a local Nairobi time in whole minutes.")
        if self.frequency is Frequency.WEEKLY:
            if not self.weekdays:
                raise CalendarError("A weekly schedule needs at least one day, e.g. fri.")
            if any(not 0 <= d <= 6 for d in self.weekdays):
                raise CalendarError("Days of the week are 0 (Monday) to 6 (Sunday).")
            object.__setattr__(self, "weekdays", tuple(sorted(set(self.weekdays))))
        elif self.weekdays:
            raise CalendarError("Days of the week only go with a weekly schedule.")
        if self.frequency is Frequency.MONTHLY:
            if self.month_day is None or not 1 <= self.month_day <= 31:
                raise CalendarError("A monthly schedule needs a day of the month from 1 to 31.")
        elif self.month_day is not None:
            raise CalendarError("A day of the month only goes with a monthly schedule.")
        if self.until is not None and self.until < self.start:
            raise CalendarError("The end date is before the first day.")
        if self.count is not None and self.count < 1:
            raise CalendarError("The number of occurrences must be at least 1.")
        once = self.frequency is Frequency.ONCE
        if once and (self.until is not None or self.count not in (None, 1)):
            raise CalendarError("A one-off schedule has no end date or count.")

    # -- occurrences ------------------------------------------------------------------------

    def first(self) -> datetime | None:
        """The first occurrence (UTC), or None when the rule picks no day at all."""
        return next(self._from_day(self.start), None)

    def next_after(self, previous: datetime) -> datetime | None:
        """The occurrence after ``previous`` (itself an occurrence or any instant), ignoring count.

        The caller counts occurrences (they live in the database); see ``is_last``.
        """
        local = previous.astimezone(NAIROBI)
        day = local.date()
        if self.frequency is Frequency.ONCE:
            only = self.first()
            return only if only is not None and only > previous else None
        for moment in self._from_day(max(day, self.start)):
            if moment > previous:
                return moment
        return None

    def first_at_or_after(self, moment: datetime) -> datetime | None:
        """The first occurrence at or after ``moment`` (UTC)."""
        return self.next_after(moment - timedelta(microseconds=1))

    def is_last(self, number: int) -> bool:
        """True when occurrence number ``number`` (1-based) is the last one the count allows."""
        return self.count is not None and number >= self.count

    def upcoming(self, after: datetime, n: int) -> list[datetime]:
        """Up to ``n`` occurrences after ``after`` (ignoring count), for previews."""
        found: list[datetime] = []
        moment: datetime | None = after
        while moment is not None and len(found) < n:
            moment = self.next_after(moment)
            if moment is not None:
                found.append(moment)
        return found

    def _from_day(self, day: date) -> Iterator[datetime]:
        """Occurrences on ``day`` and later, in order, up to ``until``."""
        if self.frequency is Frequency.ONCE:
            if day <= self.start:
                yield _instant(self.start, self.at)
            return
        last = self.until
        for offset in range(_SEARCH_DAYS):
            current = day + timedelta(days=offset)
            if last is not None and current > last:
                return
            if self._picks(current):
                yield _instant(current, self.at)
        # a rule picks a day at least every 31 days; beyond the search window the caller asks
        # again from the last day found, so nothing is lost

    def _picks(self, day: date) -> bool:
        if day < self.start:
            return False
        if self.frequency is Frequency.DAILY:
            return True
        if self.frequency is Frequency.WEEKLY:
            return day.weekday() in self.weekdays
        assert self.month_day is not None
        # the 31st in a 30-day month (or the 29th-31st in February) is the month's last day
        length = _calendar.monthrange(day.year, day.month)[1]
        return day.day == min(self.month_day, length)

    # -- describing -------------------------------------------------------------------------

    def describe(self) -> str:
        """The rule in words: "every Friday at 17:00 until 30 Jun 2027"."""
        at = self.at.strftime("%H:%M")
        if self.frequency is Frequency.ONCE:
            return f"once, on {_day(self.start)} at {at}"
        if self.frequency is Frequency.DAILY:
            text = f"every day at {at}"
        elif self.frequency is Frequency.WEEKLY:
            names = [DAY_NAMES[d] for d in self.weekdays]
            days = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
            text = f"every {days} at {at}"
        else:
            text = f"every month on the {_ordinal(self.month_day or 1)} at {at}"
            if (self.month_day or 0) > 28:
                text += " (the last day in shorter months)"
        text += f", from {_day(self.start)}"
        if self.until is not None:
            text += f" until {_day(self.until)}"
        if self.count is not None:
            text += f", {self.count} time{'s' if self.count != 1 else ''}"
        return text


def _instant(day: date, at: time) -> datetime:
    """The UTC instant of a Nairobi wall-clock time (Nairobi has no gaps or repeats)."""
    return datetime.combine(day, at, tzinfo=NAIROBI).astimezone(UTC)


def _day(day: date) -> str:
    return f"{day.day} {MONTH_NAMES[day.month - 1]} {day.year}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# -- parsing what people type ---------------------------------------------------------------


def parse_time_of_day(text: str) -> time:
    """ "17:00", "9:30", "0930", "17h00" -> a local time; anything else is a CalendarError."""
    match = _TIME.fullmatch(text.strip().lower())
    if match is None:
        raise CalendarError(f"{text.strip()!r} is not a time of day; write it like 17:00.")
    return time(int(match.group(1)), int(match.group(2)))


def parse_weekdays(text: str | list[str]) -> tuple[int, ...]:
    """ "fri", "mon,thu", ["monday", "friday"] -> (0, 4)-style weekday numbers."""
    items = text if isinstance(text, list) else re.split(r"[,\s/+]+", text)
    days = []
    for item in items:
        name = str(item).strip().lower().rstrip(".")
        if not name:
            continue
        if name.endswith("day") and name not in _WEEKDAY_ALIASES:
            name = name.removesuffix("day")
        if name not in _WEEKDAY_ALIASES:
            raise CalendarError(f"{str(item).strip()!r} is not a day of the week; use mon to sun.")
        days.append(_WEEKDAY_ALIASES[name])
    if not days:
        raise CalendarError("Give at least one day of the week, e.g. fri.")
    return tuple(sorted(set(days)))


def parse_day(text: str, *, today: date) -> date:
    """ "2026-12-01", "1/12/2026", "today", "tomorrow" -> a date (day first, as in Kenya)."""
    word = text.strip().lower()
    if word == "today":
        return today
    if word == "tomorrow":
        return today + timedelta(days=1)
    try:
        return date.fromisoformat(word)
    except ValueError:
        pass
    match = re.fullmatch(r"([0-9]{1,2})[/.\-]([0-9]{1,2})(?:[/.\-]([0-9]{2,4}))?", word)
    if match is not None:
        day, month = int(match.group(1)), int(match.group(2))
        year = match.group(3)
        century = 2000 if year is not None and len(year) == 2 else 0
        candidate_year = today.year if year is None else int(year) + century
        try:
            found = date(candidate_year, month, day)
        except ValueError:
            raise CalendarError(f"{text.strip()!r} is not a date.") from None
        if year is None and found < today:
            found = found.replace(year=found.year + 1)  # "1/3" in December means next March
        return found
    raise CalendarError(f"{text.strip()!r} is not a date; write it like 2026-12-01 or 1/12/2026.")


@dataclass(frozen=True)
class ParsedRule:
    """A rule read from chat words, and the words left over (the reason or description)."""

    recurrence: Recurrence
    rest: list[str]


def parse_rule(words: list[str], *, now: datetime) -> ParsedRule:
    """Read a rule from chat words, then an optional end ("until <date>", "<n> times").

    once:    2026-12-01 17:00 | tomorrow 09:00 | 1/12 17:00
    daily:   daily 08:00
    weekly:  weekly fri 17:00 | weekly mon,thu 09:30
    monthly: monthly 1 09:00 | monthly 31 18:00
    """
    if not words:
        raise CalendarError("Say when: e.g. weekly fri 17:00, monthly 1 09:00 or 2026-12-01 17:00.")
    today = now.astimezone(NAIROBI).date()
    head = words[0].lower()
    rest = list(words[1:])

    def take(what: str) -> str:
        if not rest:
            raise CalendarError(f"Give the {what} too.")
        return rest.pop(0)

    if head in ("daily", "everyday"):
        recurrence_args = {"frequency": Frequency.DAILY, "at": parse_time_of_day(take("time"))}
    elif head == "weekly":
        days = parse_weekdays(take("day of the week (e.g. fri)"))
        recurrence_args = {
            "frequency": Frequency.WEEKLY,
            "weekdays": days,
            "at": parse_time_of_day(take("time")),
        }
    elif head == "monthly":
        raw_day = take("day of the month (1 to 31)").lower()
        digits = re.sub(r"(st|nd|rd|th)$", "", raw_day)
        if not digits.isdigit() or not 1 <= int(digits) <= 31:
            raise CalendarError(f"{raw_day!r} is not a day of the month (1 to 31).")
        recurrence_args = {
            "frequency": Frequency.MONTHLY,
            "month_day": int(digits),
            "at": parse_time_of_day(take("time")),
        }
    else:
        day = parse_day(head if head != "once" else take("date"), today=today)
        at = parse_time_of_day(take("time"))
        return ParsedRule(Recurrence(Frequency.ONCE, start=day, at=at), rest)
    until = count = None
    if rest and rest[0].lower() == "until":
        rest.pop(0)
        until = parse_day(take("end date"), today=today)
    elif len(rest) >= 2 and rest[0].isdigit() and rest[1].lower() in ("times", "time", "x"):
        count = int(rest.pop(0))
        rest.pop(0)
    elif rest and re.fullmatch(r"x[0-9]+|[0-9]+x", rest[0].lower()):
        count = int(rest.pop(0).lower().strip("x"))
    recurrence = Recurrence(start=today, until=until, count=count, **recurrence_args)
    return ParsedRule(recurrence, rest)


def nairobi(moment: datetime) -> str:
    """A UTC instant as Nairobi people read it: "Fri 28 Nov 2026 17:00"."""
    local = moment.astimezone(NAIROBI)
    return f"{DAY_NAMES[local.weekday()][:3]} {_day(local.date())} {local:%H:%M}"


def weekdays_text(days: tuple[int, ...]) -> str:
    """(0, 4) -> "mon,fri" (how weekdays are stored and shown in the API)."""
    return ",".join(WEEKDAY_NAMES[d] for d in days)
