"""The daily digest for the CSIRT duty team, sent once per local day.

At `[digest] time` in `[mailbot] timezone` (deadlines/daily.py decides the
instant across DST changes, BR-33) the duty address gets one mail: open
incidents, deadlines missed since the last digest, what falls due in the
next 24 hours, the quarantine and the contacts whose mail bounces. Nothing
is sent on a day with nothing to say.

Exactly once: the day is marked done by a service_state row whose key holds
the local date, written in the transaction that queues the mail. A second
process, a restart or a late wake-up finds the row and sends nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailbot import bounces, compose, outbox, render, tlp
from mailbot.app import App
from mailbot.clock import iso, parse_instant
from mailbot.db.models import (
    CHASED_STATUSES,
    ContactFailure,
    Deadline,
    Incident,
    Mail,
    ServiceState,
)
from mailbot.deadlines.calendar import load_zone
from mailbot.deadlines.daily import next_daily_run

log = logging.getLogger(__name__)

DAY_KEY = "digest:"
LAST_KEY = "digest_last_at"
TEMPLATE = "digest.txt.j2"
QUARANTINE_LISTED = 20


@dataclass
class Digest:
    """What the duty team is told; every list holds plain values."""

    day: dt.date
    now: dt.datetime
    since: dt.datetime
    open_incidents: list[dict[str, Any]] = field(default_factory=list)
    missed: list[dict[str, Any]] = field(default_factory=list)
    due_soon: list[dict[str, Any]] = field(default_factory=list)
    overdue: list[dict[str, Any]] = field(default_factory=list)
    quarantined: int = 0
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    bouncing: list[dict[str, Any]] = field(default_factory=list)
    tlp_labels: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (
            self.open_incidents
            or self.missed
            or self.due_soon
            or self.quarantined
            or self.bouncing
        )


def latest_run(now: dt.datetime, local_time: str, tz: str) -> dt.datetime:
    """The last daily run at or before `now` (BR-33 rules: deadlines/daily.py)."""
    run = next_daily_run(now - dt.timedelta(days=3), local_time, tz)
    last = run
    while run <= now:
        last, run = run, next_daily_run(run, local_time, tz)
    return last


def run_due(app: App) -> str | None:
    """Send today's digest if its time has come and it was not sent yet.

    Returns the outcome ("sent", "empty", "baseline" on the very first
    start) for the day handled now, or None when there was nothing to do.
    """
    at, duty = app.settings.digest.time, app.settings.csirt.duty_address
    if not at or not duty:
        return None
    now = app.clock.now()
    tz = app.settings.mailbot.timezone
    run = latest_run(now, at, tz)
    day = run.astimezone(load_zone(tz)).date()
    key = DAY_KEY + day.isoformat()
    try:
        with app.db.transaction() as session:
            if session.get(ServiceState, key) is not None:
                return None
            last = session.get(ServiceState, LAST_KEY)
            if last is None:
                outcome = "baseline"
            else:
                digest = collect(app, session, day, now, parse_instant(last.value))
                outcome = "empty" if digest.empty else "sent"
            session.add(ServiceState(key=key, value=outcome, updated_at=now))
            session.flush()
            if outcome == "sent":
                _queue(app, session, digest, duty)
            _remember(session, LAST_KEY, iso(now) or "", now)
    except IntegrityError:
        log.info("digest %s already handled by another process", day)
        return None
    log.info("digest %s %s", day, _OUTCOMES[outcome])
    return outcome


_OUTCOMES = {
    "sent": "queued",
    "empty": "has nothing to say, not sent",
    # A new installation has no "last digest" to count from; its first
    # digest is the next day's, not a burst of catch-up at the first start.
    "baseline": "skipped: first start, digests begin with the next run",
}


def since(session: Session, now: dt.datetime) -> dt.datetime:
    """When the last digest was handled; a day ago when none ever was."""
    row = session.get(ServiceState, LAST_KEY)
    return parse_instant(row.value) if row and row.value else now - dt.timedelta(days=1)


def local_day(now: dt.datetime, tz: str) -> dt.date:
    return now.astimezone(load_zone(tz)).date()


def _remember(session: Session, key: str, value: str, now: dt.datetime) -> None:
    row = session.get(ServiceState, key)
    if row is None:
        session.add(ServiceState(key=key, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now


def collect(
    app: App, session: Session, day: dt.date, now: dt.datetime, since: dt.datetime
) -> Digest:
    digest = Digest(day=day, now=now, since=since)
    incidents = {
        i.id: i
        for i in session.scalars(
            select(Incident).where(
                Incident.status == "open", Incident.merged_into_id.is_(None)
            )
        )
    }
    digest.open_incidents = [
        _incident(i) for i in sorted(incidents.values(), key=lambda i: i.opened_at)
    ]
    digest.missed = _deadlines(
        session,
        Deadline.state == "missed",
        Deadline.due_at > since,
        Deadline.due_at <= now,
    )
    # Missed earlier and still unanswered: the duty team is told every day.
    digest.overdue = _deadlines(
        session,
        Deadline.state == "missed",
        Deadline.met_at.is_(None),
        Deadline.due_at <= since,
        Incident.status.in_(CHASED_STATUSES),
    )
    digest.due_soon = _deadlines(
        session,
        Deadline.state == "pending",
        Deadline.due_at > now,
        Deadline.due_at <= now + dt.timedelta(hours=24),
    )
    _quarantine(session, digest)
    digest.bouncing = [
        {
            "address": c.address,
            "status": c.status,
            "failed_at": iso(c.failed_at),
            # Who names it, so the digest says what to correct: mailbot's
            # configuration, the sites file, or neither (bounces.advice).
            "setting": bounces.ours(app.settings, c.address),
            "sites": bounces.named_by(app.sites, c.address),
        }
        for c in session.scalars(
            select(ContactFailure)
            .where(ContactFailure.permanent.is_(True))
            .order_by(ContactFailure.address)
        )
    ]
    digest.tlp_labels = [i.tlp for i in incidents.values()] + [
        d["tlp"] for d in (*digest.missed, *digest.overdue, *digest.due_soon)
    ]
    return digest


def _incident(incident: Incident) -> dict[str, Any]:
    return {
        "tag": incident.tag,
        "site": incident.site or "unknown site",
        "tlp": incident.tlp,
        "subject": compose.short_subject(incident.subject or ""),
        "opened_at": iso(incident.opened_at),
    }


def _deadlines(session: Session, *where: Any) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Deadline, Incident)
        .join(Incident, Incident.id == Deadline.incident_id)
        .where(*where)
        .order_by(Deadline.due_at, Deadline.id)
    ).all()
    return [
        {
            "tag": incident.tag,
            "tlp": incident.tlp,
            "rule": deadline.rule,
            "site": deadline.site or "unknown site",
            "due_at": iso(deadline.due_at),
            "met_at": iso(deadline.met_at),
        }
        for deadline, incident in rows
    ]


def _quarantine(session: Session, digest: Digest) -> None:
    where = Mail.state == "quarantined"
    digest.quarantined = int(
        session.scalar(select(func.count()).select_from(Mail).where(where)) or 0
    )
    digest.quarantine = [
        {"id": m.id, "stage": m.stage, "reason": (m.error or "")[:200]}
        for m in session.scalars(
            select(Mail).where(where).order_by(Mail.id.desc()).limit(QUARANTINE_LISTED)
        )
    ]


def render_digest(app: App, digest: Digest) -> tuple[str, str, str]:
    """(subject, body, TLP label) of the digest mail."""
    label = tlp.strictest(digest.tlp_labels) or tlp.DEFAULT
    subject, body = render.render(
        app.templates,
        TEMPLATE,
        day=digest.day.isoformat(),
        now=iso(digest.now),
        since=iso(digest.since),
        open_incidents=digest.open_incidents,
        missed=digest.missed,
        overdue=digest.overdue,
        due_soon=digest.due_soon,
        quarantined=digest.quarantined,
        quarantine=digest.quarantine,
        bouncing=digest.bouncing,
        mailbox=app.settings.mailbot.address,
    )
    return compose.clean_header(f"[TLP:{label}] {subject}"), body, label


def _queue(app: App, session: Session, digest: Digest, duty: str) -> None:
    subject, body, label = render_digest(app, digest)
    outgoing = compose.compose(
        sender=app.settings.mailbot.address,
        to=[duty],
        subject=subject,
        body=body,
        tlp_label=label,
        message_id=compose.new_message_id(None, app.settings.mailbot.domain),
        date=digest.now,
    )
    outbox.queue(session, outgoing, purpose="digest", incident_id=None, now=digest.now)
