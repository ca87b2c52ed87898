"""A time of day made a UTC stamp: its date completed, its zone applied.

A time without a date takes the part's date, else the mail's day (the
latest such time not after the mail); a syslog date without a year takes
the latest year that does not put it after the mail. A time more than a day
after the mail is a misreading, not evidence, and gives no stamp.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Final

from mailbot.extract.date_spellings import safe_date
from mailbot.extract.partclock import PartClock
from mailbot.extract.zones import tzinfo

_GRACE: Final = dt.timedelta(days=1)


@functools.lru_cache(maxsize=4096)
def utc_text(
    date: tuple | None, hms: tuple[int, int, int], zone: str, clock: PartClock
) -> str | None:
    """The UTC text of a time of day on `date` (or the mail's) in `zone`."""
    tz = tzinfo(zone)
    if tz is None:
        return None
    when = _complete(date, dt.time(*hms), tz, clock)
    if when is None:
        return None
    latest = None if clock.reference is None else clock.reference + _GRACE
    try:
        when = when.astimezone(dt.UTC)
    except OverflowError:
        return None  # "9999-12-31 23:59 -0500" is in no year Python counts
    # Compared in UTC: the same instants compared, without asking the zone
    # of `when` for its offset again.
    if latest is not None and when > latest:
        # More than a day after the mail: a misreading or a mistyped year
        # ("2027-12-03" in a mail of 2026-12-04), no evidence of it.
        return None
    return utc_stamp(when)


def utc_stamp(when: dt.datetime) -> str:
    """`when` (in UTC) as the stamp text "2026-12-04T08:10:00Z".

    isoformat is several times cheaper than strftime, and writes the same
    from the year 1000 on (strftime writes "5-01-01" for the year 5). An
    aware time in UTC ends in "+00:00", written "Z" (cheaper than
    replace(tzinfo=None) first).
    """
    if when.year < 1000:
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    text = when.isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text + "Z"


def _complete(date, clock_time, tz, clock: PartClock) -> dt.datetime | None:
    reference = clock.reference
    if date is None and clock.date is not None:
        when = dt.datetime.combine(clock.date, clock_time, tzinfo=tz)
        # The part's date, unless that puts the time after the mail ("last
        # night at 23:41 ... discovered 2026-12-04 08:10", mailed at 09:30).
        if reference is None or when <= reference + dt.timedelta(minutes=15):
            return when
    if date is not None and date[0] is not None:
        return dt.datetime(
            date[0],
            date[1],
            date[2],
            clock_time.hour,
            clock_time.minute,
            clock_time.second,
            tzinfo=tz,
        )
    if reference is None:
        return None
    if date is not None:
        sure, day = _syslog_day(date[1], date[2], tz, reference)
        if sure:
            if day is None:
                return None
            return dt.datetime.combine(day, clock_time, tzinfo=tz)
        local = reference.astimezone(tz)
        return _syslog_year(date[1], date[2], clock_time, tz, local.year, reference)
    when = dt.datetime.combine(_local_date(reference, tz), clock_time, tzinfo=tz)
    if when > reference + dt.timedelta(minutes=15):
        when -= dt.timedelta(days=1)
    return when


@functools.lru_cache(maxsize=256)
def _local_date(reference: dt.datetime, tz: dt.tzinfo) -> dt.date:
    """The mail's day in `tz` (the day of a time written without a date)."""
    return reference.astimezone(tz).date()


@functools.lru_cache(maxsize=1024)
def _syslog_day(
    month: int, day: int, tz: dt.tzinfo, reference: dt.datetime
) -> tuple[bool, dt.date | None]:
    """The date `_syslog_year` gives a syslog date at every time of its day
    (sure, and None when it gives none), or (False, None) when the choice
    hangs on the time: a log's records share a few dates and each has its
    own time, so the year is chosen once a date instead of once a record.

    A zone's offset is less than a day either way, so a time of the day D
    falls after D - 1 and before D + 2 in UTC: the day is surely not after
    `reference` + 2 days when D + 2 is not, surely after when D - 1 is not
    before it (a day's margin on each side, so that a comparison within one
    zone, by local times, is bounded alike).
    """
    try:
        latest = reference + dt.timedelta(days=2)
        if latest.tzinfo is None:
            return False, None  # no instant to bound by
        bound = latest.astimezone(dt.UTC).replace(tzinfo=None)
        year = reference.astimezone(tz).year
        for back in range(9):
            date = safe_date(year - back, month, day)
            if date is None:
                continue
            start = dt.datetime.combine(date, dt.time())
            if start + dt.timedelta(days=2) <= bound:
                return True, date
            if start - dt.timedelta(days=1) < bound:
                return False, None
    except OverflowError:
        return False, None  # at the ends of Python's calendar: time by time
    return True, None


def _syslog_year(month, day, clock_time, tz, year: int, reference: dt.datetime):
    """A syslog date in the latest year that does not put it after the mail.

    February 29 goes back to the last leap year.
    """
    latest = reference + dt.timedelta(days=2)
    for back in range(9):
        date = safe_date(year - back, month, day)
        if date is None:
            continue
        when = dt.datetime.combine(date, clock_time, tzinfo=tz)
        if when <= latest:
            return when
    return None
