"""Dates in a line of a report, and the one date a text writes.

`find_dates` finds where a line may write a date and which of those are
dates (the digits decide: 31.02.2026 is none); `Dates` looks them up around a
time of day. The spellings are date_spellings.py's; the order of an open
numeric date, month_first.py's.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from typing import Final

from mailbot.extract.date_spellings import (
    DATES,
    MONTH_WORD,
    NAMED,
    NAMED_GROUPS,
    date_of,
    refused,
    safe_date,
)
from mailbot.extract.month_first import ordered
from mailbot.extract.shape import has_digit, keep_plan, shape


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
    for month in MONTH_WORD.finditer(line):
        if month.start() < end:
            continue
        start = max(0, month.start() - 8)
        stop = line.find(" ", month.start() + 40)
        window = line[start : len(line) if stop < 0 else stop]
        for match in NAMED.finditer(window):
            if start + match.end() <= month.start():
                continue
            name = match.lastgroup or ""
            groups = NAMED_GROUPS[name]
            ymd = date_of(name, match.group(*groups))
            if ymd is not None:
                end = start + match.end()
            spans = (match.span(), *(match.span(g) for g in groups))
            yield name, tuple((start + a, start + b) for a, b in spans), ymd
            break


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
    (see `month_first.ordered`): "12/3/2026" in a mail of 3 December is 3 December.
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
