"""Working-hours and calendar arithmetic on UTC instants.

Every instant going in or out is an aware datetime in UTC. Local time is
used only inside `WorkingCalendar`, to build each day's opening window with
that day's zone rules; the window is then measured in UTC. Adding a
`timedelta` to an aware local datetime is wall-clock arithmetic and would be
an hour off across a DST change, so nothing here does that.

Two kinds of time exist, with one interface (`Timekeeper`):

- `WorkingCalendar`: only the site's opening hours count (default Monday to
  Friday, 09:00 up to but not including 17:00 local time, minus the
  country's public holidays and extra days off).
- `CalendarTime`: all time counts. Hours, days and weeks are exact elapsed
  time (1 day = 24 hours, whatever DST does); months are calendar months of
  the calendar's own zone (UTC unless told otherwise): one month after
  31 January is the last day of February at the same local time of day.

A `Duration` holds months, weeks, days and a time part. In working time a
day is one working day of the calendar (its daily opening hours, 8 hours
for 09:00-17:00), a week is as many working days as the calendar has
weekdays (5 for Monday to Friday), and months are refused.
"""

from __future__ import annotations

import calendar as _stdcalendar
import datetime as dt
import logging
import re
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

import holidays

from mailbot.errors import ConfigError
from mailbot.sites import Site

log = logging.getLogger(__name__)
T = TypeVar("T")

UTC = dt.UTC
ZERO = dt.timedelta(0)

# A calendar with no working day for this many days in a row is broken.
SEARCH_LIMIT_DAYS = 731

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME_RE = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")


@dataclass(frozen=True)
class Duration:
    """An amount of time: calendar months, weeks, days and a time part."""

    months: int = 0
    weeks: int = 0
    days: int = 0
    time: dt.timedelta = ZERO

    def __post_init__(self) -> None:
        if min(self.months, self.weeks, self.days) < 0 or self.time < ZERO:
            raise ValueError(f"{self!r} is negative; durations count forward")

    @classmethod
    def of(cls, value: Duration | dt.timedelta) -> Duration:
        """`value` itself, or a timedelta as a pure time part."""
        if isinstance(value, Duration):
            return value
        return cls(time=value)

    @property
    def is_zero(self) -> bool:
        return not (self.months or self.weeks or self.days or self.time)

    def __str__(self) -> str:
        counts = ((self.months, "month"), (self.weeks, "week"), (self.days, "day"))
        parts = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in counts if n]
        if self.time or not parts:
            parts.append(_format_time(self.time))
        return " ".join(parts)


def _format_time(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = "".join(
        f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (seconds, "s")) if n
    )
    return text or "0h"


class Timekeeper(Protocol):
    """What deadline code needs from either kind of time."""

    def add(self, start: dt.datetime, duration: Duration | dt.timedelta) -> dt.datetime:
        """The instant when `duration` of this kind of time has elapsed."""
        ...

    def is_open(self, t: dt.datetime) -> bool:
        """Whether `t` is counted time."""
        ...

    def next_open(self, t: dt.datetime) -> dt.datetime:
        """The first counted instant at or after `t`."""
        ...

    def working_time_between(self, a: dt.datetime, b: dt.datetime) -> dt.timedelta:
        """How much counted time lies between `a` and `b`."""
        ...


class CalendarSettingError(ValueError):
    """A bad calendar setting; `setting` names its key in the sites file."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(problem)
        self.setting = setting


def _setting(setting: str, parse: Callable[..., T], *args: object) -> T:
    try:
        return parse(*args)
    except CalendarSettingError:
        raise
    except ValueError as exc:
        raise CalendarSettingError(setting, str(exc)) from None


def as_utc(value: dt.datetime) -> dt.datetime:
    """`value` in UTC; a naive value is refused, since its zone is a guess."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{value!r} is naive; pass an aware datetime in UTC")
    return value.astimezone(UTC)


def load_zone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA zone `name`; ValueError saying so when there is none."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"{name!r} is no IANA time zone") from None


def local_to_utc(naive: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """The UTC instant of a local wall-clock time in `zone`.

    An ambiguous time (DST ends, the hour happens twice) is its first
    occurrence. A time that does not exist (DST starts, the clock jumps) is
    the first valid instant after the gap, the moment of the jump.
    """
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first
    second = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    return _transition(min(first, second), max(first, second), zone)


def _transition(
    low: dt.datetime, high: dt.datetime, zone: zoneinfo.ZoneInfo
) -> dt.datetime:
    # The offset changes once between the two readings of a gap time; zone
    # transitions fall on whole seconds, so bisect on seconds.
    after = high.astimezone(zone).utcoffset()
    lo, hi = int(low.timestamp()), int(high.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        moment = dt.datetime.fromtimestamp(mid, UTC)
        if moment.astimezone(zone).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return dt.datetime.fromtimestamp(hi, UTC)


def parse_clock_time(text: str, allow_midnight_end: bool = False) -> dt.time | None:
    """Parse "HH:MM"; "24:00" (returned as None) only for a closing time."""
    match = _TIME_RE.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{text!r} is no time of day; write it like 09:00")
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour == 24:
        if minute or not allow_midnight_end:
            raise ValueError(f"{text!r}: only a closing time may be 24:00")
        return None
    return dt.time(hour, minute)


def _weekday_numbers(weekdays: Iterable[int | str]) -> frozenset[int]:
    numbers = set()
    for day in weekdays:
        if isinstance(day, str) and day[:3].lower() in WEEKDAY_NAMES:
            numbers.add(WEEKDAY_NAMES.index(day[:3].lower()))
        elif isinstance(day, int) and 0 <= day <= 6:
            numbers.add(day)
        else:
            raise ValueError(f"{day!r} is no weekday; use 0-6 (Monday=0) or Mon-Sun")
    return frozenset(numbers)


def _parse_days_off(days_off: Iterable[str | dt.date]) -> frozenset[dt.date]:
    parsed = set()
    for day in days_off:
        if isinstance(day, dt.date):
            parsed.add(day)
            continue
        try:
            parsed.add(dt.date.fromisoformat(str(day).strip()))
        except ValueError:
            raise ValueError(f"{day!r} is no ISO date like 2026-12-24") from None
    return frozenset(parsed)


class WorkingCalendar:
    """Opening hours of one site: only time inside them counts.

    `opens` and `closes` are local times of day ("09:00", "17:00"; closing
    may be "24:00"); a day's window is [opens, closes). A window edge that
    does not exist on a DST day moves to the end of the gap.
    """

    def __init__(
        self,
        timezone: str = "UTC",
        country: str | None = None,
        subdivision: str | None = None,
        days_off: Iterable[str | dt.date] = (),
        opens: str = "09:00",
        closes: str = "17:00",
        weekdays: Iterable[int | str] = (0, 1, 2, 3, 4),
    ) -> None:
        self.timezone = timezone
        self.zone = _setting("timezone", load_zone, timezone)
        self.country = country.upper() if country else None
        self.subdivision = subdivision.upper() if subdivision else None
        self.days_off = _setting("holidays", _parse_days_off, days_off)
        self.weekdays = _setting("weekdays", _weekday_numbers, weekdays)
        self._opens = _setting("working_hours", parse_clock_time, opens)
        self._closes = _setting("working_hours", parse_clock_time, closes, True)
        self.day_length = _setting("working_hours", self._nominal_day_length)
        self._public: dict[int, frozenset[dt.date]] = {}
        self._windows: dict[dt.date, tuple[dt.datetime, dt.datetime] | None] = {}
        # Fail at construction, not at the first holiday lookup of a sweep
        # (the table itself: on a weekend no lookup would reach it). Of no
        # year: the country is checked without reading today's date.
        if self.country is not None:
            _setting("country", self._holiday_table, None)

    @classmethod
    def for_site(cls, site: Site) -> WorkingCalendar:
        """The calendar of a site of the sites file.

        A country written as an ISO 3166-2 code ("ES-CT") selects that
        subdivision's holidays. Bad values raise ConfigError naming the key.
        """
        country, _, subdivision = (site.country or "").partition("-")
        subdivision = getattr(site, "subdivision", None) or subdivision
        try:
            return cls(
                timezone=site.timezone,
                country=country or None,
                subdivision=subdivision or None,
                days_off=site.holidays,
                opens=site.working_hours[0],
                closes=site.working_hours[1],
                weekdays=site.weekdays,
            )
        except CalendarSettingError as exc:
            raise ConfigError(f"site {site.name}.{exc.setting}", str(exc)) from None

    def __repr__(self) -> str:
        hours = f"{self._opens}-{self._closes or '24:00'}"
        return f"WorkingCalendar({self.timezone!r}, {self.country!r}, {hours})"

    def _nominal_day_length(self) -> dt.timedelta:
        assert self._opens is not None
        end = self._closes or dt.time(0)
        opens = dt.timedelta(hours=self._opens.hour, minutes=self._opens.minute)
        closes = dt.timedelta(hours=end.hour, minutes=end.minute)
        if self._closes is None:
            closes += dt.timedelta(days=1)
        if closes <= opens:
            raise ValueError(
                f"closing {end:%H:%M} must come after opening {self._opens:%H:%M}"
            )
        return closes - opens

    def _holiday_table(self, year: int | None) -> frozenset[dt.date]:
        assert self.country is not None
        try:
            table = holidays.country_holidays(
                self.country, subdiv=self.subdivision, years=year
            )
        except NotImplementedError:
            raise ValueError(self._unknown_country()) from None
        return frozenset(table.keys())

    def _unknown_country(self) -> str:
        """Why the holidays library has no table for the country, and the fix."""
        supported = holidays.list_supported_countries()
        if self.country in supported:
            known = supported[self.country]
            some = ", ".join(f"{self.country}-{code}" for code in known[:6])
            return (
                f"{self.country} has no subdivision {self.subdivision!r} the"
                f' holidays library knows: write "{self.country}" alone'
                + (f", or one it knows ({some}, ...)" if known else "")
            )
        return (
            f"{self.country!r} is no ISO 3166 alpha-2 country code the holidays"
            ' library knows (such as "DE", "IT", or "ES-CT" for a subdivision):'
            " correct it, or leave the key out for a site without public holidays"
        )

    def is_working_day(self, day: dt.date) -> bool:
        """Whether `day` (a local date) has opening hours at all."""
        if day.weekday() not in self.weekdays or day in self.days_off:
            return False
        if self.country is None:
            return True
        public = self._public.get(day.year)
        if public is None:
            public = self._public[day.year] = self._holiday_table(day.year)
        return day not in public

    def window(self, day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
        """The UTC [opening, closing) of local date `day`, None if closed."""
        if day in self._windows:
            return self._windows[day]
        if len(self._windows) > 4096:
            self._windows.clear()
        found = self._build_window(day) if self.is_working_day(day) else None
        self._windows[day] = found
        return found

    def _build_window(self, day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
        assert self._opens is not None
        opening = local_to_utc(dt.datetime.combine(day, self._opens), self.zone)
        if self._closes is None:
            closing_local = dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
        else:
            closing_local = dt.datetime.combine(day, self._closes)
        closing = local_to_utc(closing_local, self.zone)
        return (opening, closing) if closing > opening else None

    def _windows_from(
        self, t: dt.datetime, last_day: dt.date | None = None
    ) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """Windows that close after `t`, in order; up to `last_day` if given."""
        day = t.astimezone(self.zone).date()
        idle = 0
        while last_day is None or day <= last_day:
            found = self.window(day)
            if found is not None and found[1] > t:
                idle = 0
                yield found
            elif found is None:
                idle += 1
                if idle > SEARCH_LIMIT_DAYS:
                    raise ValueError(
                        f"{self!r} has no working day within two years after "
                        f"{day - dt.timedelta(days=idle)}: check weekdays and days off"
                    )
            day += dt.timedelta(days=1)

    def working_delta(self, duration: Duration | dt.timedelta) -> dt.timedelta:
        """`duration` as working time: days and weeks count working days."""
        if isinstance(duration, dt.timedelta):
            return duration
        if duration.months:
            raise ValueError(f"{duration}: months are calendar time, not working time")
        days = duration.days + duration.weeks * len(self.weekdays)
        return duration.time + days * self.day_length

    def add(self, start: dt.datetime, duration: Duration | dt.timedelta) -> dt.datetime:
        """When `duration` of working time has elapsed after `start`.

        Counting begins at the next opening when `start` is outside working
        hours; a zero duration returns `start` itself.
        """
        remaining = self.working_delta(duration)
        cursor = as_utc(start)
        if remaining < ZERO:
            raise ValueError(f"{duration!r} is negative; durations count forward")
        if not remaining:
            return cursor
        for opening, closing in self._windows_from(cursor):
            begin = max(opening, cursor)
            if closing - begin >= remaining:
                return begin + remaining
            remaining -= closing - begin
        raise AssertionError("unreachable: the window search is unbounded")

    def is_open(self, t: dt.datetime) -> bool:
        t = as_utc(t)
        found = self.window(t.astimezone(self.zone).date())
        return found is not None and found[0] <= t < found[1]

    def next_open(self, t: dt.datetime) -> dt.datetime:
        """`t` itself when open, else the next opening."""
        t = as_utc(t)
        opening, _ = next(self._windows_from(t))
        return max(opening, t)

    def working_time_between(self, a: dt.datetime, b: dt.datetime) -> dt.timedelta:
        """Working time in [a, b); negative when `b` comes before `a`."""
        a, b = as_utc(a), as_utc(b)
        if b < a:
            return -self.working_time_between(b, a)
        total = ZERO
        last_day = b.astimezone(self.zone).date()
        for opening, closing in self._windows_from(a, last_day):
            if opening >= b:
                break
            total += min(closing, b) - max(opening, a)
        return total


class CalendarTime:
    """Plain calendar time: every instant counts.

    Months are added to the local date in `timezone` (default UTC), keeping
    the local time of day and clamping to the month's last day; weeks, days
    and the time part are then added as exact elapsed time.
    """

    def __init__(self, timezone: str = "UTC") -> None:
        self.timezone = timezone
        self.zone = load_zone(timezone)

    def __repr__(self) -> str:
        return f"CalendarTime({self.timezone!r})"

    def add(self, start: dt.datetime, duration: Duration | dt.timedelta) -> dt.datetime:
        duration = Duration.of(duration)
        t = as_utc(start)
        if duration.months:
            t = self._add_months(t, duration.months)
        days = duration.days + 7 * duration.weeks
        return t + dt.timedelta(days=days) + duration.time

    def _add_months(self, t: dt.datetime, months: int) -> dt.datetime:
        local = t.astimezone(self.zone).replace(tzinfo=None)
        year, month = divmod(local.month - 1 + months, 12)
        year += local.year
        month += 1
        last = _stdcalendar.monthrange(year, month)[1]
        moved = local.replace(year=year, month=month, day=min(local.day, last))
        return local_to_utc(moved, self.zone)

    def is_open(self, t: dt.datetime) -> bool:
        as_utc(t)
        return True

    def next_open(self, t: dt.datetime) -> dt.datetime:
        return as_utc(t)

    def working_time_between(self, a: dt.datetime, b: dt.datetime) -> dt.timedelta:
        return as_utc(b) - as_utc(a)
