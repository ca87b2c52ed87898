"""A site's mail that comes back under mailbot's own subject, tag stripped.

Some ticket systems open a new ticket for every mail they get and answer
it under a subject of their own: "Ticket 4701 opened: Compromise of ui01",
mailbot's subject with its `[EGI-...]` tag and `[TLP:...]` marker cut out,
without In-Reply-To or References. Threading finds no incident for such a
mail; were it to open one, its acknowledgement would open the next ticket,
and so on until a cap stops it, each bogus incident with its clocks.

Whatever its words say, such a mail belongs to the incident of the mail it
answers: it comes from a site (the address mailbot wrote to, its domain or
the site's domains) at most ECHO_WINDOW after mailbot sent that site a
mail, and its subject, without reply prefixes, markers and a short head
ending in ":", "-" or "]", is that mail's subject. A site's new report
under another subject still opens a new incident; so does one under the
same subject word for word, no prefix (as a second incident of a site
may): a quick second mail from the same address is incidents.follow_up's.

The look-up reads the outbox rows of the window (an index on `queued_at`;
the caps bound how many there are) whose subject holds the answer's last
characters, and only for a mail that would open an incident.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from mailbot import thread, tlp
from mailbot.db.models import NOT_SENT, Incident, Mail, Outbox
from mailbot.incidents import resolve
from mailbot.sites import Site
from mailbot.tags import without_tags

# The thread_reason of such a mail (`show`): under mailbot's subject with
# a reply's prefixes alone (a person who dropped the tag), or with a head of
# its own (a ticket system's: recorded as an auto-reply, meeting no clock).
REASON = "echo"
TICKET_REASON = "echo_ticket"
# How long after mailbot's mail a site's robot is believed to answer it.
ECHO_WINDOW = dt.timedelta(hours=6)
# What a ticket system may put before the subject it keeps: "Ticket 4701
# opened:", "New request #12 -", "[Helpdesk #4711]" (thread.base_subject
# takes bracketed markers and reply prefixes out already).
_HEAD = re.compile(r"^[^\n]{0,60}?[:\-–—|\]]\s*$")
# Subjects shorter than this name too little to tell one mail from another.
MIN_SUBJECT_CHARS = 8

# Two statements, so that each reads by an index whatever the planner
# guesses: the window's outbox rows (by `queued_at`), then their mails (by
# id) whose subject holds the answer's last characters (case aside: ILIKE,
# or lower() on both sides in SQLite). Joined in one, PostgreSQL may scan
# every mail for the subject.
_SENT_IN_WINDOW = (
    select(Outbox.mail_id, Outbox.recipients)
    .where(
        Outbox.queued_at >= bindparam("since"), Outbox.queued_at <= bindparam("until")
    )
    .where(Outbox.state.not_in(NOT_SENT))
    .order_by(Outbox.queued_at.desc(), Outbox.id.desc())
)
_SUBJECTS = (
    select(Mail.id, Mail.subject, Mail.incident_id)
    .where(Mail.id.in_(bindparam("ids", expanding=True)))
    .where(Mail.incident_id.is_not(None))
    .where(Mail.subject.ilike(bindparam("tail"), escape="\\"))
)


def echoed(subject: str, sent: str, prefix: str) -> str | None:
    """How `subject` echoes mailbot's `sent` subject: TICKET_REASON under a
    head of its own ("Ticket 4701 opened: ..."), REASON under a reply's
    prefixes or a tracker's markers alone; None when it is not `sent`'s
    subject so, or is it word for word (tags aside): a site's new mail
    under its report's subject (incidents.follow_up decides that one)."""
    return _echoed(
        subject, thread.base_subject(subject, prefix).casefold(), sent, prefix
    )


@functools.lru_cache(maxsize=4096)
def _sent_base(sent: str, prefix: str) -> str:
    """The base subject of a mail mailbot sent, case folded: read again for
    every mail that would open an incident while it is in the window, so
    kept (the caps hold the window's mail to a few hundred)."""
    return thread.base_subject(sent, prefix).casefold()


def _echoed(subject: str, theirs: str, sent: str, prefix: str) -> str | None:
    """`echoed`, with `theirs` the base subject of `subject`, case folded."""
    ours = _sent_base(sent, prefix)
    if len(ours) < MIN_SUBJECT_CHARS or not theirs.endswith(ours):
        return None
    head = theirs[: len(theirs) - len(ours)]
    if head.strip():
        return TICKET_REASON if _HEAD.match(head) else None
    return None if _bare(subject, prefix) == ours else REASON


def _bare(subject: str, prefix: str) -> str:
    """`subject` without its tags and TLP markers, spaces folded."""
    text = tlp.strip_markers(without_tags(subject, prefix))
    text = re.sub(r"\[\s*\]|\(\s*\)", " ", text)
    return re.sub(r"\s+", " ", text).strip(" -:|").casefold()


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def _from_there(sender: str, site: Site | None, recipients: Iterable[str]) -> bool:
    """Whether `sender` writes from where the mail to `recipients` went:
    the same address or domain, or both within `site`'s domains."""
    own = _domain(sender)
    for recipient in recipients:
        theirs = _domain(recipient)
        if recipient.lower() == sender or theirs == own:
            return True
        if site is not None and site.owns_domain(own) and site.owns_domain(theirs):
            return True
    return False


def find(
    session: Session,
    *,
    subject: str,
    sender: str,
    site: Site | None,
    arrived_at: dt.datetime,
    prefix: str,
) -> tuple[Incident, str] | None:
    """The incident of the mail mailbot sent that `subject` from `sender`
    echoes, and the thread_reason (REASON or TICKET_REASON); None when
    there is none."""
    base = thread.base_subject(subject, prefix)
    if not sender or len(base) < MIN_SUBJECT_CHARS:
        return None
    sender = sender.lower()
    theirs = base.casefold()
    tail = re.sub(r"([\\%_])", r"\\\1", base[-MIN_SUBJECT_CHARS:])
    window = {"since": arrived_at - ECHO_WINDOW, "until": arrived_at}
    rows = session.execute(_SENT_IN_WINDOW, window)
    sent_to = {mail_id: recipients for mail_id, recipients in rows}
    if not sent_to:
        return None
    values = {"ids": list(sent_to), "tail": f"%{tail}%"}
    found = {row[0]: (row[1], row[2]) for row in session.execute(_SUBJECTS, values)}
    # The latest mail first, in the window's order.
    for mail_id in (mail_id for mail_id in sent_to if mail_id in found):
        sent, incident_id = found[mail_id]
        reason = _echoed(subject, theirs, sent, prefix)
        if reason is None or not _from_there(sender, site, sent_to[mail_id]):
            continue
        incident = session.get(Incident, incident_id)
        if incident is not None:
            return resolve(incident, session), reason
    return None
