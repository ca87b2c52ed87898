"""Threading: which incident a mail belongs to, decided from its headers.

The order is fixed: In-Reply-To and References naming a mail mailbot stored
or sent, then a full tag in the subject (whole, cut short or damaged) of
an incident the sender's site takes part in, then a tag in the text of a
reply naming an incident its sender is of, then a date-only tag naming an
incident of that day the sender's site takes part in, else a new
incident, named by a tag it carries only when mailbot could have written
it. Everything here is pure; the lookups are handed in by the caller.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace

from mailbot import compose, tlp
from mailbot.tags import SubjectTags, body_tags, tag_day, without_tags

# Reply and forward prefixes of many mail clients and languages, with the
# counters some add ("Re[2]:", "AW(3):").
_PREFIX = (
    r"re|aw|sv|vs|wg|fwd?|fw|antw|antwort|tr|rif|r|odp|pd|ynt|vl|rv|res|enc|doorst"
    r"|wtr|atb|ref|ris|sw|svar|vb|bls|továbbítás|válasz|přeposlat|odp|πρθ|σχετ"
)
_PREFIX_RE = re.compile(rf"^\s*({_PREFIX})\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*", re.I)
# The prefixes of them that forward a mail: a forward is no reply in a thread.
_FORWARD = frozenset(
    ("fwd", "fw", "wg", "tr", "enc", "doorst", "vl", "rv", "pd", "továbbítás")
    + ("přeposlat", "πρθ")
)
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


def base_subject(subject: str, prefix: str) -> str:
    """The subject without reply and forward prefixes, markers, tags and TLP."""
    text = without_tags(subject, prefix)
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


def is_reply(subject: str) -> bool:
    """Whether `subject` starts as a reply's does ("Re:", "AW: [EXT] WG:"):
    a reply prefix among its leading prefixes and markers."""
    text = subject
    while True:
        text = text.lstrip()
        prefix = _PREFIX_RE.match(text)
        if prefix is not None:
            if prefix.group(1).casefold() not in _FORWARD:
                return True
            text = text[prefix.end() :]
            continue
        marker = _MARKER_RE.match(text)
        if marker is None or not marker.group():
            return False
        text = text[marker.end() :]


def _never(*_: object) -> bool:
    return False


@dataclass(frozen=True)
class Lookups:
    """How the decision reads the database, handed in by the caller."""

    incident_by_tag: Callable[[str], int | None]
    incident_by_message_ids: Callable[[Sequence[str]], int | None]
    incident_by_date_tag: Callable[[str, str], int | None]
    # The sites involved in an incident (its id).
    sites_of: Callable[[int], Collection[str]]
    # The last counter given on a day ("EGI-20261207"), 0 for none.
    last_counter: Callable[[str], int] = lambda _: 0
    # Whether an incident's thread goes on (open or resolved).
    going_on: Callable[[int], bool] = lambda _: True
    # Whether an address wrote in an incident before (its reporter).
    wrote_in: Callable[[int, str], bool] = _never


# A date-only tag names a new incident's day when it is at most a week
# before the mail's arrival, as a Date header is believed (clock.py): a site
# writes the day of its report. A full tag mailbot does not know is adopted
# when its incident may still run, half a year: a tag of an older day is a
# typo (the year of last January), and its incident is long over.
DATE_TAG_REACH = dt.timedelta(days=7)
ADOPT_REACH = dt.timedelta(days=183)


@dataclass(frozen=True)
class Decision:
    """Where a mail goes: an existing incident, or a new one (`incident_id` None).

    For a new incident, `adopt_tag` is a full tag the mail carried that
    mailbot does not know yet, and `date_tag` a date-only tag it gave.
    `passed_over` are the full tags of other incidents that the mail's
    subject carried and that were not followed. `refused` are, for a new
    incident, the tags that could have named it and do not: no incident
    was opened on their date (an impossible day, one after `latest_day`),
    their date is long past, or they are not written as mailbot writes
    tags (a damaged tag, a counter of three digits before the day's 99th
    incident). A `date_tag` among them is kept, but names no day.
    """

    reason: str
    incident_id: int | None = None
    adopt_tag: str | None = None
    date_tag: str | None = None
    passed_over: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()


# How much of a reply's texts is read for tags: a quoted thread is at its
# start, a pasted log after it.
BODY_READ = 100_000


@dataclass(frozen=True)
class Body:
    """The texts of a reply and who wrote it: their tags name the incident
    of a reply whose subject and references lost it."""

    texts: tuple[str, ...] = ()
    prefix: str = ""
    sender: str | None = None

    def tags(self) -> tuple[str, ...]:
        """The texts' full tags, text by text (the author's words before
        what the mail quotes): read only when the subject and the
        references have not decided (up to 20 ms a 100 kB text)."""
        found = (body_tags(text[:BODY_READ], self.prefix) for text in self.texts)
        return tuple(dict.fromkeys(tag for tags in found for tag in tags))


def reply_body(
    subject: str,
    references: bool,
    texts: Sequence[str],
    prefix: str,
    sender: str | None,
) -> Body:
    """The `texts` of a reply (its subject a reply's, or its `references`
    naming mail mailbot does not know), to read for tags. A new mail's
    mention of another incident ("similar to ...") is none."""
    if not (references or is_reply(subject)):
        return Body()
    return Body(tuple(texts), prefix, sender.lower() if sender else None)


def decide(
    tags: SubjectTags,
    message_ids: Sequence[str],
    site: str | None,
    lookups: Lookups,
    sender_site: str | None = None,
    tag_first: bool = False,
    latest_day: dt.date | None = None,
    *,
    arrived_on: dt.date | None = None,
    body: Body = Body(),
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
    Its first tag naming an incident wins, and the others are no tag
    passed over (`passed_over` stays empty): she wrote them.

    A tag names the day its incident was opened: one dated after
    `latest_day` (tomorrow, wherever the mail came from) that names no
    incident is a typo or a forgery, never adopted as a new incident's name;
    nor is one long before `arrived_on`, or one not written as mailbot
    writes tags: those are read as their date.

    `body` holds the tags in the text of a reply (`is_reply`, or references
    mailbot does not know): a subject cut or retyped loses the tag, the
    text keeps it ("about incident EGI-20261207-01").
    """
    tagged = _known_tags(tags, lookups)
    known = {tag for tag, _ in tagged}
    refused = tags.impossible + _from_the_future(tags, known, latest_day)
    odd = _not_to_adopt(tags, known, refused, lookups, arrived_on)
    dates = (*tags.date_only, *(tag.rpartition("-")[0] for tag in odd))
    usable = SubjectTags(
        tuple(tag for tag in tags.full if tag not in refused and tag not in odd),
        tuple(dict.fromkeys(tag for tag in dates if tag not in refused)),
        cut=tags.cut,
        loose=tags.loose,
    )
    decision = _decide(
        usable, tagged, message_ids, site, lookups, sender_site, tag_first, body
    )
    loose = tuple(tag for tag in tags.loose if tag not in (*known, *refused))
    if decision.reason == "date_tag":
        # Read as its date, a tag mailbot never writes ("-011", "-0142",
        # a damaged one naming no incident) was not followed: told too.
        refused = tuple(dict.fromkeys((*refused, *odd, *loose)))
        return replace(decision, refused=refused) if refused else decision
    if decision.reason != "new":
        return decision
    # Told only where the tag could have named the incident the mail opens.
    stale = _stale_date_tag(decision.date_tag, arrived_on)
    refused = tuple(dict.fromkeys((*refused, *odd, *loose, *stale)))
    return replace(decision, refused=refused) if refused else decision


def _from_the_future(
    tags: SubjectTags, known: Collection[str], latest_day: dt.date | None
) -> tuple[str, ...]:
    """The subject's tags dated after `latest_day` that name no incident."""
    if latest_day is None:
        return ()
    return tuple(
        tag
        for tag in (*tags.full, *tags.date_only, *tags.loose)
        if tag not in known and tag_day(tag) > latest_day
    )


def _not_to_adopt(
    tags: SubjectTags,
    known: Collection[str],
    refused: Collection[str],
    lookups: Lookups,
    arrived_on: dt.date | None,
) -> tuple[str, ...]:
    """The subject's full tags that name no incident and that no new one
    adopts: a counter mailbot does not give, or a date long past."""
    return tuple(
        tag
        for tag in tags.full
        if tag not in known
        and tag not in refused
        and (not _usual_counter(tag, lookups) or _long_past(tag, arrived_on))
    )


def _usual_counter(tag: str, lookups: Lookups) -> bool:
    """Whether `tag`'s counter is one mailbot gives: two digits, three
    once the day's 99th incident is named (four past its 999th), never
    with a leading zero past two digits ("-011", "-0142": typos)."""
    day, _, counter = tag.rpartition("-")
    if len(counter) == 2:
        return True
    return (
        counter[0] != "0" and lookups.last_counter(day) >= 10 ** (len(counter) - 1) - 1
    )


def _long_past(tag: str, arrived_on: dt.date | None) -> bool:
    return arrived_on is not None and tag_day(tag) < arrived_on - ADOPT_REACH


def _stale_date_tag(
    date_tag: str | None, arrived_on: dt.date | None
) -> tuple[str, ...]:
    """The new incident's date-only tag, when its date is too far past to
    name the day it is opened."""
    if date_tag is None or arrived_on is None:
        return ()
    return (date_tag,) if tag_day(date_tag) < arrived_on - DATE_TAG_REACH else ()


def _decide(
    tags: SubjectTags,
    tagged: list[tuple[str, int]],
    message_ids: Sequence[str],
    site: str | None,
    lookups: Lookups,
    sender_site: str | None,
    tag_first: bool,
    body: Body,
) -> Decision:
    if tag_first and tagged:
        # The member chose the first tag: the others are passed over by
        # her, not by mailbot, and nobody needs telling.
        return Decision("tag", tagged[0][1])
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
    written = _named_in_body(body, sender_site, tag_first, lookups)
    if written is not None:
        return Decision("body_tag", written, passed_over=passed_over)
    if site is not None:
        for date_tag in tags.date_only:
            found = lookups.incident_by_date_tag(date_tag, site)
            if found is not None:
                # A cut tag was read as its date: no tag passed over.
                kept = tuple(
                    tag for tag in passed_over if tag not in (*tags.cut, *tags.loose)
                )
                return Decision("date_tag", found, passed_over=kept)
    unknown = [tag for tag in tags.full if tag not in passed_over]
    return Decision(
        "new",
        adopt_tag=unknown[0] if unknown else None,
        date_tag=tags.date_only[0] if tags.date_only else None,
        passed_over=passed_over,
    )


def _named_in_body(
    body: Body, sender_site: str | None, member: bool, lookups: Lookups
) -> int | None:
    """The first incident the body's tags name whose thread goes on and
    whose sender is of it: a CSIRT member, its site, its reporter. A
    mention of another's incident ("similar to ...") is no thread."""
    for tag in body.tags():
        found = lookups.incident_by_tag(tag)
        if found is None or not lookups.going_on(found):
            continue
        if member or sender_site in lookups.sites_of(found):
            return found
        if body.sender and lookups.wrote_in(found, body.sender):
            return found
    return None


def _open_to(site: str, incident_id: int, lookups: Lookups) -> bool:
    """Whether `site` takes part in the incident, or it has no site yet (a
    third party's report, whose site comes from the first site that writes)."""
    sites = lookups.sites_of(incident_id)
    return not sites or site in sites


def _known_tags(tags: SubjectTags, lookups: Lookups) -> list[tuple[str, int]]:
    """The subject's full tags that name an incident, with its id, in order
    (a counter cut short, then a damaged tag, name one too, after the
    whole tags)."""
    known = []
    for tag in (*tags.full, *tags.cut, *tags.loose):
        found = lookups.incident_by_tag(tag)
        if found is not None:
            known.append((tag, found))
    return known
