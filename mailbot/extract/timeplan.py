"""Where a line's times of day stand, and which date and zone each takes.

A line's times are read in two halves (times.py): this one finds the
times, the dates near them and the words that join them, which does not
depend on the digits once it is known which dates are dates; the values,
which do, are read from its Plan. Lines that differ only in their digits
share a plan. The patterns also say which times are durations ("during
1:45"), which hours stand alone ("10pm", "à 22h"), and which times are
plausible without a date or zone ("at 10:00", a log's stamp).
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from mailbot.extract.dates import Dates, find_dates
from mailbot.extract.hours import DAY_PART
from mailbot.extract.zones import ZONE_NAMES, zone_before

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
TIME: Final = _time_pattern()
TIME_OR_HOUR: Final = _time_pattern(
    r"|(?=[ \t]?[AaPp]\.?[Mm]\b)|h(?![\w:])|(?=[ \t]+(?P<part>" + DAY_PART + "))"
)
# The words before an hour without minutes and without AM/PM ("à 22h", "às
# 8h", "a las 9 de la mañana", "la ora 22h"): "for 2h", "about 2h" are
# durations.
_HOUR_AT: Final = re.compile(
    r"\b(?:at|um|gegen|à|às|vers|las|alle|ore|om|v|ve|la|ora|klo|kl\.?)[ \t]*\Z", re.I
)
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
# Words that place a time relative to the mail, not to the part's date.
_RELATIVE_DAY: Final = re.compile(
    r"\b(?:today|this[ \t]+(?:morning|afternoon|evening)|tonight|last[ \t]+night"
    r"|yesterday|heute|gestern|aujourd'hui|ce[ \t]+matin|cet[ \t]+après-midi|hier"
    r"|hoy|ayer|esta[ \t]+mañana|hoje|ontem|oggi|ieri|stamattina|vandaag|gisteren"
    r"|vanochtend|idag|igår|dzisiaj|dziś|wczoraj|tänään|eilen|dnes|včera"
    r"|azi|astăzi|aseară)\b"
).search
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


class Plan(NamedTuple):
    """Where the times of a line of one shape stand, read from one such line."""

    dates: list[tuple[str, tuple[tuple[int, int], ...]]]  # date candidates
    valid: list[bool]  # which candidates are dates
    runs: list[_Run]
    skipped: int
    reusable: bool  # False when the order of two dates hung on their digits
    # Whether the line's words place its times relative to the mail
    # (_RELATIVE_DAY: no digit in them, so a shape has the answer of its lines).
    relative: bool


# The numbers of the groups of a time's clock and of its zone, per pattern.
_GROUPS: Final = {
    pattern: tuple(
        tuple(pattern.groupindex[name] for name in names)
        for names in (("h", "m", "s", "ampm"), ("zone", "shift", "offset"))
    )
    for pattern in (TIME, TIME_OR_HOUR)
}


def make_plan(line: str, limit: int, pattern: re.Pattern[str]) -> tuple[Plan, list]:
    """The plan of `line`, and the date of each of its date candidates."""
    times, skipped = _clock_times(line, limit, pattern)
    if not times:
        return Plan([], [], [], skipped, True, False), []
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
    plan = Plan(candidates, valid, runs, skipped, len(set(ends)) == len(ends), relative)
    ymds: list = [None] * len(candidates)
    for item in found:
        ymds[item[3]] = item[2]
    return plan, ymds


def _clock_spans(match: re.Match[str], groups) -> tuple[Span, Span, Span, Span]:
    hour, minute, second, ampm = _spans(match, groups)
    if ampm[0] < 0 and match.re is TIME_OR_HOUR and match["part"]:
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


def _zone_of(match: re.Match[str]) -> str | None:
    return zone_named(match["zone"], match["shift"], match["offset"])


def zone_named(zone: str | None, shift: str | None, offset: str | None):
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
