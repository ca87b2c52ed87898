"""The clocks a reopened incident owes again.

Closing an incident (or calling it a false positive) cancels its pending
clocks and stops chasing its missed ones; the sweep cancels a clock found
pending in an ended incident. Reopened, the incident owes what an open
incident of its state owes: each clock that ended cancelled, unmet and
unanswered, starts again at the reopening, with its full time; a missed
clock is chased again, and one never reminded because it was first seen
past the lateness (an old mailbox imported, a long outage) starts again
at the reopening as a cancelled one does: the member's reopening is news
of now, and its new due time is chased; a clock of an event recorded
while the incident was ended (an isolation, a resolution) starts at the
reopening. A clock met stays met.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mailbot import fields, roles
from mailbot.app import App
from mailbot.db.models import Deadline, Incident, Mail
from mailbot.deadlines import clocks
from mailbot.deadlines.rules import Rule
from mailbot.incidents import site_names

log = logging.getLogger(__name__)


@dataclass
class Resumed:
    """What a reopening did to the clocks."""

    started: int = 0
    chased: int = 0


def resume(
    app: App, session: Session, incident: Incident, at: dt.datetime, mail_id: int
) -> Resumed:
    """Start again, at `at`, the clocks reopened `incident` owes; chase
    again the missed ones. Call once its status is open again."""
    done = Resumed()
    for site in site_names(session, incident):
        known = clocks.of_site(session, incident, site)
        isolated = _isolated(session, incident, site)
        for rule in app.rules:
            for group in _groups(incident, rule, known, isolated):
                _resume_one(
                    app, session, incident, rule, site, group, at, mail_id, done
                )
    return done


def _isolated(session: Session, incident: Incident, site: str) -> bool:
    """Whether `site` isolated: the incident's own site when the incident
    did, another when its own mails say so (never another site's word)."""
    if fields.is_first_site(incident, site):
        return incident.isolated_at is not None
    return "isolated_at" in fields.site_facts(session, incident, site)


def _groups(
    incident: Incident, rule: Rule, known: list[Deadline], isolated: bool
) -> Iterable[list[Deadline]]:
    """A site's clocks of `rule`, one list per clock owed: per request for a
    request's rule; for another, all of them (an empty list when its event
    was recorded and no clock ever started)."""
    mine = [d for d in known if d.rule == rule.name]
    if rule.starts_on == "resolved" and incident.resolved_at is None:
        # Reopening withdrew the resolution: no closure report is owed
        # until the next one.
        return []
    if rule.starts_on == "request":
        by_request: dict[int | None, list[Deadline]] = {}
        for deadline in mine:
            by_request.setdefault(deadline.start_mail_id, []).append(deadline)
        return list(by_request.values())
    if mine or _happened(incident, rule.starts_on, isolated):
        return [mine]
    return []


def _happened(incident: Incident, event: str, isolated: bool) -> bool:
    """Whether `event` was recorded; "isolated" is the site's own isolation
    (_isolated), not another site's."""
    if event == "isolated":
        return isolated
    return {
        "discovered": incident.discovered_at,
        "resolved": incident.resolved_at,
    }.get(event) is not None


def _resume_one(
    app: App,
    session: Session,
    incident: Incident,
    rule: Rule,
    site: str,
    group: list[Deadline],
    at: dt.datetime,
    mail_id: int,
    done: Resumed,
) -> None:
    if any(d.met_at is not None or d.state == "pending" for d in group):
        return
    missed = [d for d in group if d.state == "missed"]
    if missed and _chase_again(app, missed, at, done):
        return
    since = min((d.started_at for d in group), default=None)
    if _answered(app, session, incident, rule, site, since):
        return
    start_mail = group[0].start_mail_id if group else mail_id
    deadline = Deadline(
        incident_id=incident.id, rule=rule.name, site=site, started_at=at,
        due_at=rule.due_at(at, app.calendar(site)), state="pending",
        start_mail_id=start_mail, level=0,
    )  # fmt: skip
    deadline.next_action_at = deadline.due_at
    session.add(deadline)
    done.started += 1
    log.info(
        "%s clock %s for %s started again at the reopening, due %s",
        incident.tag, rule.name, site, deadline.due_at.isoformat(),
    )  # fmt: skip


def _chase_again(
    app: App, missed: list[Deadline], at: dt.datetime, done: Resumed
) -> bool:
    """Chase again, from the level it had reached, each missed clock that
    was overdue before the incident ended; False when none can be (each was
    never reminded and is past the lateness now: the clock starts again)."""
    policy = app.chase_policy
    chased = False
    for deadline in missed:
        # One never chased, past the lateness (seen too late, or its
        # incident ended before its turn), is not chased for its old due
        # time: the reopening starts the clock afresh instead.
        if deadline.level == 0 and policy.too_late(deadline.due_at, at):
            continue
        chased = True
        if deadline.level < policy.levels:
            deadline.next_action_at = deadline.next_action_at or at
            done.chased += 1
    return chased


def _answered(
    app: App,
    session: Session,
    incident: Incident,
    rule: Rule,
    site: str,
    since: dt.datetime | None,
) -> bool:
    """Whether what `rule` asks was done while the incident was ended: the
    site wrote (a report, a reply), or its isolation was recorded."""
    if rule.met_by == "containment":
        return _isolated(session, incident, site)
    if rule.met_by not in ("site_report", "site_reply"):
        return False
    # A reply of a security contact several sites share answers each of
    # them (answers.answer_requests); its report is the site's it names.
    known = app.sites.site(site)
    contacts = sorted(known.security_contacts) if known else []
    query = select(Mail.role, Mail.flags).where(
        Mail.incident_id == incident.id,
        Mail.direction == "in",
        # A member's mail counts when the member wrote for the site too.
        Mail.role.in_(("site", "csirt")),
        or_(Mail.site == site, Mail.from_addr.in_(contacts))
        if rule.met_by == "site_reply" and contacts
        else Mail.site == site,
    )
    if since is not None:
        query = query.where(Mail.arrived_at >= since)
    return any(
        roles.writes_for_site(role, flags) for role, flags in session.execute(query)
    )
