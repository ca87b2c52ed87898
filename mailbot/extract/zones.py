"""Time zones as reporters write them: names, offsets, and where they stand.

A zone is an abbreviation mailbot knows (UTC, CET, MESZ, EST, JST, ...),
an IANA name, or an offset. Besides the zone written after a time (read by
`times`), a zone may stand before it ("Zeitpunkt (UTC): ..."), on a log's
intro line for the records below, or in a note for the whole part ("times
are UTC").
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Sequence
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ABBREVIATIONS: Final = {
    "Z": 0, "UTC": 0, "GMT": 0, "WET": 0, "WEST": 60, "BST": 60, "CET": 60,
    "MEZ": 60, "CEST": 120, "MESZ": 120, "EET": 120, "EEST": 180, "MSK": 180,
    "EST": -300, "EDT": -240, "CST": -360, "CDT": -300, "MST": -420,
    "MDT": -360, "PST": -480, "PDT": -420, "JST": 540,
}  # fmt: skip
ZONE_NAMES: Final = (
    r"UTC|GMT|CEST|CET|MESZ|MEZ|EEST|EET|WEST|WET|BST|EDT|EST|CDT|CST|MDT|MST|PDT"
    r"|PST|JST|MSK|[A-Z][a-z]+/[A-Z][A-Za-z_]+(?:/[A-Z][A-Za-z_]+)?"
)
# "(all) times are UTC": only where the match ends and the zone are used, so
# the optional "all" is left out, and the word boundary is a look-behind after
# the "t" so that the regex engine can skip to the letter t.
PART_ZONE: Final = re.compile(
    r"t(?<!\w.)imes?[ \t]+(?:above[ \t]+|below[ \t]+)?"
    r"(?:are|is|in|shown[ \t]+in|given[ \t]+in)[ \t]+(?:in[ \t]+)?("
    + "|".join(sorted((z.lower() for z in ABBREVIATIONS if z != "Z"), key=len)[::-1])
    + r")\b"
)

# The body telling the zone of what it attaches: "the attached auth.log of
# ui01 is in UTC", "the logs are in CET", "the attached log uses UTC+3".
_ATTACHED: Final = re.compile(
    r"\b(?:attach\w*|logs?|log[ \t]?files?|records)\b(?:[^.\n]|\.(?=\S)){0,80}?"
    r"\b(?:is|are|in|uses?|run[ \t]+on)[ \t]+(?:in[ \t]+|on[ \t]+)?("
    + "|".join(sorted((z for z in ABBREVIATIONS if z != "Z"), key=len)[::-1])
    + r")((?:[ \t]?[+-][ \t]?\d{1,2}(?::?\d{2})?)?)(?![\w+-])",
    re.IGNORECASE,
)
# "is not in UTC, it is local time": the note says which zone it is not.
_DENIED: Final = re.compile(r"\b(?:not|never|no[ \t]+longer)\b|n't\b", re.IGNORECASE)
# A file the note names ("the attached auth.log", "secure.log.1"): the note
# is about that attachment only.
_FILE_NAME: Final = re.compile(
    r"(?<![\w/.-])[\w-]+(?:\.[\w-]+)*\.(?:log|txt|csv|json|xml|out|evtx|pcap"
    r"|gz|zip|tgz|tar|bz2|xz)(?:\.\d{1,3})?(?![\w.-])",
    re.IGNORECASE,
)


def attached_zones(text: str) -> list[tuple[str, frozenset[str]]]:
    """The zones that body `text` (the author's own lines) gives its
    attachments, each with the file names its note names (lower case; none:
    every attachment), in the order written."""
    notes = []
    for found in _ATTACHED.finditer(text[:20_000]):
        if _DENIED.search(found.group(0)):
            continue  # "is not in UTC": the site's own zone, as without a note
        zone = found.group(1).upper() + re.sub(r"[ \t]", "", found.group(2))
        if tzinfo(zone) is None:
            continue
        # The note's sentence up to its zone names the files it speaks of.
        opened = max(
            text.rfind("\n", 0, found.start()), text.rfind(". ", 0, found.start())
        )
        names = _FILE_NAME.findall(text, opened + 1, found.start(1))
        notes.append((zone, frozenset(name.lower() for name in names)))
    return notes


def attachment_zone(
    notes: Sequence[tuple[str, frozenset[str]]], filename: str | None
) -> str | None:
    """The zone that `notes` (attached_zones) give the attachment `filename`
    (a member of an archive by its own name): the first note naming it, else
    the first naming no file. An attachment without a name may be the file
    any note names."""
    name = (filename or "").rsplit("/", 1)[-1].lower()
    for zone, names in notes:
        if not name or name in names:
            return zone
    return next((zone for zone, names in notes if not names), None)


# A zone written before the time it applies to: "Zeitpunkt (UTC): 2026-12-04
# 03:15:22", "[UTC] 03:15", "Time (CET): ...", Sysmon's "UtcTime: ...".
_ZONE_BEFORE: Final = re.compile(
    r"(?:[(\[][ \t]*(?P<bracketed>" + ZONE_NAMES + r")[ \t]*[)\]][ \t]*:?"
    r"|(?<![\w])(?P<named>UTC|GMT|Utc)(?:[ \t]?[Tt]ime)?[ \t]*:)[ \t]*\Z"
)


def zone_before(line: str, start: int) -> tuple[int, int] | None:
    """The span of a zone written just before the time (or date) at `start`."""
    found = _ZONE_BEFORE.search(line, max(0, start - 40), start)
    if found is None:
        return None
    return found.span("bracketed") if found["bracketed"] else found.span("named")


# A log's intro line that names the zone of the records below it:
# "Auszug fail2ban.log (Serverzeit UTC):", "Firewall log (times in CET):".
_BLOCK_ZONE: Final = re.compile(
    r"\([^()]*?(?<![\w/])(" + ZONE_NAMES + r")(?![\w/])[^()]*\)[ \t]*:[ \t]*\Z"
)


def block_zone(line: str) -> str | None:
    """The zone that intro `line` names for the lines below it, if any."""
    # Called for every line: most fail the first test without a copy.
    if line[-1:] not in ": \t\r" or "(" not in line:
        return None
    line = line.rstrip()
    if not line.endswith(":"):
        return None
    match = _BLOCK_ZONE.search(line)
    return match.group(1) if match and tzinfo(match.group(1)) else None


@functools.lru_cache(maxsize=256)
def as_the_site_writes(zone: str, local: str) -> str:
    """`zone` as a site whose clocks are in `local` (an IANA name) means it.

    An abbreviation the site's own zone uses for another offset than the
    table's is the site's: "09:10 CST" from Taipei is China Standard Time
    (UTC+8, as mailbot's own reminders to that site write it), not the US
    Central time (UTC-6) of the table; "IST" from India is UTC+5:30. An
    abbreviation the table reads as the site means it ("GMT" in London),
    and any other zone, are left as they are.
    """
    if not zone.isalpha() or not local:
        return zone
    try:
        site = ZoneInfo(local)
    except (ZoneInfoNotFoundError, ValueError):
        return zone
    upper = zone.upper()
    for month in (1, 7):  # standard and summer time, either hemisphere
        moment = dt.datetime(2026, month, 1, tzinfo=site)
        offset = moment.utcoffset()
        if (moment.tzname() or "").upper() != upper or offset is None:
            continue
        minutes = int(offset.total_seconds()) // 60
        if ABBREVIATIONS.get(upper) == minutes:
            return zone
        sign = "-" if minutes < 0 else "+"
        return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    return zone


@functools.lru_cache(maxsize=256)
def tzinfo(zone: str) -> dt.tzinfo | None:
    """The tzinfo that `zone` names (abbreviation, offset, IANA name), if any."""
    upper = zone.upper()
    base = re.match(r"[A-Za-z_/]+", zone)
    if base and base.group(0).upper() in ABBREVIATIONS:
        minutes = ABBREVIATIONS[base.group(0).upper()]
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
