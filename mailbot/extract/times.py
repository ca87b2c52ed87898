"""Timestamps as reporters write them, converted to UTC.

A time carries its zone when the text states one (UTC, Z, CET, +01:00, an
IANA name); otherwise the zone stated for the whole part ("times are UTC")
or the site's zone applies. A missing date or year comes from the nearest
date in the line, the part, or the mail's Date (`reference`): a time without
a date is the latest such time not after the mail was written.

A line is read in two halves: where its times stand and which date and
zone each takes (timeplan.py, kept per shape of line here), then the values
under that plan, each made a UTC stamp (utc.py) with what the part says of
its times (partclock.py).
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from mailbot.extract.date_spellings import MON, date_of, refused
from mailbot.extract.hours import colons, hour_only_hint, hours_hint
from mailbot.extract.month_first import ordered
from mailbot.extract.partclock import PartClock
from mailbot.extract.shape import has_digit, keep_plan, shape
from mailbot.extract.timeplan import (
    TIME,
    TIME_OR_HOUR,
    Plan,
    Span,
    make_plan,
    zone_named,
)
from mailbot.extract.utc import utc_text
from mailbot.extract.zones import as_the_site_writes

# The part of the day that makes an hour PM: "p", "tonight", "de la tarde".
_AFTERNOON: Final = re.compile(
    r"[Pp]|.*(?:afternoon|evening|tonight|tarde|noche|noite|soir|après|sera|notte"
    r"|pomeriggio)"
).match
# Apache writes "04/Dec/2026:03:22:10": the colon after the year is a separator.
_APACHE_COLON: Final = re.compile(r"(/" + MON + r"/\d{4}):(?=\d{2}:\d{2}:\d{2})", re.I)


# What every such date holds, starting with the slash: most slashes (paths,
# URLs, DNs) fail at the next character, where _APACHE_COLON tries a dozen
# month words in either case.
_APACHE_HINT: Final = re.compile(r"/\d{4}:\d\d:\d\d:\d\d").search


def _apache_space(match: re.Match[str]) -> str:
    # A function, not the template r"\1 ": re parses a template in Python at
    # every call of sub, a match or not (a third of the time of a line with
    # a slash), and calls a function only for a match.
    return match.group(1) + " "


class Stamp(NamedTuple):
    """One timestamp found in a line, as UTC text (a tuple: made per time)."""

    value: str
    start: int
    end: int


def find_times(line: str, clock: PartClock, following: str = "") -> list[Stamp]:
    """Every timestamp in `line`, with its span, converted to UTC.

    `following` is the start of the next line: prose wraps "at 01:30" and
    "on 4 December 2026" onto two lines.
    """
    return times_in(line, clock, following)[0]


def may_write_times(text: str) -> bool:
    """False when no line of `text` writes a time of day (what `times_in` checks)."""
    return bool(_CLOCK_HINT(text) or hours_hint(text))


# How many lines' plans have been made since the process started: a reader
# of a part counts the ones its lines cost (see part._WASTED_PLANS).
_MADE: Final = [0]


def plans_made() -> int:
    """The count of line plans made so far (lines of a shape not seen before)."""
    return _MADE[0]


def times_in(
    line: str, clock: PartClock, following: str = ""
) -> tuple[list[Stamp], int]:
    """`find_times`, and how many times past the first 40 of the line were skipped."""
    # A time of day is a digit, a colon and two digits: most lines with a
    # colon have none, and need neither a plan nor a look for dates. A line
    # without one may write "22h10" or "klo 14.25" (a line with one is read
    # as it is: log lines, which are most lines, pay no more).
    clocked = True
    if ":" not in line or not _CLOCK_HINT(line):
        clocked = False
        if hours_hint(line):
            line = colons(line)
            clocked = _CLOCK_HINT(line) is not None
    alone = clock.hours and hour_only_hint(line) is not None
    if not clocked and not alone:
        return [], 0
    pattern = TIME_OR_HOUR if alone else TIME
    limit = len(line)
    if following:
        line = line + " " + following[:40]
    if "/" in line and _APACHE_HINT(line):
        line = _APACHE_COLON.sub(_apache_space, line)
    if len(line) > _PLANNED or not has_digit(line):
        _MADE[0] += 1
        plan, dates = make_plan(line, limit, pattern)
        return _stamps(line, plan, _dated(clock, plan), dates) or [], plan.skipped
    key = (shape(line), limit, alone)
    known = _PLANS.get(key)
    if known is not None:
        stamps = _stamps(line, known, _dated(clock, known))
        if stamps is not None:
            return stamps, known.skipped
        earlier = _EARLIER_PLANS.get(key)
        if earlier is not None:
            for index in range(len(earlier) - 1, -1, -1):
                kept = earlier[index]
                stamps = _stamps(line, kept, _dated(clock, kept))
                if stamps is not None:
                    # With one plan a shape this line's would have been made
                    # again: counted as made (part._WASTED_PLANS reads the
                    # count), and the latest plan, as it would have been.
                    _MADE[0] += 1
                    del earlier[index]
                    keep_plan(_PLANS, _EARLIER_PLANS, _PLANS_KEPT, key, kept)
                    return stamps, kept.skipped
    _MADE[0] += 1
    plan, dates = make_plan(line, limit, pattern)
    if plan.reusable:
        keep_plan(_PLANS, _EARLIER_PLANS, _PLANS_KEPT, key, plan)
    return _stamps(line, plan, _dated(clock, plan), dates) or [], plan.skipped


def _dated(clock: PartClock, plan: Plan) -> PartClock:
    # "this morning at 08:45": the mail's day, not the part's date.
    if clock.date is not None and plan.relative:
        return clock._replace(date=None)
    return clock


# As for the indicators (indicators.scan), a line's times are read in two
# halves: where its times and dates stand and which date and zone each time
# takes, which does not depend on the digits once it is known which dates
# are dates; and the values, which do. Lines that differ only in their digits
# share the first half.
_PLANNED: Final = 540
_PLANS_KEPT: Final = 4096
_PLANS: Final[dict[tuple[bytes, int, bool], Plan]] = {}
# See shape.keep_plan.
_EARLIER_PLANS: Final[dict[tuple[bytes, int, bool], list[Plan]]] = {}
_CLOCK_HINT: Final = re.compile(r"\d:\d\d").search


def _text(line: str, span: Span) -> str | None:
    return None if span[0] < 0 else line[span[0] : span[1]]


def _stamps(
    line: str, plan: Plan, clock: PartClock, ymds: list | None = None
) -> list[Stamp] | None:
    """The stamps that `plan` reads in `line`; None if a date decides otherwise.

    `ymds`: the dates of the plan's candidates when the plan was just made
    from `line` itself.
    """
    if ymds is None:
        ymds = []
        for (name, spans), valid in zip(plan.dates, plan.valid, strict=True):
            ymd = date_of(name, tuple([line[a:b] for a, b in spans]))
            if (ymd is not None) != valid:
                return None
            ymds.append(ymd)
    stamps = []
    for run in plan.runs:
        hour, minute, second, ampm = run.clock
        hms = _hms(
            line[hour[0] : hour[1]],
            line[minute[0] : minute[1]],
            _text(line, second),
            _text(line, ampm),
        )
        if hms is None:
            continue
        zone = None
        if run.zone_from is not None:
            zone = _zone_text(line, plan.runs[run.zone_from].zone)
        date = None
        if run.date is not None and ymds[run.date] is not None:
            name, spans = plan.dates[run.date]
            date = ymds[run.date]
            if name in ("dmy", "dmy2"):
                # The separator stands after the first number.
                twelve_hour = ampm[0] >= 0
                separator = line[spans[0][1]]
                date = ordered(
                    date, separator, clock.order, twelve_hour, clock.reference
                )
        if date is None and zone is None and not run.bare:
            continue
        if date is None and _unread_date(line, plan, run.end + 60) or refused(date):
            # A date the line writes and that is no date ("2026-02-30"), or
            # that is not read ("15 Juuli 2026"): the time is not of the
            # mail's or the part's day.
            continue
        if zone == "local":
            zone = clock.local or clock.zone
        elif zone is not None and clock.local:
            zone = as_the_site_writes(zone, clock.local)
        text = utc_text(date, hms, zone or clock.zone, clock)
        if text is not None:
            # tuple.__new__: the named tuple's own __new__ is a Python frame.
            stamps.append(tuple.__new__(Stamp, (text, run.start, run.end)))
    return stamps


# What a date with a month name looks like, whatever the language: a day, a
# word and a year ("15 Juuli 2026", "15. lipca 2026"), a word, a day and a
# year ("Juuli 15, 2026"), or a year, a word and a day ("2026. július 15.").
# Read around the years only ("seq 1922" in a tcpdump record is no date).
_YEAR: Final = re.compile(r"(?:19|20)(?<![\w.,:/+-]..)\d\d(?![\w:/-]|[.,]\d)")
_BEFORE_YEAR: Final = re.compile(
    r"(?<![\w.])(?:\d{1,2}\.?[ \t]+(?:de[ \t]+)?[^\W\d_]{3,}\.?,?[ \t]+(?:de[ \t]+)?"
    r"|[^\W\d_]{3,}\.?[ \t]+\d{1,2}\.?,?[ \t]+)\Z"
)
_AFTER_YEAR: Final = re.compile(r"\.?[ \t]+[^\W\d_]{3,}\.?[ \t]+\d{1,2}(?!\d)")


def _unread_date(line: str, plan: Plan, stop: int) -> bool:
    """Whether `line` writes a date that is not read as one: an impossible
    date ("2026-02-30"), or what looks like a date with a month name outside
    every date read, before `stop` (`make_plan` reads dates up to 60 characters
    past the last time)."""
    if not all(plan.valid):
        return True
    if not _YEAR_HINT(line, 0, stop):
        return False
    read = [span for _, spans in plan.dates for span in spans]
    for year in _YEAR.finditer(line, 0, stop):
        if any(a <= year.start() < b for a, b in read):
            continue
        if _AFTER_YEAR.match(line, year.end()) or _BEFORE_YEAR.search(
            line[max(0, year.start() - 30) : year.start()]
        ):
            return True
    return False


_YEAR_HINT: Final = re.compile(r"\d\d\d\d").search


def _hms(
    hour: str, minute: str, second: str | None, ampm: str | None
) -> tuple[int, int, int] | None:
    h, m, s = int(hour), int(minute or 0), int(second or 0)
    if ampm:
        # "p" of PM, or the part of the day: "tonight", "de la tarde".
        h = h % 12 + (12 if _AFTERNOON(ampm) else 0)
    if h > 23 or m > 59 or s > 59:
        return None
    return h, m, s


def _zone_text(line: str, spans: tuple[Span, Span, Span]) -> str | None:
    zone, shift, offset = spans
    return zone_named(_text(line, zone), _text(line, shift), _text(line, offset))
