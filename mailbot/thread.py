"""Threading: which incident a mail belongs to, decided from its headers.

The order is fixed: In-Reply-To and References naming a mail mailbot stored
or sent, then a full tag in the subject of an incident the sender's site
takes part in, then a date-only tag naming an incident of that day the
sender's site takes part in, else a new incident. Everything here is
pure; the lookups are handed in by the caller.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from mailbot import compose, tlp

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
    # Tags whose date is no day of the calendar ("EGI-20261399-01"): they
    # name no incident, and are told as tags not followed.
    impossible: tuple[str, ...] = ()
    # Tags whose counter a mail client cut to one digit ("EGI-20261116-2"),
    # padded ("EGI-20261116-02"): followed as full tags when they name an
    # incident, never adopted; their date is also in `date_only`.
    cut: tuple[str, ...] = ()


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


def _valid_day(digits: str) -> bool:
    try:
        dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return False
    return True


def find_tags(subject: str, prefix: str) -> SubjectTags:
    """Full (PREFIX-YYYYMMDD-NN) and date-only (PREFIX-YYYYMMDD) tags, in order.

    A one-digit counter ("PREFIX-YYYYMMDD-2") is a counter a mail client cut
    short: kept padded in `cut`, with its date-only tag in `date_only`.
    """
    full: list[str] = []
    date_only: list[str] = []
    impossible: list[str] = []
    cut: list[str] = []
    for match in _tag_re(prefix).finditer(subject):
        day, counter = match.group(1), match.group(2)
        if not _valid_day(day):
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
        target = full if counter else date_only
        tag = f"{prefix}-{day}-{counter}" if counter else f"{prefix}-{day}"
        if tag not in target:
            target.append(tag)
    return SubjectTags(
        tuple(full),
        tuple(date_only),
        tuple(dict.fromkeys(impossible)),
        tuple(cut),
    )


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


def incident_subject(subject: str, prefix: str) -> str:
    """The subject an incident keeps of `subject`: its base subject on one
    line, invisible characters out, cut to compose.MAX_SUBJECT_CHARS.

    The one form in which a mail's subject is stored for its incident and
    matched when a TLP:RED subject is withheld (csirt/red.py).
    """
    return compose.short_subject(base_subject(subject, prefix))


def kept_form(subject: str) -> str:
    """`subject` as a reply keeps it: without reply and forward prefixes or
    gateway and tracker markers, spaces folded, case ignored."""
    text, previous = subject, None
    while previous != text:
        previous = text
        text = _MARKER_RE.sub(" ", text)
        text = _PREFIX_RE.sub("", text.strip())
    return re.sub(r"\s+", " ", text).strip().casefold()


@dataclass(frozen=True)
class Lookups:
    """How the decision reads the database, handed in by the caller."""

    incident_by_tag: Callable[[str], int | None]
    incident_by_message_ids: Callable[[Sequence[str]], int | None]
    incident_by_date_tag: Callable[[str, str], int | None]
    # The sites involved in an incident (its id).
    sites_of: Callable[[int], Collection[str]]


@dataclass(frozen=True)
class Decision:
    """Where a mail goes: an existing incident, or a new one (`incident_id` None).

    For a new incident, `adopt_tag` is a full tag the mail carried that
    mailbot does not know yet, and `date_tag` a date-only tag it gave.
    `passed_over` are the full tags of other incidents that the mail's
    subject carried and that were not followed. `refused` are, for a new
    incident, the tags that can name none, as no incident was opened on
    their date (an impossible day, or one after `latest_day`): not adopted.
    """

    reason: str
    incident_id: int | None = None
    adopt_tag: str | None = None
    date_tag: str | None = None
    passed_over: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()


def decide(
    tags: SubjectTags,
    message_ids: Sequence[str],
    site: str | None,
    lookups: Lookups,
    sender_site: str | None = None,
    tag_first: bool = False,
    latest_day: dt.date | None = None,
) -> Decision:
    """Thread one mail; `sender_site` is the site its author writes for.

    A reference to a mail mailbot stored or sent is the strongest evidence:
    mailbot knows that mail's incident, and the sender had the mail. A tag is
    typed, pasted or kept from a stale subject: it is followed only into an
    incident the sender's site takes part in (or one with no site yet), so
    that a wrong tag never makes a site part of another site's incident
    (its TLP:AMBER subject, its reminders). Sites join an incident by a
    member's doing instead.

    `tag_first` is for a CSIRT member's mail: the tag a member writes is the
    incident meant (a reply to an old mail of A, its subject changed to B,
    carries commands for B), and a member's mail makes no site part of it.

    A tag names the day its incident was opened: one dated after
    `latest_day` (tomorrow, wherever the mail came from) that names no
    incident is a typo or a forgery, never adopted as a new incident's name.
    """
    tagged = _known_tags(tags, lookups)
    refused = tags.impossible + _from_the_future(tags, tagged, latest_day)
    usable = SubjectTags(
        tuple(tag for tag in tags.full if tag not in refused),
        tuple(tag for tag in tags.date_only if tag not in refused),
        cut=tags.cut,
    )
    decision = _decide(
        usable, tagged, message_ids, site, lookups, sender_site, tag_first
    )
    # Told only where the tag could have named the incident the mail opens.
    if refused and decision.reason == "new":
        return replace(decision, refused=refused)
    return decision


def _from_the_future(
    tags: SubjectTags, tagged: list[tuple[str, int]], latest_day: dt.date | None
) -> tuple[str, ...]:
    """The subject's tags dated after `latest_day` that name no incident."""
    if latest_day is None:
        return ()
    known = {tag for tag, _ in tagged}
    return tuple(
        tag
        for tag in (*tags.full, *tags.date_only)
        if tag not in known and tag_day(tag) > latest_day
    )


def _decide(
    tags: SubjectTags,
    tagged: list[tuple[str, int]],
    message_ids: Sequence[str],
    site: str | None,
    lookups: Lookups,
    sender_site: str | None,
    tag_first: bool,
) -> Decision:
    if tag_first and tagged:
        chosen = tagged[0][1]
        others = tuple(tag for tag, found in tagged if found != chosen)
        return Decision("tag", chosen, passed_over=others)
    referenced = lookups.incident_by_message_ids(message_ids) if message_ids else None
    if referenced is not None:
        others = tuple(tag for tag, found in tagged if found != referenced)
        reason = "tag" if len(others) < len(tagged) else "reference"
        return Decision(reason, referenced, passed_over=others)
    if sender_site is not None:
        followed = [(t, i) for t, i in tagged if _open_to(sender_site, i, lookups)]
    else:
        followed = tagged
    if followed:
        chosen = followed[0][1]
        others = tuple(tag for tag, found in tagged if found != chosen)
        return Decision("tag", chosen, passed_over=others)
    passed_over = tuple(tag for tag, _ in tagged)
    if site is not None:
        for date_tag in tags.date_only:
            found = lookups.incident_by_date_tag(date_tag, site)
            if found is not None:
                # A cut tag was read as its date: no tag passed over.
                kept = tuple(tag for tag in passed_over if tag not in tags.cut)
                return Decision("date_tag", found, passed_over=kept)
    unknown = [tag for tag in tags.full if tag not in passed_over]
    return Decision(
        "new",
        adopt_tag=unknown[0] if unknown else None,
        date_tag=tags.date_only[0] if tags.date_only else None,
        passed_over=passed_over,
    )


def _open_to(site: str, incident_id: int, lookups: Lookups) -> bool:
    """Whether `site` takes part in the incident, or it has no site yet (a
    third party's report, whose site comes from the first site that writes)."""
    sites = lookups.sites_of(incident_id)
    return not sites or site in sites


def _known_tags(tags: SubjectTags, lookups: Lookups) -> list[tuple[str, int]]:
    """The subject's full tags that name an incident, with its id, in order
    (a counter cut short names one too, after the whole tags)."""
    known = []
    for tag in (*tags.full, *tags.cut):
        found = lookups.incident_by_tag(tag)
        if found is not None:
            known.append((tag, found))
    return known
