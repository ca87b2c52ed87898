"""Times of day written without a colon, as French, Finnish, Dutch and German do.

"22h10", "22h10m05", "22 h 10", and dotted times after the words that
announce a time ("klo 14.25", "om 14.05 uur", "um 14.30 Uhr") are written
"22:10" in place, with the line's length kept so that the spans of what is
found stay those of the line. `times.times_in` then reads them as any time.
"""

from __future__ import annotations

import re
from typing import Final

_HOURS: Final = re.compile(
    r"(?<![\w:.])(?P<h>\d{1,2})[ \t]?h[ \t]?(?P<m>\d{2})(?:m(?P<s>\d{2}))?(?![\w:])"
    r"|(?<!\w)(?P<word>(?:klo|kl\.?|om|um)[ \t]+)(?P<dh>\d{1,2})\.(?P<dm>\d{2})"
    r"(?!\d|\.\d)"
    r"|(?<![\w:.])(?P<uh>\d{1,2})\.(?P<um>\d{2})(?=[ \t]*(?:uur|Uhr)\b)"
)
# A cheap necessary condition of _HOURS, in three parts that each start with
# a letter or a dot, so that the regex engine skips to those ("22h10", "klo
# 14.25", "14.05 uur"); each part is tried only when the line holds what it
# needs. On log lines, which have digits everywhere, one pattern of three
# alternatives was four times slower.
_H_HINT: Final = re.compile(r"h(?:(?<=\dh)|(?<=\d[ \t]h))[ \t]?\d\d").search
_WORD_HINT: Final = re.compile(r"(?:klo|kl\.?|om|um)[ \t]+\d{1,2}\.\d\d").search
_UUR_HINT: Final = re.compile(r"\.(?<=\d\.)\d\d[ \t]*(?:uur|Uhr)").search


def hours_hint(line: str) -> re.Match[str] | None:
    """A sign that `line` may write a time without a colon (None: it does not)."""
    if "h" in line:
        found = _H_HINT(line)
        if found:
            return found
    if "." not in line:
        return None
    if "kl" in line or "om" in line or "um" in line:
        found = _WORD_HINT(line)
        if found:
            return found
    if "uur" in line or "Uhr" in line:
        return _UUR_HINT(line)
    return None


# An hour without minutes: "10pm", "10 p.m.", "22h", "at 9 this morning",
# "a las 9 de la mañana". `timeplan.TIME_OR_HOUR` reads them; this is its cheap
# test, run over a whole part first (few parts write one: a search per line
# would cost every line of the others).
DAY_PART: Final = (
    r"this[ \t]+(?:morning|afternoon|evening)|tonight"
    r"|in[ \t]+the[ \t]+(?:morning|afternoon|evening)"
    r"|de[ \t]+la[ \t]+(?:mañana|tarde|noche)|da[ \t]+(?:manhã|tarde|noite)"
    r"|du[ \t]+(?:matin|soir)|de[ \t]+l'après-midi|di[ \t]+(?:mattina|sera|notte)"
    r"|del[ \t]+pomeriggio"
)
# A digit after a colon is a time's minutes ("4:15 PM"): `timeplan.TIME` reads it.
# The longest part searched for one (longer ones are logs).
PROSE_PART: Final = 20_000
hour_only_hint: Final = re.compile(
    r"[0-9](?<![0-9:][0-9])[0-9]?(?:[ \t]?[AaPp]\.?[Mm]\b|h(?![\w:])|[ \t]+(?:"
    + DAY_PART
    + "))"
).search


def may_have_times(line: str) -> bool:
    """Whether `line` may write a time of day (cheap; `times.times_in` decides)."""
    return ":" in line or hours_hint(line) is not None


def colons(line: str) -> str:
    """`line` with "22h10", "22 h 10", "klo 14.25" written "22:10", "14:25"."""
    if not hours_hint(line):
        return line
    return _HOURS.sub(_as_colons, line)


def _as_colons(match: re.Match[str]) -> str:
    word = match["word"] or ""
    clock = [g for g in match.group("h", "m", "s", "dh", "dm", "uh", "um") if g]
    return (word + ":".join(clock)).ljust(match.end() - match.start())
