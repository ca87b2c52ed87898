"""Threading: which incident a mail belongs to, decided from its headers.

The order is fixed: a full tag in the subject, then In-Reply-To and
References naming a mail mailbot stored or sent, then a date-only tag with
the same site, else a new incident. Everything here is pure; the lookups are
handed in by the caller.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from mailbot import tlp

# Reply and forward prefixes of many mail clients and languages, with the
# counters some add ("Re[2]:", "AW(3):").
_PREFIX = (
    r"re|aw|sv|vs|wg|fwd?|fw|antw|antwort|tr|rif|r|odp|pd|ynt|vl|rv|res|enc|doorst"
    r"|wtr|atb|ref|ris|sw|svar|vb|bls|továbbítás|válasz|přeposlat|odp|πρθ|σχετ"
)
_PREFIX_RE = re.compile(rf"^\s*(?:{_PREFIX})\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*", re.I)
# Markers that gateways and other teams' trackers put around subjects.
_MARKER_RE = re.compile(
    r"\[\s*(?:external|extern|ext|spam|suspected spam|suspicious|caution|warning"
    r"|phish(?:ing)?|secure|encrypt(?:ed)?|sign(?:ed)?)\s*\]"
    r"|\*+\s*(?:external|spam|suspicious)\s*\*+"
    r"|^\s*(?:external|extern)\s*:\s*"
    r"|\[[^\[\]]{0,40}#\s*\d+[^\[\]]{0,10}\]"
    r"|\(\s*[A-Za-z-]{0,20}\s*#\s*\d+\s*\)"
    r"|\[\s*(?:ticket|case|incident|rt)\s*[#:]?\s*[\w.-]{1,40}\s*\]",
    re.I,
)


@dataclass(frozen=True)
class SubjectTags:
    full: tuple[str, ...]
    date_only: tuple[str, ...]


@lru_cache(maxsize=8)
def _tag_re(prefix: str) -> re.Pattern[str]:
    # The prefix and the date, then an optional counter: two digits, more
    # past the 99th incident of a day. A counter cut by a mail client (a
    # trailing "-0") leaves a date-only tag.
    return re.compile(
        # ASCII digits only: `\d` also takes fullwidth and Arabic-Indic ones,
        # and such a "tag" reached outgoing headers (a crash, quarantine).
        rf"(?<![A-Za-z0-9]){re.escape(prefix)}-([0-9]{{8}})(?:-([0-9]{{2,4}}))?(?![0-9])",
        re.I,
    )


def _valid_day(digits: str) -> bool:
    try:
        dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return False
    return True


def find_tags(subject: str, prefix: str) -> SubjectTags:
    """Full (PREFIX-YYYYMMDD-NN) and date-only (PREFIX-YYYYMMDD) tags, in order."""
    full: list[str] = []
    date_only: list[str] = []
    for match in _tag_re(prefix).finditer(subject):
        day, counter = match.group(1), match.group(2)
        if not _valid_day(day):
            continue
        # A counter of zeros is none mailbot or the CSIRT gives (they start
        # at 01): the date alone is the tag's.
        counter = counter if counter and counter.strip("0") else None
        target = full if counter else date_only
        tag = f"{prefix}-{day}-{counter}" if counter else f"{prefix}-{day}"
        if tag not in target:
            target.append(tag)
    return SubjectTags(tuple(full), tuple(date_only))


def tag_day(tag: str) -> dt.date:
    """The date written in a tag."""
    digits = tag.split("-")[1]
    return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))


def base_subject(subject: str, prefix: str) -> str:
    """The subject without reply and forward prefixes, markers, tags and TLP."""
    text = _tag_re(prefix).sub(" ", subject)
    text = tlp.strip_markers(text)
    text = re.sub(r"\[\s*\]|\(\s*\)", " ", text)
    previous = None
    while previous != text:
        previous = text
        text = _MARKER_RE.sub(" ", text)
        text = _PREFIX_RE.sub("", text.strip())
    text = re.sub(r"\s{2,}", " ", text).strip(" -:|")
    return text


@dataclass(frozen=True)
class Lookups:
    """How the decision reads the database, handed in by the caller."""

    incident_by_tag: Callable[[str], int | None]
    incident_by_message_ids: Callable[[Sequence[str]], int | None]
    incident_by_date_tag: Callable[[str, str], int | None]


@dataclass(frozen=True)
class Decision:
    """Where a mail goes: an existing incident, or a new one (`incident_id` None).

    For a new incident, `adopt_tag` is a full tag the mail carried that
    mailbot does not know yet, and `date_tag` a date-only tag it gave.
    """

    reason: str
    incident_id: int | None = None
    adopt_tag: str | None = None
    date_tag: str | None = None


def decide(
    tags: SubjectTags,
    message_ids: Sequence[str],
    site: str | None,
    lookups: Lookups,
) -> Decision:
    """Thread one mail: the first rule that names an incident wins."""
    for tag in tags.full:
        found = lookups.incident_by_tag(tag)
        if found is not None:
            return Decision("tag", found)
    found = lookups.incident_by_message_ids(message_ids) if message_ids else None
    if found is not None:
        return Decision("reference", found)
    if site is not None:
        for date_tag in tags.date_only:
            found = lookups.incident_by_date_tag(date_tag, site)
            if found is not None:
                return Decision("date_tag", found)
    return Decision(
        "new",
        adopt_tag=tags.full[0] if tags.full else None,
        date_tag=tags.date_only[0] if tags.date_only else None,
    )
