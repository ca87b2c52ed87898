"""Starting and meeting the procedure's clocks as mails are recorded.

Runs inside the recorded mail's transaction. Each site of an incident owes
its own clocks; a CSIRT request starts one analysis clock per addressed
site; the site's next human reply meets it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import LargeBinary, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from mailbot import fields, roles
from mailbot.app import App
from mailbot.csirt import trail
from mailbot.db.engine import flush_for
from mailbot.db.models import CHASED_STATUSES, Audit, Deadline, Incident, Mail
from mailbot.deadlines import events
from mailbot.deadlines.rules import Rule
from mailbot.incidents import site_names
from mailbot.mail import ParsedMail
from mailbot.parse import replied_ids
from mailbot.sites import Site

log = logging.getLogger(__name__)


def start(
    app: App,
    session: Session,
    incident: Incident,
    event: str,
    site: str,
    at: dt.datetime,
    mail_id: int | None = None,
    *,
    known: list[Deadline] | None = None,
    seen: dt.datetime | None = None,
) -> list[Deadline]:
    """Start every rule that starts on `event` for `site`, once each.

    `known` is the site's deadlines in this incident (see `of_site`), kept
    current here, for a caller that starts and meets several in a row.
    `seen` is when mailbot learnt of the event: the arrival of the mail
    that shows it (by default `mail_id`'s, else now).
    """
    rules = [rule for rule in app.rules if rule.starts_on == event]
    # An ended incident is chased no more: a clock started there would wait
    # unseen (a site's mail to a closed incident starts nothing).
    if not rules or incident.status not in CHASED_STATUSES:
        return []
    if known is None:
        known = of_site(session, incident, site)
    started = []
    for rule in rules:
        if any(
            d.rule == rule.name
            and (event != "request" or d.start_mail_id == mail_id)
            # A resolution withdrawn (#reopen) cancelled its clocks: the
            # next one owes the closure report afresh.
            and (event != "resolved" or d.state != "cancelled")
            for d in known
        ):
            continue
        deadline = _create(app, session, incident, rule, site, at, mail_id, seen)
        if rule.met_by == "closure_report":
            _reported_before(session, incident, deadline)
        known.append(deadline)
        started.append(deadline)
    return started


# Read for every site mail: built once (see incidents._BY_TAG).
_OF_SITE = (
    select(Deadline)
    .where(
        Deadline.incident_id == bindparam("incident"),
        Deadline.site == bindparam("site"),
    )
    .order_by(Deadline.id)
)


def of_site(session: Session, incident: Incident, site: str) -> list[Deadline]:
    """Every deadline of `site` in `incident`, oldest first: one query."""
    # Only unwritten deadlines change what it finds: the mail's other rows
    # are not flushed for it (they are written once, with the mail).
    flush_for(session, Deadline)
    with session.no_autoflush:
        values = {"incident": incident.id, "site": site}
        return list(session.scalars(_OF_SITE, values))


def _create(
    app: App,
    session: Session,
    incident: Incident,
    rule: Rule,
    site: str,
    at: dt.datetime,
    mail_id: int | None,
    seen: dt.datetime | None = None,
) -> Deadline:
    due = rule.due_at(at, app.calendar(site))
    now = app.clock.now()
    deadline = _pending(incident.id, rule.name, site, at, due, mail_id)
    seen_late(app, deadline, seen or _arrival(session, mail_id) or now)
    # Written with the mail's other rows, not flushed alone: nothing reads
    # its id before, and a clock met by the same mail is written once.
    session.add(deadline)
    log.info(
        "%s clock %s for %s started %s, due %s",
        incident.tag,
        rule.name,
        site,
        at.isoformat(),
        due.isoformat(),
    )
    return deadline


def seen_late(app: App, deadline: Deadline, seen: dt.datetime) -> None:
    """A clock still pending, found from a mail that reached the mailbox at
    `seen` due longer ago than the lateness: the miss is recorded at once.
    It is chased (from now) when that mail arrived within the lateness (a
    fresh report of an old discovery), not when it came long ago (an old
    mailbox imported): that must flood no one."""
    policy, now = app.chase_policy, app.clock.now()
    if deadline.state != "pending" or not policy.too_late(deadline.due_at, now):
        return
    deadline.state = "missed"
    deadline.next_action_at = None if policy.too_late(seen, now) else deadline.due_at


# The trail's note of a site's closure report that came before any clock
# owed it (on_site_mail), which the clock meets when it starts.
REPORTED_EARLY = "closure_report_early"


def _reported_before(session: Session, incident: Incident, deadline: Deadline) -> None:
    """A closure report the site sent, labelled as it must be, before the
    clock that owes it started (before the resolution was recorded) meets
    it: the site is not asked again for a report it sent."""
    with session.no_autoflush:
        sent = session.execute(
            select(Mail.event_at, Mail.arrived_at)
            .join(Audit, Audit.mail_id == Mail.id)
            .where(
                Audit.incident_id == incident.id,
                Audit.action == REPORTED_EARLY,
                Audit.actor == deadline.site,
            )
            .order_by(Audit.id)
            .limit(1)
        ).first()
    if sent is not None:
        written = sent.event_at or sent.arrived_at
        _met(incident, deadline, max(written, deadline.started_at))


def _arrival(session: Session, mail_id: int | None) -> dt.datetime | None:
    """When mail `mail_id` reached the mailbox (None without one)."""
    if mail_id is None:
        return None
    with session.no_autoflush:
        mail = session.get(Mail, mail_id)
    return mail.arrived_at if mail is not None else None


def rechase(
    session: Session,
    deadline: Deadline,
    started_at: dt.datetime,
    due_at: dt.datetime,
    site: str | None = None,
) -> Deadline:
    """`deadline`, unmet, moved to `due_at` (for `site`): a clock that was
    chased and now falls due later, or owed by another site, is chased
    afresh from its first reminder. The reminders sent were for the old
    time: that clock is cancelled (its chases stay recorded on it) and a new
    one, at level 0, takes its place. A clock never chased is just moved.
    """
    site = deadline.site if site is None else site
    if deadline.level == 0 or (due_at <= deadline.due_at and site == deadline.site):
        deadline.started_at, deadline.due_at, deadline.site = started_at, due_at, site
        deadline.state, deadline.next_action_at = "pending", due_at
        return deadline
    fresh = _pending(
        deadline.incident_id,
        deadline.rule,
        site,
        started_at,
        due_at,
        deadline.start_mail_id,
    )
    deadline.state, deadline.next_action_at = "cancelled", None
    session.add(fresh)
    log.info(
        "clock %s for %s moved from %s (chased to level %d) to %s: chased afresh",
        deadline.rule,
        site,
        deadline.due_at.isoformat(),
        deadline.level,
        due_at.isoformat(),
    )
    return fresh


def _pending(
    incident_id: int,
    rule: str,
    site: str | None,
    started_at: dt.datetime,
    due_at: dt.datetime,
    mail_id: int | None,
) -> Deadline:
    """A clock not chased yet, next looked at when it falls due."""
    return Deadline(
        incident_id=incident_id,
        rule=rule,
        site=site,
        started_at=started_at,
        due_at=due_at,
        state="pending",
        start_mail_id=mail_id,
        next_action_at=due_at,
        level=0,
    )


def meet(
    app: App,
    session: Session,
    incident: Incident,
    met_by: str,
    site: str,
    at: dt.datetime,
    *,
    known: list[Deadline] | None = None,
) -> int:
    """Meet the open clocks of `site` that `met_by` satisfies; returns how many."""
    names = {r.name for r in app.rules if r.met_by == met_by}
    if not names:
        return 0
    if known is None:
        known = of_site(session, incident, site)
    count = 0
    for deadline in known:
        if (
            deadline.rule not in names
            or deadline.met_at is not None
            or deadline.state not in ("pending", "missed")
        ):
            continue
        _met(incident, deadline, at)
        count += 1
    return count


def _met(incident: Incident, deadline: Deadline, at: dt.datetime) -> None:
    deadline.met_at = at
    deadline.state = "met" if at <= deadline.due_at else "missed"
    deadline.next_action_at = None
    log.info(
        "%s clock %s for %s %s at %s",
        incident.tag,
        deadline.rule,
        deadline.site,
        deadline.state,
        at.isoformat(),
    )


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
            _met(incident, deadline, when)
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
        _met(incident, deadline, at)
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


def cancel_pending(session: Session, incident_ids: list[int]) -> None:
    """A false positive or a closed incident cancels every clock still open."""
    session.execute(
        update(Deadline)
        .where(Deadline.incident_id.in_(incident_ids), Deadline.state == "pending")
        .values(state="cancelled", next_action_at=None)
    )
    session.execute(
        update(Deadline)
        .where(
            Deadline.incident_id.in_(incident_ids),
            Deadline.state == "missed",
            Deadline.met_at.is_(None),
        )
        .values(next_action_at=None)
    )


def on_site_mail(
    app: App,
    session: Session,
    incident: Incident,
    mail: Mail,
    site: str,
    text: str,
    closure_counts: bool,
    replied_to: Collection[str] = (),
) -> None:
    """A human mail of `site`: what it starts and what it meets;
    `closure_counts` when it is a closure report labelled as it must be
    (csirt/closure.py); `replied_to` the Message-IDs of its In-Reply-To and
    References."""
    at = mail.event_at or mail.arrived_at
    first = fields.is_first_site(incident, site)
    known = of_site(session, incident, site)
    facts = _SiteFacts.of(session, incident, site, at, first, known)
    discovered = facts.discovered or at
    start(app, session, incident, "discovered", site, discovered, mail.id, known=known)
    meet(app, session, incident, "site_report", site, at, known=known)
    answer_requests(app, session, incident, mail, site, replied_to, known=known)
    # An address of the site's own networks blocked is its host (events.py).
    own = app.sites.site(site)
    owns = own.owns_address if own is not None else None
    if events.reports_isolation(text, owns) or facts.isolated is not None:
        isolated = facts.isolated or at
        if first:
            incident.isolated_at = isolated
        meet(
            app,
            session,
            incident,
            "containment",
            site,
            max(isolated, discovered),
            known=known,
        )
        start(app, session, incident, "isolated", site, isolated, mail.id, known=known)
    elif events.reports_switched_off(text):  # (not isolation: asked above)
        meet(app, session, incident, "containment", site, at, known=known)
    if events.reports_downtime(text):
        start(
            app,
            session,
            incident,
            "isolated",
            site,
            (incident.isolated_at if first else facts.isolated) or at,
            mail.id,
            known=known,
        )
        meet(app, session, incident, "downtime", site, at, known=known)
    if events.reports_resolution(text) and incident.resolved_at is None:
        incident.resolved_at = at
    if incident.resolved_at is not None:
        start_resolved(app, session, incident, {site: known}, mail.arrived_at)
    if closure_counts and not meet(
        app, session, incident, "closure_report", site, at, known=known
    ):
        _early_report(app, session, incident, mail, site, known)


def _early_report(
    app: App,
    session: Session,
    incident: Incident,
    mail: Mail,
    site: str,
    known: list[Deadline],
) -> None:
    """A closure report no clock owes yet (the incident not resolved, or
    its resolution withdrawn) is noted: the clock meets it when it starts."""
    names = {r.name for r in app.rules if r.met_by == "closure_report"}
    if any(d.rule in names and d.state != "cancelled" for d in known):
        return
    trail.note(
        session, incident.id, actor=site, action=REPORTED_EARLY,
        detail="closure report received before the resolution; it meets the"
        " closure report clock when that starts",
        mail_id=mail.id, at=app.clock.now(),
    )  # fmt: skip


@dataclass
class _SiteFacts:
    """When a site discovered its part of an incident and isolated it."""

    discovered: dt.datetime | None
    isolated: dt.datetime | None

    @classmethod
    def of(
        cls,
        session: Session,
        incident: Incident,
        site: str,
        at: dt.datetime,
        first: bool,
        known: list[Deadline],
    ) -> _SiteFacts:
        """The incident's own site has the incident's facts. Another site
        (asked by a member, joined by its own mail, merged in) has those of
        its own mails, never another site's: it discovered its part when
        it says, not before it was involved (the first mail of the incident
        that concerns it, or the first clock it owes: a member's request to
        it, alone or with other sites, or its own mail at `at`), and then
        when it was involved; it isolated when it says. `known` is the
        site's deadlines."""
        if first:
            return cls(incident.discovered_at, incident.isolated_at)
        own = fields.site_facts(session, incident, site)
        owed = [d.started_at for d in known if d.state != "cancelled"]
        involved = min(at, _involved_at(session, incident, site) or at, *owed)
        stated = own.get("discovered_at")
        discovered = involved if stated is None else max(stated, involved)
        return cls(discovered, own.get("isolated_at"))


# Built once (see incidents._BY_TAG): read for another site's every mail.
_FIRST_OF_SITE = (
    select(Mail.event_at, Mail.arrived_at)
    .where(Mail.incident_id == bindparam("incident"), Mail.site == bindparam("site"))
    .order_by(Mail.arrived_at, Mail.id)
    .limit(1)
)


def _involved_at(session: Session, incident: Incident, site: str) -> dt.datetime | None:
    """When the first mail of `incident` that concerns `site` was written."""
    with session.no_autoflush:
        values = {"incident": incident.id, "site": site}
        row = session.execute(_FIRST_OF_SITE, values).first()
    if row is None:
        return None
    return row.event_at or row.arrived_at


def start_resolved(
    app: App,
    session: Session,
    incident: Incident,
    known: dict[str, list[Deadline]] | None = None,
    seen: dt.datetime | None = None,
) -> None:
    """Resolution starts the closure-report clock of every site involved.

    `known` holds the deadlines of sites a caller keeps current (`start`);
    `seen` is when the mail that shows the resolution arrived (`start`).
    """
    assert incident.resolved_at is not None
    for site in site_names(session, incident):
        at, own = incident.resolved_at, (known or {}).get(site)
        start(app, session, incident, "resolved", site, at, known=own, seen=seen)


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
            _met(incident, deadline, max(answer, deadline.started_at))
