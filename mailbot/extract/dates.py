"""Dates as reporters write them: ISO, day first, with month names, syslog's.

`find_dates` finds where a line may write a date and which of those are
dates (the digits decide: 31.02.2026 is none); `Dates` looks them up around a
time of day.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import re
from typing import Final

from mailbot.extract.shape import has_digit, keep_plan, shape

# Month names in the languages of the fact words (facts._FACTS): English,
# German, French, Spanish, Portuguese, Italian, Dutch, Swedish, Polish,
# Finnish and Czech, with the inflected forms that dates use ("15 lipca",
# "15. heinäkuuta", "15. července") and the usual abbreviations. A word is a
# month only when it is one of these whole: "marraskuuta" is November, not
# "mar..." (March), and "juin" is June, "juillet" July.
_MONTH_WORDS: Final = (
    "jan january januar jänner janv janvier enero janeiro gennaio januari"
    " stycznia styczeń tammikuuta tammikuu ledna leden ian ianuarie",
    "feb febr february februar févr fevr février fevrier febrero fevereiro"
    " febbraio februari lutego luty helmikuuta helmikuu února únor februarie",
    "mar mär mrz march märz mars marzo março maart marca marzec maaliskuuta"
    " maaliskuu března březen martie",
    "apr april avr avril abril aprile kwietnia kwiecień huhtikuuta huhtikuu"
    " dubna duben aprilie",
    "may mai mayo maio maggio mei maj maja toukokuuta toukokuu května květen",
    "jun june juni juin junio junho giugno czerwca czerwiec kesäkuuta kesäkuu"
    " června červen iun iunie",
    "jul july juli juil juillet julio julho luglio lipca lipiec heinäkuuta"
    " heinäkuu července červenec iul iulie",
    "aug august août aout agosto augustus augusti sierpnia sierpień elokuuta"
    " elokuu srpna srpen",
    "sep sept september septembre septiembre setiembre setembro settembre"
    " września wrzesień syyskuuta syyskuu září septembrie",
    "oct okt october oktober octobre octubre outubro ottobre października"
    " październik lokakuuta lokakuu října říjen octombrie",
    "nov november novembre noviembre novembro listopada listopad marraskuuta"
    " marraskuu listopadu noiembrie",
    "dec dez déc dic december dezember décembre decembre diciembre dezembro"
    " dicembre grudnia grudzień prosince prosinec joulukuuta joulukuu decembrie",
)
_MONTHS: Final = {
    word: number
    for number, words in enumerate(_MONTH_WORDS, 1)
    for word in words.split()
}


def _by_first_letter(words) -> dict[str, list[str]]:
    # The rest of each word after its first letter, the longest first, so
    # that "juillet" is not read as "jul" and a rest.
    rests: dict[str, list[str]] = {}
    for word in sorted(words, key=lambda word: (-len(word), word)):
        rests.setdefault(word[0], []).append(word[1:])
    return rests


# One branch a first letter: the regex engine tries a dozen words at a
# position, not all of them. No letter may follow a month word.
MON: Final = (
    "(?:"
    + "|".join(
        f"{first}(?:{'|'.join(rest)})"
        for first, rest in sorted(_by_first_letter(_MONTHS).items())
    )
    + r")(?![^\W\d_])"
)
_D, _Y = r"(\d{1,2})", r"(\d{4})"
DATES: Final = (
    # The look-behinds stand after the first digit: see timeplan.TIME.
    ("ymd", re.compile(r"(\d(?<![\d.]\d)\d{3})-(\d{1,2})-(\d{1,2})(?![\d])")),
    # Year first with dots or slashes: Hungarian "2026.12.03.", "2026/12/03".
    ("ymd", re.compile(r"(\d(?<![\d.]\d)\d{3})[./](\d{1,2})[./](\d{1,2})(?![\d])")),
    # A year of two digits, only right before a time: HTCondor's "12/03/26
    # 11:33:20" (month first there; see `ordered`).
    (
        "dmy2",
        re.compile(r"(\d(?<![\d./]\d)\d?)/(\d{1,2})/(\d\d)(?=[ \t]+\d{1,2}:\d\d)"),
    ),
    # Day first, or month first in US writing (see `ordered`): "04.12.2026",
    # "4/12/2026", "4-12-2026", and "4. 12. 2026" as Czech and German write.
    (
        "dmy",
        re.compile(
            r"(\d(?<![\d.-]\d)\d?)(?:[/-]|\.[ ]?)"
            + _D
            + r"(?:[/-]|\.[ ]?)"
            + _Y
            + r"(?![\d.])"
        ),
    ),
    (
        "dMy",
        re.compile(
            r"(?<![\d\w])"
            + _D
            + r"\.?[ \t]+(?:de[ \t]+)?("
            + MON
            + r")\.?,?[ \t]+(?:de[ \t]+)?"
            + _Y
            + r"\b",
            re.I,
        ),
    ),
    (
        "Mdy",
        re.compile(
            r"\b("
            + MON
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
        # times.times_in writes the colon after the year as a space.
        re.compile(
            r"\b" + _D + r"/(" + MON + r")/" + _Y + r"[: ](?=\d{2}:\d{2})", re.I
        ),
    ),
    (
        "syslog",
        re.compile(
            r"(?<![\w])("
            + MON
            + r")[ \t]{1,2}"
            + _D
            + r"[ \t]+(?=\d{1,2}:\d{2}:\d{2})",
            re.I,
        ),
    ),
    # `last` and `date` write a weekday before a syslog date, and may leave
    # out the seconds: "Thu Dec  3 02:11 - 02:47".
    (
        "weekday",
        re.compile(
            r"(?<![\w])(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?[ \t]+("
            + MON
            + r")[ \t]{1,2}"
            + _D
            + r"[ \t]+(?=\d{1,2}:\d{2})",
            re.I,
        ),
    ),
)
_NUMERIC: Final = 4  # DATES[:4] are numeric, the rest have a month name
# The dates with a month name, in one pass: each alternative renumbers its
# groups, so the group names say which spelling matched.
_NAMED_GROUPS: Final = {
    name: tuple(f"{name}_{n}" for n in range(1, pattern.groups + 1))
    for name, pattern in DATES[_NUMERIC:]
}


def _renamed(name: str, pattern: str) -> str:
    names = iter(_NAMED_GROUPS[name])
    body = re.sub(r"\((?!\?)", lambda _: f"(?P<{next(names)}>", pattern)
    return f"(?P<{name}>{body})"


_NAMED: Final = re.compile(
    "|".join(_renamed(name, pattern.pattern) for name, pattern in DATES[_NUMERIC:]),
    re.IGNORECASE,
)


def _month_word() -> str:
    """A pattern of every month word, as a whole word.

    The first letter is a class without IGNORECASE, so that the regex engine
    skips to those letters; the class holds what IGNORECASE would match (ſ
    is an s).
    """
    rests = _by_first_letter(_MONTHS)
    letters = "".join(sorted(set("".join(rests) + "".join(rests).upper() + "ſ")))
    alternatives = "|".join(
        f"(?<={first})(?:{'|'.join(rest)})" for first, rest in sorted(rests.items())
    )
    return f"[{letters}](?<!\\w.)(?i:{alternatives})(?![^\\W\\d_])"


# A month name (the spellings of MON, in any case).
_MONTH_WORD: Final = re.compile(_month_word())


class Dates:
    """The dates of a line, sorted, with quick look-ups around a position.

    Each is (start, end, date, candidate index).
    """

    def __init__(self, found: list[tuple[int, int, tuple, int]]):
        self.found = found
        self.starts = [item[0] for item in found]
        self.ends = [item[1] for item in found]

    def before(self, position: int):
        index = bisect.bisect_right(self.ends, position) - 1
        return self.found[index] if index >= 0 else None

    def after(self, position: int):
        index = bisect.bisect_left(self.starts, position)
        return self.found[index] if index < len(self.found) else None


# What the patterns find in a line they find in its shape (no pattern of a
# date tells one ASCII digit from another): the candidates of a line are
# those of its shape, as long as the same ones are dates. Only where a
# date with a month name ends depends on which is one (`_named_dates`
# skips the month names inside it); the digits decide the rest. Log records
# and the lines of a template that differ only in their numbers share a plan:
# the candidates, which were dates, and the span of each.
Candidate = tuple[str, tuple[tuple[int, int], ...]]
Ymd = tuple[int | None, int, int]  # a syslog date has no year
Found = tuple[int, int, Ymd, int]
_Plan = tuple[list[Candidate], list[bool], list[tuple[int, int]]]
_PLANS: Final[dict[bytes, _Plan]] = {}
_EARLIER_PLANS: Final[dict[bytes, list[_Plan]]] = {}  # see shape.keep_plan
_PLANS_KEPT: Final = 4096
_PLANNED: Final = 540


def find_dates(line: str) -> tuple[list[Candidate], list[bool], list[Found]]:
    """The date candidates of `line` as (name, group spans), which of them are
    dates, and the dates as (start, end, date, candidate index) in order.

    The lists may be shared with the plan of the line's shape: not to be
    changed.
    """
    # A line without a digit 1-9 is its own shape; longer lines are read
    # without a plan.
    if len(line) > _PLANNED or not has_digit(line):
        return _dates_read(line)[:3]
    key = shape(line)
    plan = _PLANS.get(key)
    if plan is not None:
        found = _dates_planned(line, plan)
        if found is not None:
            return plan[0], plan[1], found
        earlier = _EARLIER_PLANS.get(key)
        if earlier is not None:
            for other in reversed(earlier):
                found = _dates_planned(line, other)
                if found is not None:
                    return other[0], other[1], found
    candidates, valid, found, wholes = _dates_read(line)
    keep_plan(_PLANS, _EARLIER_PLANS, _PLANS_KEPT, key, (candidates, valid, wholes))
    return candidates, valid, found


def _dates_read(
    line: str,
) -> tuple[list[Candidate], list[bool], list[Found], list[tuple[int, int]]]:
    candidates: list[Candidate] = []
    valid: list[bool] = []
    found: list[Found] = []
    wholes: list[tuple[int, int]] = []
    for name, spans, ymd in _date_candidates(line):
        if ymd is not None:
            found.append((spans[0][0], spans[0][1], ymd, len(candidates)))
        candidates.append((name, spans[1:]))
        valid.append(ymd is not None)
        wholes.append(spans[0])
    found.sort()
    return candidates, valid, found, wholes


def _dates_planned(line: str, plan: _Plan) -> list[Found] | None:
    """The dates of `line` by the plan of its shape; None if it departs from it."""
    found: list[Found] = []
    candidates, valid, wholes = plan
    for index, (name, spans) in enumerate(candidates):
        ymd = date_of(name, tuple([line[a:b] for a, b in spans]))
        if (ymd is not None) != valid[index]:
            return None
        if ymd is not None:
            start, end = wholes[index]
            found.append((start, end, ymd, index))
    found.sort()
    return found


def _date_candidates(line: str):
    # Each as (name, (whole span, group spans...), date or None).
    if "-" in line:
        yield from _numeric("ymd", DATES[0][1], line)
    if "." in line or "/" in line:
        yield from _numeric("ymd", DATES[1][1], line)
    if "/" in line:
        yield from _numeric("dmy2", DATES[2][1], line)
    if "." in line or "/" in line or "-" in line:
        yield from _numeric("dmy", DATES[3][1], line)
    yield from _named_dates(line)


def _numeric(name: str, pattern: re.Pattern[str], line: str):
    for match in pattern.finditer(line):
        spans = (match.span(), match.span(1), match.span(2), match.span(3))
        yield name, spans, date_of(name, match.groups())


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
            groups = _NAMED_GROUPS[name]
            ymd = date_of(name, match.group(*groups))
            if ymd is not None:
                end = start + match.end()
            spans = (match.span(), *(match.span(g) for g in groups))
            yield name, tuple((start + a, start + b) for a, b in spans), ymd
            break


# Cached: the records of a log write the same few dates again and again.
@functools.lru_cache(maxsize=4096)
def date_of(name: str, groups: tuple[str, ...]) -> tuple[int | None, int, int] | None:
    """(year, month, day) that the groups of a `name` match write, if a date."""
    if name == "ymd":
        year, month, day = int(groups[0]), int(groups[1]), int(groups[2])
    elif name in ("dmy", "dmy2"):
        day, month, year = int(groups[0]), int(groups[1]), int(groups[2])
        year += 2000 if name == "dmy2" else 0
        if month > 12 >= day:
            day, month = month, day
    elif name in ("dMy", "apache"):
        day, month, year = int(groups[0]), _month(groups[1]), int(groups[2])
    elif name == "Mdy":
        month, day, year = _month(groups[0]), int(groups[1]), int(groups[2])
    else:
        month, day, year = _month(groups[0]), int(groups[1]), None
    # A syslog date has no year. A year before 1990 (0 included, which has
    # no calendar) is a date, so that its time does not take another date,
    # but no time on it is a timestamp: see `refused`.
    check = 2000 if year is None else max(year, 1)
    if not month or safe_date(check, month, day) is None:
        return None
    return year, month, day


# Longer parts are logs, whose records carry their own dates.
_ONLY_DATE_TEXT: Final = 20_000
# Every date with a year has four digits in a row; most parts have none.
_YEAR_HINT: Final = re.compile(r"\d\d\d\d").search
_YEAR: Final = re.compile(r"(?:19|20)(?<!\d..)\d\d(?!\d)")


def only_date(
    text: str, reference: dt.datetime | None, order: str = ""
) -> dt.date | None:
    """The one date (with a year) that `text` writes, if not after `reference`.

    An open numeric date is read in the part's `order` or by the mail's Date
    (see `ordered`): "12/3/2026" in a mail of 3 December is 3 December.
    """
    if len(text) > _ONLY_DATE_TEXT or not _YEAR_HINT(text):
        return None
    # Dates are read only around the years: a date stands within 25
    # characters before its year ("September 30th, 2026") or 6 after it.
    windows = [text[max(0, m.start() - 25) : m.end() + 6] for m in _YEAR.finditer(text)]
    if not windows:
        return None
    joined = "\n".join(windows)
    candidates, _, found = find_dates(joined)
    written = set()
    for _, _, ymd, index in found:
        name, spans = candidates[index]
        if name == "dmy":
            ymd = ordered(ymd, joined[spans[0][1]], order, False, reference)
        if ymd[0] is not None:
            written.add(ymd)
    if len(written) != 1 or refused(next(iter(written))):
        return None
    year, month, day = written.pop()
    date = None if year is None else safe_date(year, month, day)
    if date is None or reference is None or date > reference.date():
        return None
    return date


def last_date(line: str, order: str, reference: dt.datetime | None) -> dt.date | None:
    """The last date with a year that `line` writes (in the part's `order`)."""
    if not _YEAR_HINT(line):
        return None
    candidates, _, found = find_dates(line)
    for _, _, ymd, index in reversed(found):
        name, spans = candidates[index]
        if name == "dmy":
            ymd = ordered(ymd, line[spans[0][1]], order, False, reference)
        year, month, day = ymd
        if year is not None and not refused(ymd):
            return safe_date(year, month, day)
    return None


EARLIEST_YEAR: Final = 1990


def refused(ymd: tuple | None) -> bool:
    """Whether date `ymd` writes a year no incident report's evidence has.

    Evidence is never from before 1990: such a year is a device's unset
    clock (the epoch, 1970-01-01) or a typing error, and
    `clock.parse_instant` refuses years of fewer than four digits anyway.
    """
    return ymd is not None and ymd[0] is not None and ymd[0] < EARLIEST_YEAR


# Which numeric dates put the month first. "12/6/2026" is 6 December in US
# writing, 12 June in most of the world; nothing in the date itself tells.
# The look-behind stands after the first digit, so that the regex engine skips
# to digits (this pattern reads a whole part).
_SLASHED: Final = re.compile(r"(\d(?<![\d.]\d)\d?)[/-](\d{1,2})[/-]\d{4}(?![\d.])")
# What every such date holds, starting with a rare character: most parts
# (logs) have none, and the engine skips to the slashes and hyphens.
_SLASHED_HINT: Final = re.compile(r"[/-]\d{1,2}[/-]\d{4}").search
# Sites whose zone says their people write the month first, or the day first
# (with a 12-hour clock too, so that AM/PM cannot say month first there).
_MONTH_FIRST_ZONES: Final = (
    "America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
    "America/Los_Angeles", "America/Anchorage", "America/Detroit",
    "America/Indiana/", "America/Kentucky/", "America/Boise", "Pacific/Honolulu",
    "US/",
)  # fmt: skip
_DAY_FIRST_12H_ZONES: Final = ("Australia/", "Pacific/Auckland", "Asia/Kolkata")


def date_order(text: str, site_zone: str) -> str:
    """The order of a part's ambiguous numeric dates: "md", "dm" or "" (open).

    A date of the part whose first number is over 12 ("13/12/2026") settles
    it day first, one whose second is ("12/13/2026") month first; when the
    part says both or neither, the site's zone gives "zmd" or "zdm", which
    the mail's Date outweighs (`ordered`).
    """
    orders = set()
    if ("/" in text or "-" in text) and _SLASHED_HINT(text):
        for first, second in _SLASHED.findall(text):
            if int(first) > 12 >= int(second):
                orders.add("dm")
            elif int(second) > 12 >= int(first):
                orders.add("md")
    if len(orders) == 1:
        return orders.pop()
    # The zone's word is weaker than the mail's Date (see `ordered`).
    if site_zone.startswith(_MONTH_FIRST_ZONES):
        return "zmd"
    if site_zone.startswith(_DAY_FIRST_12H_ZONES):
        return "zdm"
    return ""


def ordered(
    ymd: tuple, separator: str, order: str, twelve_hour: bool, reference=None
) -> tuple:
    """`ymd`, read day first by `date_of`, in the order that applies.

    Only a date of two numbers up to 12 between slashes or hyphens is open.
    What settles it, in this order: the part's other dates (`order` "md" or
    "dm", from `date_order`); the mail's Date `reference`, when only one
    reading is not after it (a day's grace), or only one falls in the 31
    days up to it (evidence is not from after the mail, and mostly recent):
    "03/12/2026" in a mail of 4 December is 3 December even from a US site;
    the site's zone (`order` "zmd" or "zdm"); a 12-hour clock on its time
    (Windows' en-US "12/6/2026 11:47:03 PM") says month first; else day
    first, as most of the world writes. Dotted dates are always day first.
    """
    year, month, day = ymd
    if separator == "." or day > 12 or month > 12 or day == month:
        return ymd
    swapped = (year, day, month)
    if order in ("md", "dm"):
        return swapped if order == "md" else ymd
    later = [_later(date, reference) for date in (ymd, swapped)]
    if later[0] != later[1]:
        return swapped if later[0] else ymd
    recent = [_recent(date, reference) for date in (ymd, swapped)]
    if recent[0] != recent[1]:
        return ymd if recent[0] else swapped
    if order:
        return swapped if order == "zmd" else ymd
    return swapped if twelve_hour else ymd


def _later(ymd: tuple, reference) -> bool:
    # More than a day after the mail: no evidence is (`utc._complete`).
    if reference is None or ymd[0] is None:
        return False
    return dt.date(*ymd) > reference.date() + dt.timedelta(days=1)


def _recent(ymd: tuple, reference) -> bool:
    if reference is None or ymd[0] is None or ymd[0] < EARLIEST_YEAR:
        return False
    date = dt.date(*ymd)
    latest = reference.date() + dt.timedelta(days=1)
    return latest - dt.timedelta(days=31) <= date <= latest


def _month(text: str) -> int:
    return _MONTHS.get(text.lower(), 0)


def safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None
