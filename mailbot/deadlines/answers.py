"""Request clocks: a member's request to a site starts one, the site's
answer meets it (a reply in the thread, a mail recorded before the request
that answers it, or a member's word that the site answered).

Runs inside the recorded mail's transaction, with clocks.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import LargeBinary, bindparam, func, or_, select
from sqlalchemy.orm import Session

from mailbot import roles
from mailbot.app import App
from mailbot.db.models import Deadline, Incident, Mail
from mailbot.deadlines.clocks import of_site, record_met, start
from mailbot.incidents import site_names
from mailbot.mail import ParsedMail
from mailbot.parse import replied_ids
from mailbot.sites import Site


def _open_requests(app: App, deadlines: list[Deadline]) -> list[Deadline]:
    names = {r.name for r in app.rules if r.met_by == "site_reply"}
    return [
        d
        for d in deadlines
        if d.rule in names and d.met_at is None and d.state in ("pending", "missed")
    ]


# The few columns of the mails that started request clocks.
_REQUEST_MAILS = select(Mail.id, Mail.arrived_at, Mail.message_id).where(
    Mail.id.in_(bindparam("ids", expanding=True))
)


def answer_requests(
    app: App,
    session: Session,
    incident: Incident,
    mail: Mail,
    site: str,
    replied_to: Collection[str],
    *,
    known: list[Deadline] | None = None,
) -> int:
    """A site's human mail meets the request clocks it answers; returns how many.

    It answers a request written before it, one that reached the mailbox
    before it (a site's mail server clock may run slow; the same second
    says nothing, the Dates decide), and one it names in In-Reply-To or
    References (the member's copy may reach the mailbox after the site's
    answer): of its site, and of every other site of the incident whose
    security contact wrote it (a contact several sites share answers for
    all of them; the mail stays the site it names).
    """
    at = mail.event_at or mail.arrived_at
    if known is None:
        known = of_site(session, incident, site)
    owed = _open_requests(app, known)
    for other in _sites_of_contact(app, session, incident, mail.from_addr):
        if other != site:
            owed += _open_requests(app, of_site(session, incident, other))
    later = [d.start_mail_id for d in owed if d.started_at > at and d.start_mail_id]
    asked = {}
    if later:
        with session.no_autoflush:
            asked = {
                row.id: row for row in session.execute(_REQUEST_MAILS, {"ids": later})
            }
    count = 0
    for deadline in owed:
        when: dt.datetime | None = at
        if deadline.started_at > at:
            request = asked.get(deadline.start_mail_id or 0)
            answers = request is not None and (
                request.arrived_at < mail.arrived_at
                or (request.message_id or "") in replied_to
            )
            when = max(mail.arrived_at, deadline.started_at) if answers else None
        if when is not None:
            record_met(incident, deadline, when)
            count += 1
    return count


def answered_by_word(
    app: App, session: Session, incident: Incident, site: str, at: dt.datetime
) -> list[Deadline]:
    """A member's word that `site` answered at `at` by another way than a
    mail in the thread (a call, an answer a member forwards: `#answered`):
    it meets the site's request clocks asked by then, as its reply would.
    Returns them."""
    owed = [
        d
        for d in _open_requests(app, of_site(session, incident, site))
        if d.started_at <= at
    ]
    for deadline in owed:
        record_met(incident, deadline, at)
    return owed


def open_requests(
    app: App, session: Session, incident: Incident, site: str
) -> list[Deadline]:
    """The request clocks `site` still owes in `incident`."""
    return _open_requests(app, of_site(session, incident, site))


def _sites_of_contact(
    app: App, session: Session, incident: Incident, sender: str
) -> list[str]:
    """The sites of `incident` that give `sender` as a security contact,
    when several sites share it (else the mail's own site is all)."""
    shared = app.sites.sites_by_contact(sender) if sender else ()
    if len(shared) < 2:
        return []
    taking_part = set(site_names(session, incident))
    return [s.name for s in shared if s.name in taking_part]


def on_csirt_mail(
    app: App,
    session: Session,
    incident: Incident,
    mail: Mail,
    parsed: ParsedMail,
    *,
    except_site: str | None = None,
) -> list[str]:
    """A member's mail to a site's contacts is a request (the caller leaves
    out one that says #no-request); `except_site` is the site the member
    writes for (roles.FOR_SITE), which the mail asks nothing."""
    addressed = {a.addr for a in (*parsed.to, *parsed.cc)}
    requested = []
    for name in site_names(session, incident):
        site = app.sites.site(name)
        if site is None or name == except_site:
            continue
        if any(roles.addresses_site(site, a) for a in addressed):
            started = start(
                app,
                session,
                incident,
                "request",
                name,
                mail.event_at or mail.arrived_at,
                mail.id,
            )
            owed = _open_requests(app, started)
            if owed:
                _answered_already(app, session, incident, mail, site, owed)
            requested.append(name)
    return requested


# How much of a stored mail is read for its In-Reply-To and References.
_HEAD_BYTES = 65536
# The site's mails already in the incident that may answer a request
# recorded after them (newest first; a request is answered soon, if at all).
_ANSWERS_LIMIT = 50
# How far a member's Date may run ahead of the mail it answers: a mail
# that reached the mailbox longer before the request's Date answers none
# (a Date further ahead of its arrival is not believed: clock.plausible_date).
_SKEW = dt.timedelta(minutes=15)


# The site's answers recorded before a request (_answered_already), built
# once: every member's request runs it, and building it cost more than
# running it.
_ANSWERS = (
    select(
        Mail.arrived_at,
        Mail.event_at,
        Mail.role,
        Mail.flags,
        func.substr(Mail.raw, 1, _HEAD_BYTES, type_=LargeBinary).label("head"),
    )
    .where(
        Mail.incident_id == bindparam("incident"),
        Mail.direction == "in",
        # A member's mail counts when the member wrote for the site too.
        Mail.role.in_(("site", "csirt")),
        Mail.arrived_at >= bindparam("since"),
        or_(
            Mail.site == bindparam("site"),
            Mail.from_addr.in_(bindparam("contacts", expanding=True)),
        ),
    )
    .order_by(Mail.id.desc())
    .limit(_ANSWERS_LIMIT)
)


def _answered_already(
    app: App,
    session: Session,
    incident: Incident,
    request: Mail,
    site: Site,
    owed: list[Deadline],
) -> None:
    """A site's mail recorded before the request it answers meets it: one
    written after the request, one that reached the mailbox after it (a
    mailbox read out of order), or one naming it in In-Reply-To or
    References (the member's copy reached the mailbox after the site's
    answer)."""
    started = min(d.started_at for d in owed)
    values = {
        "incident": incident.id,
        "since": started - _SKEW,
        "site": site.name,
        "contacts": sorted(site.security_contacts),
    }
    # Nothing the mail leaves unwritten changes what it finds (the mail's
    # own row is not among the earlier ones): Core, no flush.
    rows = session.connection().execute(_ANSWERS, values).all()
    answer = None
    for row in rows:
        if not roles.writes_for_site(row.role, row.flags):
            continue
        written = row.event_at or row.arrived_at
        if written >= started or row.arrived_at > request.arrived_at:
            when = max(written, started)
        elif request.message_id and request.message_id in replied_ids(row.head or b""):
            when = max(row.arrived_at, started)
        else:
            continue
        answer = when if answer is None else min(answer, when)
    if answer is not None:
        for deadline in owed:
            record_met(incident, deadline, max(answer, deadline.started_at))
