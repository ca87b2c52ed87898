"""Starting and meeting the procedure's clocks as mails are recorded.

Runs inside the recorded mail's transaction. Each site of an incident owes
its own clocks; a CSIRT request starts one analysis clock per addressed
site; the site's next human reply meets it.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from mailbot.app import App
from mailbot.db.engine import flush_for
from mailbot.db.models import CHASED_STATUSES, Deadline, Incident, Mail
from mailbot.deadlines import events
from mailbot.deadlines.rules import Rule
from mailbot.incidents import site_names
from mailbot.mail import ParsedMail

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
) -> list[Deadline]:
    """Start every rule that starts on `event` for `site`, once each.

    `known` is the site's deadlines in this incident (see `of_site`), kept
    current here, for a caller that starts and meets several in a row.
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
        deadline = _create(app, session, incident, rule, site, at, mail_id)
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
    fresh = Deadline(
        incident_id=deadline.incident_id,
        rule=deadline.rule,
        site=site,
        started_at=started_at,
        due_at=due_at,
        state="pending",
        start_mail_id=deadline.start_mail_id,
        next_action_at=due_at,
        level=0,
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


def meet(
    app: App,
    session: Session,
    incident: Incident,
    met_by: str,
    site: str,
    at: dt.datetime,
    *,
    started_before: bool = False,
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
            or (started_before and deadline.started_at > at)
        ):
            continue
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
    closure_counts: bool,
) -> None:
    """A human mail of `site`: what it starts and what it meets;
    `closure_counts` when it is a closure report labelled as it must be
    (csirt/closure.py)."""
    at = mail.event_at or mail.arrived_at
    discovered = incident.discovered_at or at
    known = of_site(session, incident, site)
    start(app, session, incident, "discovered", site, discovered, mail.id, known=known)
    meet(app, session, incident, "site_report", site, at, known=known)
    meet(
        app, session, incident, "site_reply", site, at, started_before=True, known=known
    )
    if events.reports_isolation(text) or incident.isolated_at is not None:
        isolated = incident.isolated_at or at
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
            incident.isolated_at or at,
            mail.id,
            known=known,
        )
        meet(app, session, incident, "downtime", site, at, known=known)
    if events.reports_resolution(text) and incident.resolved_at is None:
        incident.resolved_at = at
    if incident.resolved_at is not None:
        start_resolved(app, session, incident, {site: known})
    if closure_counts:
        meet(app, session, incident, "closure_report", site, at, known=known)


def start_resolved(
    app: App,
    session: Session,
    incident: Incident,
    known: dict[str, list[Deadline]] | None = None,
) -> None:
    """Resolution starts the closure-report clock of every site involved.

    `known` holds the deadlines of sites a caller keeps current (`start`).
    """
    assert incident.resolved_at is not None
    for site in site_names(session, incident):
        at = incident.resolved_at
        start(
            app, session, incident, "resolved", site, at, known=(known or {}).get(site)
        )


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
