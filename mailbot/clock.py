"""The one clock of mailbot: real time, or a fixed instant that tests set."""

from __future__ import annotations

import datetime as dt

UTC = dt.UTC


class Clock:
    """Tells the current time in UTC; `set` and `advance` move a fixed clock."""

    def __init__(self, fixed: dt.datetime | None = None) -> None:
        self._fixed = as_utc(fixed) if fixed is not None else None

    def now(self) -> dt.datetime:
        if self._fixed is not None:
            return self._fixed
        return dt.datetime.now(UTC).replace(microsecond=0)

    @property
    def is_fixed(self) -> bool:
        return self._fixed is not None

    def set(self, when: dt.datetime) -> None:
        self._fixed = as_utc(when)

    def advance(self, delta: dt.timedelta) -> None:
        self._fixed = self.now() + delta


def as_utc(value: dt.datetime) -> dt.datetime:
    """Return `value` as an aware UTC datetime; naive values are taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


# The instants a time given by a person may name. One near datetime's ends
# (0001, 9999) overflows when converted to UTC or moved by a window, a
# deadline or a report's period: a year of room is kept on either side.
# Times inside that are absurd are refused where they are used, with the
# reason (an event before its incident, a deadline in the past).
EARLIEST = dt.datetime(2, 1, 1, tzinfo=UTC)
LATEST = dt.datetime(9999, 1, 1, tzinfo=UTC)

# Zones in use lie between -12:00 and +14:00; ISO 8601 allows up to 23:59.
MAX_ZONE = dt.timedelta(hours=14)


def parse_instant(text: str) -> dt.datetime:
    """Parse an ISO 8601 instant that carries a zone or `Z`.

    Raises ValueError naming what is wrong when there is no zone, or when
    the time is out of range (see `in_range`); never OverflowError.
    """
    value = dt.datetime.fromisoformat(text.strip().replace("z", "Z"))
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone; add Z or an offset like +01:00")
    zone = value.utcoffset() or dt.timedelta()
    if abs(zone) > MAX_ZONE:
        raise ValueError(f"{text!r} has a zone offset beyond 14 hours")
    try:
        instant = value.astimezone(UTC)
    except OverflowError:
        instant = None
    return in_range(instant, text)


def in_range(instant: dt.datetime | None, text: str) -> dt.datetime:
    """`instant` (read from `text`; None when it overflowed) when from
    EARLIEST up to LATEST, else ValueError naming the range."""
    if instant is None or not EARLIEST <= instant < LATEST:
        raise ValueError(
            f"{text!r} is out of range; a time must lie between"
            " 0002-01-01 and 9998-12-31 in UTC"
        )
    return instant


def iso(value: dt.datetime | None) -> str | None:
    """Format an instant as INTERFACE.md writes times: YYYY-MM-DDTHH:MM:SSZ."""
    if value is None:
        return None
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


# A delivery's arrival time (IMAP INTERNALDATE, a Maildir file's name or
# modification time, a file's Date) is a server's or a file system's word,
# checked in the spirit of the Date header's: before 1990 (a clock reset,
# the epoch) or more than ARRIVAL_SLACK after mailbot saw the mail, it is
# implausible and yields to the time mailbot saw it, with a note.
EARLIEST_ARRIVAL = dt.datetime(1990, 1, 1, tzinfo=UTC)
ARRIVAL_SLACK = dt.timedelta(minutes=15)
ARRIVAL_NOTE = "arrival time implausible"


def plausible_arrival(
    arrived: dt.datetime, seen: dt.datetime
) -> tuple[dt.datetime, str | None]:
    """`arrived` when plausible for a mail mailbot saw at `seen`, else
    `seen`, with the note saying why (None when it stands)."""
    if arrived > seen + ARRIVAL_SLACK:
        why = f"after mailbot saw the mail ({iso(seen)})"
    elif arrived < EARLIEST_ARRIVAL:
        why = "before 1990"
    else:
        return arrived, None
    return seen, (
        f"{ARRIVAL_NOTE}: {iso(arrived)} is {why}; the time mailbot saw the"
        f" mail, {iso(seen)}, is used"
    )


def plausible_date(date: dt.datetime | None, arrived_at: dt.datetime) -> dt.datetime:
    """The Date header when plausible, else the arrival time (DOMAIN.md)."""
    if date is None:
        return arrived_at
    if date > arrived_at + dt.timedelta(minutes=15):
        return arrived_at
    if date < arrived_at - dt.timedelta(days=7):
        return arrived_at
    return date
