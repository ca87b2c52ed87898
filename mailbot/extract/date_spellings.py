"""How reporters spell a date, and which date each spelling writes.

`DATES` are the spellings: ISO, day first (or month first, see
month_first.py), with month names in a dozen languages, syslog's. `date_of`
reads the numbers a spelling's groups match as (year, month, day), or None
when they write no date (31.02.2026). dates.py finds them in a line.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Final

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
    # 11:33:20" (month first there; see `month_first.ordered`).
    (
        "dmy2",
        re.compile(r"(\d(?<![\d./]\d)\d?)/(\d{1,2})/(\d\d)(?=[ \t]+\d{1,2}:\d\d)"),
    ),
    # Day first, or month first in US writing (see `month_first.ordered`): "04.12.2026",
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
NAMED_GROUPS: Final = {
    name: tuple(f"{name}_{n}" for n in range(1, pattern.groups + 1))
    for name, pattern in DATES[_NUMERIC:]
}


def _renamed(name: str, pattern: str) -> str:
    names = iter(NAMED_GROUPS[name])
    body = re.sub(r"\((?!\?)", lambda _: f"(?P<{next(names)}>", pattern)
    return f"(?P<{name}>{body})"


NAMED: Final = re.compile(
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
MONTH_WORD: Final = re.compile(_month_word())


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


EARLIEST_YEAR: Final = 1990


def refused(ymd: tuple | None) -> bool:
    """Whether date `ymd` writes a year no incident report's evidence has.

    Evidence is never from before 1990: such a year is a device's unset
    clock (the epoch, 1970-01-01) or a typing error, and
    `clock.parse_instant` refuses years of fewer than four digits anyway.
    """
    return ymd is not None and ymd[0] is not None and ymd[0] < EARLIEST_YEAR


def _month(text: str) -> int:
    return _MONTHS.get(text.lower(), 0)


def safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None
