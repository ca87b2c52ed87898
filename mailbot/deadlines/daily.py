"""When a daily job set at a local time of day runs, in UTC.

A daily job (the digest, say) runs exactly once per local calendar day:

- at the local time when that time exists once;
- when the clock jumps over it (DST starts), at the first valid instant
  after the gap: 02:30 on 2026-03-29 in Europe/Amsterdam runs at 03:00 CEST;
- when it happens twice (DST ends), at its first occurrence only.

Each calendar day maps to one instant and later days to later instants, so
iterating `next_daily_run` never skips a day and never runs one twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from mailbot.deadlines.calendar import as_utc, load_zone, local_to_utc

log = logging.getLogger(__name__)

_LOCAL_TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")


def parse_local_time(text: str) -> dt.time:
    """Parse "HH:MM" or "HH:MM:SS"; ValueError saying the form if bad."""
    match = _LOCAL_TIME_RE.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is no time of day; write it like 02:30")
    return dt.time(int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))


def daily_run_on(day: dt.date, local_time: dt.time, tz: str) -> dt.datetime:
    """The UTC instant of the run that belongs to local date `day`."""
    return local_to_utc(dt.datetime.combine(day, local_time), load_zone(tz))


def next_daily_run(after: dt.datetime, local_time: str, tz: str) -> dt.datetime:
    """The first run strictly after `after` of a job at `local_time` in `tz`."""
    after = as_utc(after)
    at = parse_local_time(local_time)
    zone = load_zone(tz)
    # A gap can push the run of the day before past local midnight, so the
    # search starts one day early.
    day = after.astimezone(zone).date() - dt.timedelta(days=1)
    while True:
        run = local_to_utc(dt.datetime.combine(day, at), zone)
        if run > after:
            return run
        day += dt.timedelta(days=1)
