"""Timestamps as reporters write them, converted to UTC.

A time carries its zone when the text states one (UTC, Z, CET, +01:00, an
IANA name); otherwise the zone stated for the whole part ("times are UTC")
or the site's zone applies. A missing date or year comes from the nearest
date in the line, the part, or the mail's Date (`reference`): a time without
a date is the latest such time not after the mail was written.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Final, NamedTuple

from mailbot.extract.dates import (
    DATES,
    EARLIEST_YEAR,
    MON,
    Dates,
    date_of,
    date_order,
    find_dates,
    only_date,
    ordered,
    refused,
    safe_date,
)
from mailbot.extract.hours import DAY_PART, colons, hour_only_hint, hours_hint
from mailbot.extract.shape import has_digit, keep_plan, shape
from mailbot.extract.zones import (
    PART_ZONE,
    ZONE_NAMES,
    as_the_site_writes,
    tzinfo,
    zone_before,
)

# The runs of blanks are possessive ("*+"): what follows each cannot start
# with a blank, so giving blanks back to the next run finds nothing new, and
# a time without a zone (most of them) fails its zone once, not three times.
_ZONE: Final = (
    r"(?:[ \t]*+(?:Uhr|h)?[ \t]*+\(?[ \t]*+(?P<zone>"
    + ZONE_NAMES
    + r"|local[ \t]+time)(?P<shift>[+-]\d{1,2}(?::?\d{2})?)?\)?"
    r"|(?P<offset>Z|[ \t]?[+-]\d{2}:?\d{2}))?"
)


def _time_pattern(alone: str = "") -> re.Pattern[str]:
    # The look-behind stands after the first digit so that the regex engine
    # can skip to digits instead of trying every position of a line.
    return re.compile(
        r"(?P<h>\d(?<![\d:.]\d)\d?)(?::(?P<m>\d{2})(?::(?P<s>\d{2}))?(?:[.,]\d{1,9})?"
        r"(?![\d:])" + alone + r")(?:[ \t]*+(?P<ampm>[AaPp])\.?[Mm]\b\.?)?" + _ZONE
    )


# An hour may go without its minutes when AM/PM, "h" or the part of the day
# follows ("10pm", "22h", "at 9 this morning"; `_hour_only` says when). The
# pattern that reads those is used on the lines `hour_only_hint` lets
# through in the parts it finds one in; the other lines pay nothing for it.
_TIME: Final = _time_pattern()
_TIME_OR_HOUR: Final = _time_pattern(
    r"|(?=[ \t]?[AaPp]\.?[Mm]\b)|h(?![\w:])|(?=[ \t]+(?P<part>" + DAY_PART + "))"
)
# The words before an hour without minutes and without AM/PM ("à 22h", "às
# 8h", "a las 9 de la mañana", "la ora 22h"): "for 2h", "about 2h" are
# durations.
_HOUR_AT: Final = re.compile(
    r"\b(?:at|um|gegen|à|às|vers|las|alle|ore|om|v|ve|la|ora|klo|kl\.?)[ \t]*\Z", re.I
)
_AFTERNOON: Final = re.compile(
    r"[Pp]|.*(?:afternoon|evening|tonight|tarde|noche|noite|soir|après|sera|notte"
    r"|pomeriggio)"
).match
_JOIN_BEFORE: Final = re.compile(
    r"\A[ \t,T]*(?:at|um|à|a[ \t]+las|kl\.?|klo|alle(?:[ \t]+ore)?|o|om|v|ve|,)?"
    r"[ \t,]*\Z",
    re.I,
)
_JOIN_AFTER: Final = re.compile(r"\A[ \t,]*(?:on|am|le|el|il|op|den)?[ \t,]*\Z", re.I)
_SHARED_ZONE: Final = re.compile(
    r"\A[ \t]*(?:and|und|et|y|e|to|till|until|bis|-|–)[ \t]*\Z"
)
_PREPOSITION: Final = re.compile(
    r"(?:\b(?:at|um|à|las|kl\.?|klo|ore|o|om|since|from|between|and|until|till|to"
    r"|by|seit|ab|bis|vers|desde|dalle|alle|às|v|ve|la|ora)|@|\()[ \t]*\Z",
    re.I,
)
MAX_TIMES: Final = 40
_GRACE: Final = dt.timedelta(days=1)
# Words that place a time relative to the mail, not to the part's date.
_RELATIVE_DAY: Final = re.compile(
    r"\b(?:today|this[ \t]+(?:morning|afternoon|evening)|tonight|last[ \t]+night"
    r"|yesterday|heute|gestern|aujourd'hui|ce[ \t]+matin|cet[ \t]+après-midi|hier"
    r"|hoy|ayer|esta[ \t]+mañana|hoje|ontem|oggi|ieri|stamattina|vandaag|gisteren"
    r"|vanochtend|idag|igår|dzisiaj|dziś|wczoraj|tänään|eilen|dnes|včera"
    r"|azi|astăzi|aseară)\b"
).search
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


class PartClock(NamedTuple):
    """What a part says about its times as a whole, and the mail's defaults.

    A named tuple: it is part of the key of the line caches, and a tuple
    hashes in C where a frozen dataclass calls Python at every look-up.
    """

    zone: str
    reference: dt.datetime | None
    date: dt.date | None = None
    order: str = ""  # of "4/12/2026": "md", "dm", "zmd", "zdm" or "" (dates.date_order)
    local: str = ""  # the site's zone, for "local time" ("" : `zone`)
    # Whether the part may write an hour alone ("10pm", "22h"): only then
    # are its lines searched for one (`hours.hour_only_hint` over the part).
    hours: bool = True


def part_clock(text: str, zone: str, reference: dt.datetime | None) -> PartClock:
    """What the part says of its times as a whole.

    The zone and date of a note such as "(times are UTC, 2026-12-04)"; else
    the only date the part writes, when it is not after the mail ("El 4 de
    diciembre ... a las 02:40 ... aislado a las 03:10": the same day); the
    order of its numeric dates (`dates.date_order`).
    """
    lowered = text.lower()
    match = PART_ZONE.search(lowered) if "time" in lowered else None
    order = date_order(text, zone)
    date = only_date(text, reference, order)
    if match is None:
        return PartClock(zone, reference, date, order, zone)
    window = text[match.end() : match.end() + 30]
    found = DATES[0][1].search(window)
    if found and int(found[1]) >= EARLIEST_YEAR:
        date = safe_date(int(found[1]), int(found[2]), int(found[3]))
    return PartClock(match.group(1).upper(), reference, date, order, zone)


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
    pattern = _TIME_OR_HOUR if alone else _TIME
    limit = len(line)
    if following:
        line = line + " " + following[:40]
    if "/" in line and _APACHE_HINT(line):
        line = _APACHE_COLON.sub(_apache_space, line)
    if len(line) > _PLANNED or not has_digit(line):
        _MADE[0] += 1
        plan, dates = _plan(line, limit, pattern)
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
    plan, dates = _plan(line, limit, pattern)
    if plan.reusable:
        keep_plan(_PLANS, _EARLIER_PLANS, _PLANS_KEPT, key, plan)
    return _stamps(line, plan, _dated(clock, plan), dates) or [], plan.skipped


def _dated(clock: PartClock, plan: _Plan) -> PartClock:
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
Span = tuple[int, int]  # (-1, -1): the group took no part


class _Run(NamedTuple):
    """One time of day in a line, and where its date and zone come from."""

    start: int  # with the date written just before it
    end: int
    clock: tuple[Span, Span, Span, Span]  # hour, minute, second, am/pm
    zone: tuple[Span, Span, Span]  # zone, shift, offset as written here
    zone_from: int | None  # the run whose zone applies: itself or a later one
    date: int | None  # the date candidate that applies
    bare: bool  # plausible without date or zone ("at 10:00", a log stamp)


class _Plan(NamedTuple):
    dates: list[tuple[str, tuple[tuple[int, int], ...]]]  # date candidates
    valid: list[bool]  # which candidates are dates
    runs: list[_Run]
    skipped: int
    reusable: bool  # False when the order of two dates hung on their digits
    # Whether the line's words place its times relative to the mail
    # (_RELATIVE_DAY: no digit in them, so a shape has the answer of its lines).
    relative: bool


_PLANS: Final[dict[tuple[bytes, int, bool], _Plan]] = {}
# See shape.keep_plan.
_EARLIER_PLANS: Final[dict[tuple[bytes, int, bool], list[_Plan]]] = {}
_CLOCK_HINT: Final = re.compile(r"\d:\d\d").search
# The numbers of the groups of a time's clock and of its zone, per pattern.
_GROUPS: Final = {
    pattern: tuple(
        tuple(pattern.groupindex[name] for name in names)
        for names in (("h", "m", "s", "ampm"), ("zone", "shift", "offset"))
    )
    for pattern in (_TIME, _TIME_OR_HOUR)
}


def _plan(line: str, limit: int, pattern: re.Pattern[str]) -> tuple[_Plan, list]:
    """The plan of `line`, and the date of each of its date candidates."""
    times, skipped = _clock_times(line, limit, pattern)
    if not times:
        return _Plan([], [], [], skipped, True, False), []
    # A date joins a time when it stands before it or up to 20 characters
    # after it: the rest of a long line need not be read for dates.
    stop = line.find(" ", times[-1].end() + 60)
    candidates, valid, found = find_dates(line if stop < 0 else line[:stop])
    dates = Dates(found)
    runs = []
    clock_groups, zone_groups = _GROUPS[pattern]
    for index, match in enumerate(times):
        zone = _spans(match, zone_groups)
        own = _zone_of(match) is not None
        later = times[index + 1 : index + 4]
        shared = None if own else _shared_zone(line, match, later)
        before = dates.before(match.start())
        start = match.start()
        if before is not None and start - before[1] <= 12:
            start = before[0]
        if not own and shared is None:
            prior = zone_before(line, start)
            if prior is not None:
                own, zone = True, (prior, (-1, -1), (-1, -1))
        runs.append(
            _Run(
                start,
                match.end(),
                _clock_spans(match, clock_groups),
                zone,
                index if own else None if shared is None else index + 1 + shared,
                _date_for(line, match, dates),
                _plausible_bare(line, match),
            )
        )
        if (index and _is_duration(line, times[index - 1], match)) or _lasted(
            line, match
        ):
            # No date, zone or plausibility: the stamps skip it.
            runs[-1] = runs[-1]._replace(zone_from=None, date=None, bare=False)
    ends = [(item[0], item[1]) for item in found]
    # The line itself: the apache colon, written as a space, is no word.
    relative = _RELATIVE_DAY(line[:limit].lower()) is not None
    plan = _Plan(
        candidates, valid, runs, skipped, len(set(ends)) == len(ends), relative
    )
    ymds: list = [None] * len(candidates)
    for item in found:
        ymds[item[3]] = item[2]
    return plan, ymds


def _clock_spans(match: re.Match[str], groups) -> tuple[Span, Span, Span, Span]:
    hour, minute, second, ampm = _spans(match, groups)
    if ampm[0] < 0 and match.re is _TIME_OR_HOUR and match["part"]:
        ampm = match.span("part")  # "at 9 this morning": the part is its AM/PM
    return hour, minute, second, ampm


def _is_duration(line: str, previous: re.Match[str], match: re.Match[str]) -> bool:
    # `last` writes "02:11 - 02:47  (00:36)": a time in brackets right after
    # another time is how long it lasted.
    gap = line[previous.end() : match.start()]
    return gap.strip(" \t") == "(" and line[match.end() : match.end() + 1] == ")"


# "pendant 2h30", "during 1:45", "durante 2h30", "2h30 of downtime": how
# long something lasted, not when. After "for" or "für" ("scheduled for
# 14:00") only an hour of one digit is a duration ("down for 2h30").
_DURING: Final = re.compile(
    r"(?:\b(?:during|pendant|durant|durante|gedurende|przez|po[ \t]+dobu)"
    r"|(?<![\w-])(?P<weak>for|für))"
    r"(?:[ \t]+(?:about|approx\.?|approximately|environ|env\.|circa|ca\.|etwa"
    r"|unos|cerca[ \t]+de|około|ongeveer))?[ \t]+\Z",
    re.I,
)
_OF_DOWNTIME: Final = re.compile(
    r"[ \t]*(?:hours?|hrs?|Stunden|timmar|godzin\w*|tuntia"
    r"|hodin\w*|(?:of|de|d'|di|an)[ \t]*(?:downtime|outage|coupure|interruption"
    r"|panne|indisponibilit\w*|Ausfall|caída|interrupci[oó]n|interruzione))\b",
    re.I,
)


def _lasted(line: str, match: re.Match[str]) -> bool:
    """Whether the time `match` is a duration by the words around it."""
    if match["zone"] or match["offset"] or match["ampm"]:
        return False  # "during 10:00 UTC" and "for 2:30 PM" are times of day
    if _OF_DOWNTIME.match(line, match.end()):
        return True
    during = _DURING.search(line[max(0, match.start() - 30) : match.start()])
    return during is not None and (not during["weak"] or len(match["h"]) == 1)


def _spans(match: re.Match[str], groups: tuple[int, ...]) -> tuple:
    # (-1, -1) for a group that took no part: none of them matches empty.
    regs = match.regs
    return tuple([regs[group] for group in groups])


def _text(line: str, span: Span) -> str | None:
    return None if span[0] < 0 else line[span[0] : span[1]]


def _stamps(
    line: str, plan: _Plan, clock: PartClock, ymds: list | None = None
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
        text = _utc_text(date, hms, zone or clock.zone, clock)
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


def _unread_date(line: str, plan: _Plan, stop: int) -> bool:
    """Whether `line` writes a date that is not read as one: an impossible
    date ("2026-02-30"), or what looks like a date with a month name outside
    every date read, before `stop` (`_plan` reads dates up to 60 characters
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


def _clock_times(
    line: str, limit: int, pattern: re.Pattern[str]
) -> tuple[list[re.Match[str]], int]:
    times: list[re.Match[str]] = []
    skipped = 0
    for match in pattern.finditer(line):
        if match.start() >= limit:
            break
        if match["m"] is None and not _hour_only(line, match):
            continue
        # A line with this many times is a dump, not a log: count, not read.
        if len(times) >= MAX_TIMES:
            skipped += 1
        else:
            times.append(match)
    return times, skipped


@functools.lru_cache(maxsize=4096)
def _utc_text(
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


def _zone_of(match: re.Match[str]) -> str | None:
    return _zone_named(match["zone"], match["shift"], match["offset"])


def _zone_text(line: str, spans: tuple[Span, Span, Span]) -> str | None:
    zone, shift, offset = spans
    return _zone_named(_text(line, zone), _text(line, shift), _text(line, offset))


def _zone_named(zone: str | None, shift: str | None, offset: str | None):
    if offset:
        return offset.strip()
    if zone is None:
        return None
    if zone.lower().startswith("local"):
        return "local"  # the site's zone, even where the part names another
    return zone + (shift or "")


def _shared_zone(line: str, match: re.Match[str], later) -> int | None:
    """Which of the `later` times writes the zone that `match` shares, if any.

    "between 06:00 and 06:45 UTC": the zone written once covers both times.
    """
    previous = match
    for index, other in enumerate(later):
        if other.start() - previous.end() > 20:
            return None
        if not _SHARED_ZONE.match(line[previous.end() : other.start()]):
            return None
        if _zone_of(other):
            return index
        previous = other
    return None


def _date_for(line, match, dates: Dates) -> int | None:
    """The candidate index of the date that the time `match` takes, if any."""
    before = dates.before(match.start())
    near = before is not None and match.start() - before[1] < 20
    if near and _JOIN_BEFORE.match(line[before[1] : match.start()]):
        return before[3]
    after = dates.after(match.end())
    near = after is not None and after[0] - match.end() < 20
    if near and _JOIN_AFTER.match(line[match.end() : after[0]]):
        return after[3]
    return before[3] if before else None


def _hour_only(line: str, match: re.Match[str]) -> bool:
    """Whether an hour without minutes is a time: with AM/PM, or after "at"."""
    if match["ampm"]:
        return True
    return _HOUR_AT.search(line, max(0, match.start() - 12), match.start()) is not None


def _plausible_bare(line: str, match: re.Match[str]) -> bool:
    """A time without date or zone counts only after "at", "um"... or as a log stamp."""
    if _PREPOSITION.search(line[max(0, match.start() - 12) : match.start()]):
        return True
    lead = line[: match.start()].strip()
    if match.start() < 8 and lead in ("[", "(") and line[match.end() :][:1] in "])":
        return True  # a chat or log stamp: "[09:12] anna: ..."
    return match["s"] is not None and match.start() < 8 and not lead


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
