"""Incident tags (PREFIX-YYYYMMDD-NN) as mail leaves them: whole, cut short,
damaged, in subjects and in texts. Pure: which incident a tag names is
thread.py's question."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class SubjectTags:
    full: tuple[str, ...]
    date_only: tuple[str, ...]
    # Tags whose date is no day of the calendar ("EGI-20261399-01"): they
    # name no incident, and are told as tags not followed.
    impossible: tuple[str, ...] = ()
    # Tags whose counter a mail client cut to one digit ("EGI-20261116-2"),
    # padded ("EGI-20261116-02"): followed as full tags when they name an
    # incident, never adopted; their date is also in `date_only`.
    cut: tuple[str, ...] = ()
    # Tags written with other separators ("EGI 20261207-01",
    # "EGI_20261207_01", "EGI-2026-12-07-01"), in the canonical form:
    # followed when they name an incident, never adopted; their date is
    # also in `date_only`.
    loose: tuple[str, ...] = ()


@lru_cache(maxsize=8)
def _tag_re(prefix: str) -> re.Pattern[str]:
    # The prefix and the date, then an optional counter: two digits, more
    # past the 99th incident of a day. A counter cut by a mail client to
    # one digit ("-2", "-0") is matched too, so that no "-2" is left of it
    # in a base subject; find_tags reads it.
    return re.compile(
        # ASCII digits only: `\d` also takes fullwidth and Arabic-Indic ones,
        # and such a "tag" reached outgoing headers (a crash, quarantine).
        rf"(?<![A-Za-z0-9]){re.escape(prefix)}-([0-9]{{8}})(?:-([0-9]{{1,4}}))?(?![0-9])",
        re.I,
    )


# What people and mail clients put between a tag's parts instead of "-":
# spaces, underscores and the dashes that word processors type.
_SEPARATOR = "[-_ \t\u2010-\u2015\u2212]"
# Between a date's parts, dots and slashes too ("07.12.2026", "2026/12/07").
_DATE_SEPARATOR = "[-_ ./\t\u2010-\u2015\u2212]"
# Between the date and the counter: a run of separators, one dot or
# slash ("EGI/20261207/01"), or none ("EGI-2026120701"); the counter is
# never followed by more of a number.
_COUNTER = rf"({_SEPARATOR}+|[./]|)([0-9]{{1,4}})(?![0-9]|\.[0-9])"
# After the prefix: separators, dots, slashes, a "#" ("EGI#20261207-01").
_AFTER_PREFIX = rf"(?:{_SEPARATOR}|[./#])*"


@lru_cache(maxsize=8)
def _loose_tag_res(prefix: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    # The prefix, the date (its parts kept apart by one separator, or not),
    # the counter: a damaged full tag, its date year first, then day (or
    # month) first. The date's separators are the same throughout, so that
    # no other identifier ("EGI-SVG-2026-12") reads as one.
    year_first, year_last = _loose_date_parts(prefix)
    return (
        re.compile(year_first + _COUNTER, re.I),
        re.compile(year_last + _COUNTER, re.I),
    )


def _loose_date_parts(prefix: str) -> tuple[str, str]:
    start = rf"(?<![A-Za-z0-9]){re.escape(prefix)}{_AFTER_PREFIX}"
    year_first = rf"([0-9]{{4}})({_DATE_SEPARATOR}?)([0-9]{{2}})\2([0-9]{{2}})"
    year_last = rf"([0-9]{{1,2}})({_DATE_SEPARATOR}?)([0-9]{{1,2}})\2([0-9]{{4}})"
    return start + year_first, start + year_last


@lru_cache(maxsize=8)
def _loose_date_res(prefix: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    # A damaged date-only tag ("EGI 2026 12 07", "EGI-07.12.2026"): the
    # date, then no more of a number.
    end = r"(?![0-9]|[.,][0-9])"
    year_first, year_last = _loose_date_parts(prefix)
    return re.compile(year_first + end, re.I), re.compile(year_last + end, re.I)


def _loose_dates(
    subject: str, prefix: str, taken: set[int]
) -> Iterator[tuple[re.Match[str], str]]:
    """The damaged date-only tags of `subject` but those starting at
    `taken` (read as a tag already), each with its canonical form. A
    number after the date that is no counter ("EGI 2026 12 07 12 hosts",
    as "[EGI-20261207] 12:30") leaves the date a date-only tag. A date
    read both day first and month first ("07/12/2026") names no day."""
    year_first, year_last = _loose_date_res(prefix)
    found = [(m, [m[1] + m[3] + m[4]]) for m in year_first.finditer(subject)]
    found += [(m, _readings(m)) for m in year_last.finditer(subject)]
    for match, days in sorted(found, key=lambda item: item[0].start()):
        valid = [digits for digits in days if _valid_day(digits)]
        if match.start() not in taken and len(valid) == 1:
            yield match, f"{prefix}-{valid[0]}"


# What may close a tag whose counter only a space keeps from its date.
_CLOSING = "])}:,;"


def _loose_matches(subject: str, prefix: str) -> Iterator[tuple[re.Match[str], str]]:
    """The damaged full tags of `subject`, in order, each with its
    canonical form (a counter cut to one digit padded). A date both day
    first and month first reads ("07/12/2026") gives both, day first first."""
    year_first, year_last = _loose_tag_res(prefix)
    found = [(m, [m[1] + m[3] + m[4]]) for m in year_first.finditer(subject)]
    found += [(m, _readings(m)) for m in year_last.finditer(subject)]
    for match, days in sorted(found, key=lambda item: item[0].start()):
        date_separator, separator, counter = match[2], match[5], match[6]
        if not counter.strip("0") or not _counter_kept(
            subject, match, date_separator, separator, counter
        ):
            continue
        for digits in days:
            if _valid_day(digits):
                yield match, f"{prefix}-{digits}-{counter.zfill(2)}"


def _readings(match: re.Match[str]) -> list[str]:
    """The days a date written year last may be: day first, and month
    first but where dots are written (dotted dates are day first)."""
    first, separator, second, year = match[1], match[2], match[3], match[4]
    # Written whole, a tag's own date ("EGI-20121120-01") reads year last
    # too, in a year long gone: tags are of this century.
    if not year.startswith("20"):
        return []
    if not separator and (len(first), len(second)) != (2, 2):
        return []
    day_first = f"{year}{second:0>2}{first:0>2}"
    month_first = f"{year}{first:0>2}{second:0>2}"
    if separator == "." or month_first == day_first:
        return [day_first]
    return [day_first, month_first]


def _counter_kept(
    subject: str,
    match: re.Match[str],
    date_separator: str,
    separator: str,
    counter: str,
) -> bool:
    """Whether the number after the date is the tag's counter."""
    # "EGI-2026120701": no separator, two digits, and a date written whole.
    if not separator:
        return len(counter) == 2 and not date_separator
    if separator in "./":
        return _lone_counter(subject, match, date_separator, separator)
    # "[EGI-20261207] 12 hosts" unbracketed is a date-only tag and a
    # number: a counter after a space alone is two digits, closed.
    if not separator.strip():
        return _closed(subject, match, counter)
    return True


def _lone_counter(
    subject: str, match: re.Match[str], date_separator: str, separator: str
) -> bool:
    """Whether the number after a lone dot or slash after the date is the
    tag's counter. A dot writes no range of days: it is a counter's after
    any date ("EGI-20261207.01", "EGI-2026-12-07.01", "EGI.07.12.2026.01").
    A slash is the tag's separator where slashes write it throughout
    ("EGI/2026/12/07/01", "EGI/20261207/01"); elsewhere the number after it
    is a second day ("EGI 2026-12-07/08", "EGI-20261207/08": the 7th and
    the 8th), and the date is a date-only tag."""
    # A time ("EGI-2026-12-07.08:30") is no counter.
    after = subject[match.end() : match.end() + 2]
    if after[:1] == ":" and after[1:].isdigit():
        return False
    if separator == ".":
        return True
    if date_separator:
        return date_separator == "/"
    after_prefix = match.string[match.start() : match.start(1)]
    return "/" in after_prefix


def _closed(subject: str, match: re.Match[str], counter: str) -> bool:
    after = subject[match.end() : match.end() + 2]
    # A time ("12:30") is no counter closed by its colon.
    if after[1:].isdigit():
        return False
    return len(counter) == 2 and (not after or after[0] in _CLOSING)


def _valid_day(digits: str) -> bool:
    try:
        dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return False
    return True


def find_tags(subject: str, prefix: str) -> SubjectTags:
    """Full (PREFIX-YYYYMMDD-NN) and date-only (PREFIX-YYYYMMDD) tags, in order.

    A one-digit counter ("PREFIX-YYYYMMDD-2") is a counter a mail client cut
    short: kept padded in `cut`, with its date-only tag in `date_only`. A
    counter padded with zeros ("-002") is also in `cut` as "-02".
    """
    full: list[str] = []
    date_only: list[str] = []
    impossible: list[str] = []
    cut: list[str] = []
    damaged = list(_loose_matches(subject, prefix))
    # A date written day first ("EGI-07122026-01") is no impossible day.
    read = [match.span() for match, _ in damaged]
    for match in _tag_re(prefix).finditer(subject):
        day, counter = match.group(1), match.group(2)
        if not _valid_day(day):
            if any(start <= match.start() < end for start, end in read):
                continue
            impossible.append(f"{prefix}-{day}" + (f"-{counter}" if counter else ""))
            continue
        # A counter of zeros is none mailbot or the CSIRT gives (they start
        # at 01): the date alone is the tag's.
        counter = counter if counter and counter.strip("0") else None
        if counter is not None and len(counter) == 1:
            padded = f"{prefix}-{day}-0{counter}"
            if padded not in cut:
                cut.append(padded)
            counter = None
        elif counter is not None and len(counter) > 2 and counter[0] == "0":
            # Zeros before a counter are padding ("-002"): followed as the
            # counter it pads when that names an incident, as a cut one is;
            # the tag as written is never adopted (thread.py).
            padded = f"{prefix}-{day}-{int(counter):02d}"
            if padded not in cut:
                cut.append(padded)
        target = full if counter else date_only
        tag = f"{prefix}-{day}-{counter}" if counter else f"{prefix}-{day}"
        if tag not in target:
            target.append(tag)
    loose = _loose_tags(damaged, (*full, *cut))
    for tag in loose:
        day = tag.rpartition("-")[0]
        if day not in date_only:
            date_only.append(day)
    for _, day in _loose_dates(subject, prefix, _taken(subject, prefix, damaged)):
        if day not in date_only:
            date_only.append(day)
    return SubjectTags(
        tuple(full),
        tuple(date_only),
        tuple(dict.fromkeys(impossible)),
        tuple(cut),
        loose,
    )


def _loose_tags(
    damaged: Sequence[tuple[re.Match[str], str]], whole: Sequence[str]
) -> tuple[str, ...]:
    """The canonical forms of the `damaged` full tags, but for those in
    `whole` (a tag whole or cut)."""
    loose: list[str] = []
    for _, tag in damaged:
        if tag not in whole and tag not in loose:
            loose.append(tag)
    return tuple(loose)


def _taken(
    subject: str, prefix: str, damaged: Sequence[tuple[re.Match[str], str]]
) -> set[int]:
    """Where the tags of `subject` read whole or damaged start."""
    taken = {match.start() for match in _tag_re(prefix).finditer(subject)}
    return taken | {match.start() for match, _ in damaged}


def tag_day(tag: str) -> dt.date:
    """The date written in a tag."""
    digits = tag.split("-")[1]
    return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))


def body_tags(text: str, prefix: str) -> tuple[str, ...]:
    """The full tags of `text`: whole, then cut short, then damaged, each
    in order."""
    # Most texts name no tag: the regexes cost a few ms on 100 kB.
    if prefix.casefold() not in text.casefold():
        return ()
    found = find_tags(text, prefix)
    return tuple(dict.fromkeys((*found.full, *found.cut, *found.loose)))


def without_tags(subject: str, prefix: str) -> str:
    """`subject` with its tags, whole, cut or damaged, blanked out."""
    text = subject
    # A date read two ways is one match.
    damaged = list(_loose_matches(subject, prefix))
    spans = dict.fromkeys(match.span() for match, _ in damaged)
    taken = _taken(subject, prefix, damaged)
    spans.update(
        dict.fromkeys(m.span() for m, _ in _loose_dates(subject, prefix, taken))
    )
    spans = dict.fromkeys(sorted(spans))
    for start, end in reversed(list(spans)):
        text = f"{text[:start]} {text[end:]}"
    return _tag_re(prefix).sub(" ", text)
