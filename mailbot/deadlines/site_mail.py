"""A site's human mail: the clocks it starts and the clocks it meets.

Runs inside the recorded mail's transaction, with clocks.py and answers.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from mailbot import fields
from mailbot.app import App
from mailbot.csirt import trail
from mailbot.db.models import Deadline, Incident, Mail
from mailbot.deadlines import events
from mailbot.deadlines.answers import answer_requests
from mailbot.deadlines.clocks import (
    REPORTED_EARLY,
    meet,
    of_site,
    start,
    start_resolved,
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
