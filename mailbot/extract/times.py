"""Timestamps as reporters write them, converted to UTC.

A time carries its zone when the text states one (UTC, Z, CET, +01:00, an
IANA name); otherwise the zone stated for the whole part ("times are UTC")
or the site's zone applies. A missing date or year comes from the nearest
date in the line, the part, or the mail's Date (`reference`): a time without
a date is the latest such time not after the mail was written.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import re
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "mär": 3, "apr": 4, "may": 5, "mai": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "okt": 10, "nov": 11, "dec": 12,
    "dez": 12, "déc": 12, "dic": 12,
}  # fmt: skip
_MON = r"(?:jan|feb|m[aä]r|apr|ma[iy]|jun|jul|aug|sep|o[ck]t|nov|d[eé][cz]|dic)[a-zé]*"
_ABBREVIATIONS = {
    "Z": 0, "UTC": 0, "GMT": 0, "WET": 0, "WEST": 60, "BST": 60, "CET": 60,
    "MEZ": 60, "CEST": 120, "MESZ": 120, "EET": 120, "EEST": 180, "MSK": 180,
    "EST": -300, "EDT": -240, "CST": -360, "CDT": -300, "MST": -420,
    "MDT": -360, "PST": -480, "PDT": -420, "JST": 540,
}  # fmt: skip
_ZONE = (
    r"(?:[ \t]*(?:Uhr|h)?[ \t]*\(?[ \t]*(?P<zone>UTC|GMT|CEST|CET|MESZ|MEZ|EEST|EET"
    r"|WEST|WET|BST|EDT|EST|CDT|CST|MDT|MST|PDT|PST|JST|MSK"
    r"|[A-Z][a-z]+/[A-Z][A-Za-z_]+(?:/[A-Z][A-Za-z_]+)?|local[ \t]+time)"
    r"(?P<shift>[+-]\d{1,2}(?::?\d{2})?)?\)?|(?P<offset>Z|[ \t]?[+-]\d{2}:?\d{2}))?"
)
# The look-behind stands after the first digit so that the regex engine can
# skip to digits instead of trying every position of a line.
_TIME = re.compile(
    r"(?P<h>\d(?<![\d:.]\d)\d?):(?P<m>\d{2})(?::(?P<s>\d{2}))?(?:[.,]\d{1,9})?"
    r"(?![\d:])(?:[ \t]*(?P<ampm>[AaPp])\.?[Mm]\b\.?)?" + _ZONE
)
_D, _Y = r"(\d{1,2})", r"(\d{4})"
_DATES = (
    # The look-behinds stand after the first digit: see _TIME.
    ("ymd", re.compile(r"(\d(?<![\d.]\d)\d{3})-(\d{1,2})-(\d{1,2})(?![\d])")),
    (
        "dmy",
        re.compile(r"(\d(?<![\d.]\d)\d?)[./]" + _D + r"[./]" + _Y + r"(?![\d.])"),
    ),
    (
        "dMy",
        re.compile(
            r"(?<![\d\w])" + _D + r"\.?[ \t]+(" + _MON + r")\.?,?[ \t]+" + _Y + r"\b",
            re.I,
        ),
    ),
    (
        "Mdy",
        re.compile(
            r"\b("
            + _MON
            + r")\.?[ \t]+"
            + _D
            + r"(?:st|nd|rd|th)?,?[ \t]+"
            + _Y
            + r"\b",
            re.I,
        ),
    ),
    (
        "apache",
        re.compile(r"\b" + _D + r"/(" + _MON + r")/" + _Y + r":(?=\d{2}:\d{2})", re.I),
    ),
    (
        "syslog",
        re.compile(
            r"(?<![\w])("
            + _MON
            + r")[ \t]{1,2}"
            + _D
            + r"[ \t]+(?=\d{1,2}:\d{2}:\d{2})",
            re.I,
        ),
    ),
)
# The dates with a month name, in one pass: each alternative renumbers its
# groups, so the group names say which spelling matched.
_NAMED_GROUPS = {
    name: tuple(f"{name}_{n}" for n in range(1, pattern.groups + 1))
    for name, pattern in _DATES[2:]
}


def _renamed(name: str, pattern: str) -> str:
    names = iter(_NAMED_GROUPS[name])
    body = re.sub(r"\((?!\?)", lambda _: f"(?P<{next(names)}>", pattern)
    return f"(?P<{name}>{body})"


_NAMED = re.compile(
    "|".join(_renamed(name, pattern.pattern) for name, pattern in _DATES[2:]),
    re.IGNORECASE,
)
# The start of a month name (the spellings of _MON, in any case). The first
# letter is a class without IGNORECASE, so that the regex engine skips to
# those letters; the class holds what IGNORECASE would match (ſ is an s).
_MONTH_WORD = re.compile(
    r"[jJfFmMaAsSſoOnNdD](?<!\w.)(?i:(?<=j)(?:an|un|ul)|(?<=f)eb"
    r"|(?<=m)(?:[aä]r|a[iy])|(?<=a)(?:pr|ug)|(?<=s)ep|(?<=o)[ck]t|(?<=n)ov"
    r"|(?<=d)(?:[eé][cz]|ic))"
)
_JOIN_BEFORE = re.compile(
    r"\A[ \t,T]*(?:at|um|à|a[ \t]+las|kl\.?|alle(?:[ \t]+ore)?|o|om|,)?[ \t,]*\Z", re.I
)
_JOIN_AFTER = re.compile(r"\A[ \t,]*(?:on|am|le|el|il|op|den)?[ \t,]*\Z", re.I)
_SHARED_ZONE = re.compile(r"\A[ \t]*(?:and|und|et|y|e|to|till|until|bis|-|–)[ \t]*\Z")
_PREPOSITION = re.compile(
    r"(?:\b(?:at|um|à|las|kl\.?|ore|o|om|since|from|between|and|until|till|to|by"
    r"|seit|ab|bis|vers|desde|dalle|alle)|@|\()[ \t]*\Z",
    re.I,
)
MAX_TIMES = 40
# Apache writes "04/Dec/2026:03:22:10": the colon after the year is a separator.
_APACHE_COLON = re.compile(r"(/" + _MON + r"/\d{4}):(?=\d{2}:\d{2}:\d{2})", re.I)
# "(all) times are UTC": only where the match ends and the zone are used, so
# the optional "all" is left out, and the word boundary is a look-behind after
# the "t" so that the regex engine can skip to the letter t.
_PART_ZONE = re.compile(
    r"t(?<!\w.)imes?[ \t]+(?:above[ \t]+|below[ \t]+)?"
    r"(?:are|is|in|shown[ \t]+in|given[ \t]+in)[ \t]+(?:in[ \t]+)?("
    + "|".join(sorted((z.lower() for z in _ABBREVIATIONS if z != "Z"), key=len)[::-1])
    + r")\b"
)


class Stamp(NamedTuple):
    """One timestamp found in a line, as UTC text (a tuple: made per time)."""

    value: str
    start: int
    end: int


class PartClock(NamedTuple):
    """What a part says about its times as a whole, and the mail's defaults.

    A named tuple: it is part of the key of the line caches, and a tuple
    hashes in C where a frozen dataclass calls Python at every look-up.
    """

    zone: str
    reference: dt.datetime | None
    date: dt.date | None = None


def part_clock(text: str, zone: str, reference: dt.datetime | None) -> PartClock:
    """The zone (and date) that a note such as "(times are UTC, 2026-12-04)" sets."""
    match = _PART_ZONE.search(text.lower()) if "time" in text.lower() else None
    if match is None:
        return PartClock(zone, reference)
    date = None
    window = text[match.end() : match.end() + 30]
    found = _DATES[0][1].search(window)
    if found:
        date = _safe_date(int(found[1]), int(found[2]), int(found[3]))
    return PartClock(match.group(1).upper(), reference, date)


def find_times(line: str, clock: PartClock, following: str = "") -> list[Stamp]:
    """Every timestamp in `line`, with its span, converted to UTC.

    `following` is the start of the next line: prose wraps "at 01:30" and
    "on 4 December 2026" onto two lines.
    """
    return times_in(line, clock, following)[0]


def times_in(
    line: str, clock: PartClock, following: str = ""
) -> tuple[list[Stamp], int]:
    """`find_times`, and how many times past the first 40 of the line were skipped."""
    if ":" not in line:
        return [], 0
    limit = len(line)
    if following:
        line = line + " " + following[:40]
    if "/" in line:
        line = _APACHE_COLON.sub(r"\1 ", line)
    times, skipped = _clock_times(line, limit)
    if not times:
        return [], skipped
    # A date joins a time when it stands before it or up to 20 characters
    # after it: the rest of a long line need not be read for dates.
    stop = line.find(" ", times[-1].end() + 60)
    dates = _Dates(_dates(line if stop < 0 else line[:stop]))
    stamps = []
    for index, match in enumerate(times):
        text = _stamp(line, match, times[index + 1 : index + 4], dates, clock)
        if text is not None:
            before = dates.before(match.start())
            start = match.start()
            if before is not None and start - before[1] <= 12:
                start = before[0]
            stamps.append(Stamp(text, start, match.end()))
    return stamps, skipped


def _clock_times(line: str, limit: int) -> tuple[list[re.Match[str]], int]:
    times: list[re.Match[str]] = []
    skipped = 0
    for match in _TIME.finditer(line):
        if match.start() >= limit:
            break
        # A line with this many times is a dump, not a log: count, not read.
        if len(times) >= MAX_TIMES:
            skipped += 1
        else:
            times.append(match)
    return times, skipped


class _Dates:
    """The dates of a line, sorted, with quick look-ups around a position."""

    def __init__(self, found: list[tuple[int, int, tuple[int | None, int, int]]]):
        self.found = found
        self.starts = [item[0] for item in found]
        self.ends = [item[1] for item in found]

    def before(self, position: int):
        index = bisect.bisect_right(self.ends, position) - 1
        return self.found[index] if index >= 0 else None

    def after(self, position: int):
        index = bisect.bisect_left(self.starts, position)
        return self.found[index] if index < len(self.found) else None


def _dates(line: str) -> list[tuple[int, int, tuple[int | None, int, int]]]:
    found = []
    if "-" in line:
        found += _found("ymd", _DATES[0][1], line)
    if "." in line or "/" in line:
        found += _found("dmy", _DATES[1][1], line)
    found += _named_dates(line)
    found.sort()
    return found


def _named_dates(line: str):
    """Dates with a month name, read only around the month names of `line`.

    The patterns are costly to try at every position of a line; a month name
    starts a word, and each spelling stands within a few characters of it.
    """
    end = -1
    for month in _MONTH_WORD.finditer(line):
        if month.start() < end:
            continue
        start = max(0, month.start() - 8)
        stop = line.find(" ", month.start() + 40)
        window = line[start : len(line) if stop < 0 else stop]
        for match in _NAMED.finditer(window):
            if start + match.end() <= month.start():
                continue
            name = match.lastgroup or ""
            ymd = _ymd(name, match.group(*_NAMED_GROUPS[name]))
            if ymd is not None:
                end = start + match.end()
                yield start + match.start(), end, ymd
            break


def _found(name: str, pattern: re.Pattern[str], line: str):
    for match in pattern.finditer(line):
        ymd = _ymd(name, match.groups())
        if ymd is not None:
            yield match.start(), match.end(), ymd


def _ymd(name: str, groups: tuple[str, ...]) -> tuple[int | None, int, int] | None:
    if name == "ymd":
        year, month, day = int(groups[0]), int(groups[1]), int(groups[2])
    elif name == "dmy":
        day, month, year = int(groups[0]), int(groups[1]), int(groups[2])
        if month > 12 >= day:
            day, month = month, day
    elif name in ("dMy", "apache"):
        day, month, year = int(groups[0]), _month(groups[1]), int(groups[2])
    elif name == "Mdy":
        month, day, year = _month(groups[0]), int(groups[1]), int(groups[2])
    else:
        month, day, year = _month(groups[0]), int(groups[1]), None
    if not month or _safe_date(year or 2000, month, day) is None:
        return None
    return year, month, day


def _month(text: str) -> int:
    return _MONTHS.get(text[:3].lower(), 0)


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _stamp(line, match, later, dates, clock: PartClock) -> str | None:
    hour, minute = int(match["h"]), int(match["m"])
    second = int(match["s"] or 0)
    if match["ampm"]:
        hour = hour % 12 + (12 if match["ampm"].lower() == "p" else 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    zone = _zone_of(match) or _shared_zone(line, match, later)
    date = _date_for(line, match, dates)
    if date is None and zone is None and not _plausible_bare(line, match):
        return None
    return _utc_text(date, (hour, minute, second), zone or clock.zone, clock)


@functools.lru_cache(maxsize=4096)
def _utc_text(date, hms: tuple[int, int, int], zone: str, clock: PartClock):
    """The UTC text of a time of day on `date` (or the mail's) in `zone`."""
    tz = _tzinfo(zone)
    if tz is None:
        return None
    when = _complete(date, dt.time(*hms), tz, clock)
    if when is None:
        return None
    try:
        when = when.astimezone(dt.UTC)
    except OverflowError:
        return None  # "9999-12-31 23:59 -0500" is in no year Python counts
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _zone_of(match: re.Match[str]) -> str | None:
    if match["offset"]:
        return match["offset"].strip()
    zone = match["zone"]
    if zone is None or zone.lower().startswith("local"):
        return None
    return zone + (match["shift"] or "")


def _shared_zone(line: str, match: re.Match[str], later) -> str | None:
    # "between 06:00 and 06:45 UTC": the zone written once covers both times.
    previous = match
    for other in later:
        if other.start() - previous.end() > 20:
            return None
        if not _SHARED_ZONE.match(line[previous.end() : other.start()]):
            return None
        zone = _zone_of(other)
        if zone:
            return zone
        previous = other
    return None


def _date_for(line, match, dates: _Dates) -> tuple[int | None, int, int] | None:
    before = dates.before(match.start())
    near = before is not None and match.start() - before[1] < 20
    if near and _JOIN_BEFORE.match(line[before[1] : match.start()]):
        return before[2]
    after = dates.after(match.end())
    near = after is not None and after[0] - match.end() < 20
    if near and _JOIN_AFTER.match(line[match.end() : after[0]]):
        return after[2]
    return before[2] if before else None


def _plausible_bare(line: str, match: re.Match[str]) -> bool:
    """A time without date or zone counts only after "at", "um"... or as a log stamp."""
    if _PREPOSITION.search(line[max(0, match.start() - 12) : match.start()]):
        return True
    lead = line[: match.start()].strip()
    if match.start() < 8 and lead in ("[", "(") and line[match.end() :][:1] in "])":
        return True  # a chat or log stamp: "[09:12] anna: ..."
    return match["s"] is not None and match.start() < 8 and not lead


@functools.lru_cache(maxsize=256)
def _tzinfo(zone: str) -> dt.tzinfo | None:
    upper = zone.upper()
    base = re.match(r"[A-Za-z_/]+", zone)
    if base and base.group(0).upper() in _ABBREVIATIONS:
        minutes = _ABBREVIATIONS[base.group(0).upper()]
        minutes += _offset_minutes(zone[base.end() :]) if base.end() < len(zone) else 0
        return _fixed(minutes)
    if upper[:1] in "+-":
        return _fixed(_offset_minutes(zone))
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _fixed(minutes: int) -> dt.tzinfo | None:
    # "+9959" or "UTC+77" is no zone: an offset is less than a day.
    if abs(minutes) >= 24 * 60:
        return None
    return dt.timezone(dt.timedelta(minutes=minutes))


def _offset_minutes(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    digits = text[1:].replace(":", "")
    hours = int(digits[:2] if len(digits) > 2 else digits)
    minutes = int(digits[2:4]) if len(digits) > 2 else 0
    return sign * (hours * 60 + minutes)


def _complete(date, clock_time, tz, clock: PartClock) -> dt.datetime | None:
    reference = clock.reference
    if date is None and clock.date is not None:
        date = (clock.date.year, clock.date.month, clock.date.day)
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
    local = reference.astimezone(tz)
    if date is not None:
        return _syslog_year(date[1], date[2], clock_time, tz, local.year, reference)
    when = dt.datetime.combine(local.date(), clock_time, tzinfo=tz)
    if when > reference + dt.timedelta(minutes=15):
        when -= dt.timedelta(days=1)
    return when


def _syslog_year(month, day, clock_time, tz, year: int, reference: dt.datetime):
    """A syslog date in the latest year that does not put it after the mail.

    February 29 goes back to the last leap year.
    """
    for back in range(9):
        date = _safe_date(year - back, month, day)
        if date is None:
            continue
        when = dt.datetime.combine(date, clock_time, tzinfo=tz)
        if when <= reference + dt.timedelta(days=2):
            return when
    return None
