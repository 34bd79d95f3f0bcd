"""systemd calendar expressions (``OnCalendar=``): parse the common subset and measure the longest gap.

Seawall needs to know the longest interval between two runs of a backup timer to check it against the
set's RPO. The subset is what ``systemd.time(7)`` documents for weekdays, dates and times: ``*``, lists
``a,b``, ranges ``a..b`` and repetitions ``a/n``, and the shorthands (``daily``, ``hourly``, …). The
real ``systemd-analyze calendar`` is the reference; the tests compare against it.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
import re
import zoneinfo
from calendar import monthrange
from dataclasses import dataclass
from itertools import pairwise

SHORTHANDS = {
    "minutely": "*-*-* *:*:00",
    "hourly": "*-*-* *:00:00",
    "daily": "*-*-* 00:00:00",
    "weekly": "Mon *-*-* 00:00:00",
    "monthly": "*-*-01 00:00:00",
    "yearly": "*-01-01 00:00:00",
    "annually": "*-01-01 00:00:00",
    "quarterly": "*-01,04,07,10-01 00:00:00",
    "semiannually": "*-01,07-01 00:00:00",
}
# systemd's day names, short and long, to their number from Monday (0).
DAY_NUMBERS = {
    name: index
    for index, names in enumerate(
        [
            ("mon", "monday"),
            ("tue", "tuesday"),
            ("wed", "wednesday"),
            ("thu", "thursday"),
            ("fri", "friday"),
            ("sat", "saturday"),
            ("sun", "sunday"),
        ]
    )
    for name in names
}
_TIMEZONE = re.compile(r"^(UTC|[A-Za-z]+/[A-Za-z_]+(/[A-Za-z_]+)?)$")
_SCAN_START = dt.date(2024, 1, 1)
_SCAN_DAYS = 366 * 8


class CalendarError(ValueError):
    """The expression is not a calendar expression Seawall understands."""


@dataclass(frozen=True)
class Calendar:
    """A parsed calendar expression: the allowed values of each field."""

    weekdays: frozenset[int]
    years: frozenset[int] | None
    months: frozenset[int]
    days: frozenset[int]
    hours: frozenset[int]
    minutes: frozenset[int]
    seconds: frozenset[int]
    zone: str | None = None

    def matches_day(self, day: dt.date) -> bool:
        """Given a date, return whether the expression can fire on it."""
        return (
            day.weekday() in self.weekdays
            and (self.years is None or day.year in self.years)
            and day.month in self.months
            and day.day in self.days
        )

    def seconds_of_day(self) -> list[int]:
        """Return every second of the day at which the expression fires, in order."""
        return sorted(
            hour * 3600 + minute * 60 + second
            for hour in self.hours
            for minute in self.minutes
            for second in self.seconds
        )


@functools.lru_cache(maxsize=1024)
def parse_calendar(text: str) -> Calendar:
    """Given an ``OnCalendar=`` expression, return the parsed calendar or raise CalendarError."""
    expression = " ".join(text.split())
    if not expression:
        raise CalendarError("empty calendar expression")
    expression = SHORTHANDS.get(expression.lower(), expression)
    tokens = expression.split(" ")
    zone = None
    if tokens and _TIMEZONE.match(tokens[-1]) and len(tokens) > 1:
        zone = tokens.pop()
        if zone.upper() != "UTC":
            try:
                zoneinfo.ZoneInfo(zone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                msg = f"{zone!r} is not a time zone systemd knows (like UTC or Europe/Brussels)"
                raise CalendarError(msg) from None
    weekdays = frozenset(range(7))
    if tokens and re.match(r"^[A-Za-z]", tokens[0]):
        weekdays = _parse_weekdays(tokens.pop(0))
    date_part, time_part = "*-*-*", "00:00:00"
    for token in tokens:
        if ":" in token:
            time_part = token
        elif "-" in token:
            date_part = token
        else:
            raise CalendarError(f"cannot read {token!r} as a date or a time")
    if len(tokens) > 2:
        raise CalendarError("expected at most a weekday, a date and a time")
    years, months, days = _parse_date(date_part)
    hours, minutes, seconds = _parse_time(time_part)
    return Calendar(weekdays, years, months, days, hours, minutes, seconds, zone)


@functools.lru_cache(maxsize=1024)
def longest_interval(calendar: Calendar) -> dt.timedelta:
    """Given a calendar, return the longest time between two consecutive firings."""
    times = calendar.seconds_of_day()
    if not times:
        raise CalendarError("the expression never fires")
    fire_days = _fire_days(calendar)
    if len(fire_days) < 2:
        raise CalendarError("the expression fires less than twice in eight years")
    longest = max((b - a for a, b in pairwise(times)), default=0)
    first, last = times[0], times[-1]
    widest = max(map(operator.sub, fire_days[1:], fire_days[:-1]))  # the longest gap between firing days
    longest = max(longest, widest * 86400 + first - last)
    # In a zone with daylight saving time, the night the clocks go back is an hour longer.
    return dt.timedelta(seconds=longest + (3600 if _observes_dst(calendar.zone) else 0))


def _fire_days(calendar: Calendar) -> list[int]:
    """Given a calendar, return the ordinals of the days it fires on in the scanned years, walking only
    the months and days it names."""
    days: list[int] = []
    months, month_days, weekdays = sorted(calendar.months), sorted(calendar.days), calendar.weekdays
    for year in range(_SCAN_START.year, _SCAN_START.year + _SCAN_DAYS // 366):
        if calendar.years is not None and year not in calendar.years:
            continue
        for month in months:
            first = dt.date(year, month, 1)
            base, weekday, last = first.toordinal() - 1, first.weekday() - 1, monthrange(year, month)[1]
            # Day d of the month is ordinal base + d, weekday (weekday + d) % 7: no date object per day.
            days.extend(base + day for day in month_days if day <= last and (weekday + day) % 7 in weekdays)
    return days


def _observes_dst(zone: str | None) -> bool:
    if zone is None or zone.upper() == "UTC":
        return False
    tz = zoneinfo.ZoneInfo(zone)
    offsets = {dt.datetime(2025, month, 1, 12, tzinfo=tz).utcoffset() for month in (1, 7)}
    return len(offsets) > 1


def _parse_weekdays(token: str) -> frozenset[int]:
    result: set[int] = set()
    for part in token.split(","):
        bounds = part.split("..")
        try:
            indexes = [DAY_NUMBERS[bound.lower()] for bound in bounds]
        except KeyError:
            raise CalendarError(f"{part!r} is not a weekday (Mon..Sun)") from None
        if len(indexes) == 1:
            result.add(indexes[0])
        elif len(indexes) == 2:
            start, end = indexes
            if start > end:  # systemd refuses a range that wraps past Sunday
                raise CalendarError(f"{part!r} runs backwards: write it as two ranges (like Fri..Sun,Mon)")
            result.update(range(start, end + 1))
        else:
            raise CalendarError(f"{part!r} is not a weekday range")
    return frozenset(result)


def _parse_date(token: str) -> tuple[frozenset[int] | None, frozenset[int], frozenset[int]]:
    parts = token.split("-")
    if len(parts) == 2:
        parts = ["*", *parts]
    if len(parts) != 3:
        raise CalendarError(f"{token!r} is not a date (YYYY-MM-DD, * allowed)")
    year_text, month_text, day_text = parts
    years = None if year_text == "*" else _parse_field(year_text, 1970, 2199, "year")
    return years, _parse_field(month_text, 1, 12, "month"), _parse_field(day_text, 1, 31, "day")


def _parse_time(token: str) -> tuple[frozenset[int], frozenset[int], frozenset[int]]:
    parts = token.split(":")
    if len(parts) == 2:
        parts.append("00")
    if len(parts) != 3:
        raise CalendarError(f"{token!r} is not a time (HH:MM[:SS])")
    hour, minute, second = parts
    if "." in second:
        raise CalendarError("fractional seconds are not supported")
    return (
        _parse_field(hour, 0, 23, "hour"),
        _parse_field(minute, 0, 59, "minute"),
        _parse_field(second, 0, 59, "second"),
    )


def _parse_field(text: str, low: int, high: int, what: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        values.update(_parse_component(part, low, high, what))
    return frozenset(values)


def _parse_component(part: str, low: int, high: int, what: str) -> range:
    base, _, step_text = part.partition("/")
    step = 1
    if step_text:
        if not step_text.isdigit() or int(step_text) == 0:
            raise CalendarError(f"{part!r}: the repetition in a {what} must be a positive number")
        step = int(step_text)
    if base == "*":
        start, end = low, high
    elif ".." in base:
        first, _, last = base.partition("..")
        start, end = _number(first, low, high, what), _number(last, low, high, what)
        if end < start:
            raise CalendarError(f"{part!r}: the {what} range runs backwards")
    else:
        start = _number(base, low, high, what)
        end = high if step_text else start
    return range(start, end + 1, step)


def _number(text: str, low: int, high: int, what: str) -> int:
    if not text.isdigit():
        raise CalendarError(f"{text!r} is not a {what}")
    value = int(text)
    if not low <= value <= high:
        raise CalendarError(f"{what} {value} is outside {low}..{high}")
    return value
