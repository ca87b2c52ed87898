"""Starting and meeting the procedure's clocks as mails are recorded.

Runs inside the recorded mail's transaction. Each site of an incident owes
its own clocks; a CSIRT request starts one analysis clock per addressed
site; the site's next human reply meets it. Here: starting, meeting and
cancelling clocks; the request clocks and the answers that meet them are
in answers.py, what a site's own mail starts and meets in site_mail.py.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from mailbot.app import App
from mailbot.db.engine import flush_for
from mailbot.db.models import CHASED_STATUSES, Audit, Deadline, Incident, Mail
from mailbot.deadlines.rules import Rule
from mailbot.incidents import site_names

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
        record_met(incident, deadline, max(written, deadline.started_at))


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
        record_met(incident, deadline, at)
        count += 1
    return count


def record_met(incident: Incident, deadline: Deadline, at: dt.datetime) -> None:
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
