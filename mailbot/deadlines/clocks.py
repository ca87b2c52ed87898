"""Starting and meeting the procedure's clocks as mails are recorded.

Runs inside the recorded mail's transaction. Each site of an incident owes
its own clocks; a CSIRT request starts one analysis clock per addressed
site; the site's next human reply meets it.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailbot import tlp
from mailbot.app import App
from mailbot.db.models import Deadline, Incident, IncidentSite, Mail
from mailbot.deadlines import events
from mailbot.deadlines.rules import Rule
from mailbot.mail import ParsedMail

log = logging.getLogger(__name__)

_NO_REQUEST_RE = re.compile(r"^[ \t]*#no-request\b", re.I | re.M)


def sites_of(session: Session, incident: Incident) -> list[str]:
    return list(
        session.scalars(
            select(IncidentSite.site)
            .where(IncidentSite.incident_id == incident.id)
            .order_by(IncidentSite.id)
        )
    )


def start(
    app: App,
    session: Session,
    incident: Incident,
    event: str,
    site: str,
    at: dt.datetime,
    mail_id: int | None = None,
) -> list[Deadline]:
    """Start every rule that starts on `event` for `site`, once each."""
    started = []
    for rule in app.rules:
        if rule.starts_on != event:
            continue
        existing = _find(
            session, incident, rule.name, site, mail_id if event == "request" else None
        )
        if existing is not None:
            continue
        started.append(_create(app, session, incident, rule, site, at, mail_id))
    return started


def _find(
    session: Session, incident: Incident, rule: str, site: str, mail_id: int | None
) -> Deadline | None:
    query = select(Deadline).where(
        Deadline.incident_id == incident.id,
        Deadline.rule == rule,
        Deadline.site == site,
    )
    if mail_id is not None:
        query = query.where(Deadline.start_mail_id == mail_id)
    return session.scalars(query.order_by(Deadline.id)).first()


def _create(
    app: App,
    session: Session,
    incident: Incident,
    rule: Rule,
    site: str,
    at: dt.datetime,
    mail_id: int | None,
) -> Deadline:
    due = rule.due_at(at, app.calendar(site))
    now = app.clock.now()
    deadline = Deadline(
        incident_id=incident.id,
        rule=rule.name,
        site=site,
        started_at=at,
        due_at=due,
        state="pending",
        start_mail_id=mail_id,
        next_action_at=due,
        level=0,
    )
    # A clock first seen long past its due time records the miss and sends
    # nothing: importing an old mailbox must flood no one.
    if now > due and app.chase_policy.too_late(due, now):
        deadline.state, deadline.next_action_at = "missed", None
    session.add(deadline)
    session.flush()
    log.info(
        "%s clock %s for %s started %s, due %s",
        incident.tag,
        rule.name,
        site,
        at.isoformat(),
        due.isoformat(),
    )
    return deadline


def meet(
    app: App,
    session: Session,
    incident: Incident,
    met_by: str,
    site: str,
    at: dt.datetime,
    *,
    started_before: bool = False,
) -> int:
    """Meet the open clocks of `site` that `met_by` satisfies; returns how many."""
    names = [r.name for r in app.rules if r.met_by == met_by]
    query = select(Deadline).where(
        Deadline.incident_id == incident.id,
        Deadline.site == site,
        Deadline.rule.in_(names),
        Deadline.met_at.is_(None),
        Deadline.state.in_(("pending", "missed")),
    )
    if started_before:
        query = query.where(Deadline.started_at <= at)
    count = 0
    for deadline in session.scalars(query):
        deadline.met_at = at
        deadline.state = "met" if at <= deadline.due_at else "missed"
        deadline.next_action_at = None
        count += 1
        log.info(
            "%s clock %s for %s %s at %s",
            incident.tag,
            deadline.rule,
            site,
            deadline.state,
            at.isoformat(),
        )
    return count


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
    is_closure: bool,
    labels: list[str],
) -> None:
    """A human mail of `site`: what it starts and what it meets."""
    at = mail.event_at or mail.arrived_at
    discovered = incident.discovered_at or at
    start(app, session, incident, "discovered", site, discovered, mail.id)
    meet(app, session, incident, "site_report", site, at)
    meet(app, session, incident, "site_reply", site, at, started_before=True)
    if events.reports_isolation(text) or incident.isolated_at is not None:
        isolated = incident.isolated_at or at
        incident.isolated_at = isolated
        meet(app, session, incident, "containment", site, max(isolated, discovered))
        start(app, session, incident, "isolated", site, isolated, mail.id)
    elif events.reports_containment(text):
        meet(app, session, incident, "containment", site, at)
    if events.reports_downtime(text):
        start(
            app,
            session,
            incident,
            "isolated",
            site,
            incident.isolated_at or at,
            mail.id,
        )
        meet(app, session, incident, "downtime", site, at)
    if events.reports_resolution(text) and incident.resolved_at is None:
        incident.resolved_at = at
    if incident.resolved_at is not None:
        start_resolved(app, session, incident)
    if is_closure and _explicit_amber_or_red(labels):
        meet(app, session, incident, "closure_report", site, at)


def _explicit_amber_or_red(labels: list[str]) -> bool:
    return tlp.strictest(labels) in ("AMBER", "AMBER+STRICT", "RED")


def start_resolved(app: App, session: Session, incident: Incident) -> None:
    """Resolution starts the closure-report clock of every site involved."""
    assert incident.resolved_at is not None
    for site in sites_of(session, incident):
        start(app, session, incident, "resolved", site, incident.resolved_at)


def on_csirt_mail(
    app: App,
    session: Session,
    incident: Incident,
    mail: Mail,
    parsed: ParsedMail,
    text: str,
) -> list[str]:
    """A member's mail to a site's contacts is a request, unless #no-request."""
    if _NO_REQUEST_RE.search(text):
        return []
    addressed = {a.addr for a in (*parsed.to, *parsed.cc)}
    requested = []
    for name in sites_of(session, incident):
        site = app.sites.site(name)
        if site is None:
            continue
        if any(
            a in site.security_contacts or site.owns_domain(a.rpartition("@")[2])
            for a in addressed
        ):
            start(
                app,
                session,
                incident,
                "request",
                name,
                mail.event_at or mail.arrived_at,
                mail.id,
            )
            requested.append(name)
    return requested
