"""The sweep: deadlines that fell due become reminders, each level once.

Only rows whose `next_action_at` has come are read (an index, not a scan).
Each is handled in its own transaction: the chase row, unique per
(deadline, level), is written with its outbox row, so restarts, repeated
sweeps and two daemons send a reminder once (BR-30).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailbot.app import App
from mailbot.db.models import Chase, Deadline, Incident
from mailbot.deadlines import chase

log = logging.getLogger(__name__)

BATCH = 500


@dataclass
class SweepResult:
    examined: int = 0
    missed: int = 0
    reminders: int = 0
    rescheduled: int = 0
    queued: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "examined": self.examined,
            "missed": self.missed,
            "reminders": self.reminders,
            "rescheduled": self.rescheduled,
        }


def due_ids(app: App, now: dt.datetime, after_id: int = 0) -> list[int]:
    with app.db.transaction() as session:
        return list(
            session.scalars(
                select(Deadline.id)
                .where(Deadline.next_action_at <= now, Deadline.id > after_id)
                .order_by(Deadline.id)
                .limit(BATCH)
            )
        )


def sweep(app: App) -> dict[str, object]:
    """One pass over everything due now; returns what happened."""
    now = app.clock.now()
    result = SweepResult()
    last = 0
    while ids := due_ids(app, now, last):
        for deadline_id in ids:
            _one(app, deadline_id, now, result)
        last = ids[-1]
    if result.examined:
        log.info(
            "sweep: %d due, %d newly missed, %d reminders queued",
            result.examined,
            result.missed,
            result.reminders,
        )
    return result.as_dict()


def _one(app: App, deadline_id: int, now: dt.datetime, result: SweepResult) -> None:
    try:
        with app.db.transaction() as session:
            query = select(Deadline).where(Deadline.id == deadline_id)
            if not app.db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            deadline = session.scalars(query).first()
            # Another process took it, or it changed since it was listed.
            if (
                deadline is None
                or deadline.next_action_at is None
                or deadline.next_action_at > now
            ):
                return
            result.examined += 1
            incident = session.get(Incident, deadline.incident_id)
            assert incident is not None
            _act(app, session, incident, deadline, now, result)
    except IntegrityError:
        # The same level was recorded by another process meanwhile: it sent it.
        log.info(
            "deadline %d level already recorded elsewhere; nothing sent", deadline_id
        )


def _act(
    app: App,
    session: Session,
    incident: Incident,
    deadline: Deadline,
    now: dt.datetime,
    result: SweepResult,
) -> None:
    if deadline.met_at is not None or incident.status != "open":
        deadline.next_action_at = None
        return
    if deadline.state == "pending" and now >= deadline.due_at:
        _record_missed(incident, deadline, result)
    policy = app.chase_policy
    # Lateness is judged when mailbot first sees the miss: an old mailbox
    # imported, or a return from a long outage, floods no one.
    if deadline.level == 0 and policy.too_late(deadline.due_at, now):
        deadline.next_action_at = None
        log.info(
            "%s clock %s for %s first seen too late to chase; nothing sent",
            incident.tag,
            deadline.rule,
            deadline.site,
        )
        return
    level = deadline.level + 1
    if level > policy.levels:
        deadline.next_action_at = None
        return
    calendar = app.calendar(deadline.site)
    when = chase.level_time(app, session, deadline, level, calendar)
    when = chase.send_time(app, level, max(when, now), calendar)
    if now < when:
        deadline.next_action_at = when
        result.rescheduled += 1
        return
    _chase(app, session, incident, deadline, level, now, result)


def _record_missed(incident: Incident, deadline: Deadline, result: SweepResult) -> None:
    deadline.state = "missed"
    result.missed += 1
    log.info(
        "%s clock %s for %s missed (due %s)",
        incident.tag,
        deadline.rule,
        deadline.site,
        deadline.due_at.isoformat(),
    )


def _chase(
    app: App,
    session: Session,
    incident: Incident,
    deadline: Deadline,
    level: int,
    now: dt.datetime,
    result: SweepResult,
) -> None:
    """Record level `level` and queue its mail, in the caller's transaction."""
    # The unique (deadline, level) row is flushed before anything is queued:
    # a second sweep that got here too fails on it and its transaction,
    # outbox row included, is rolled back.
    row = Chase(deadline_id=deadline.id, level=level, queued_at=now)
    session.add(row)
    session.flush()
    if chase.queue_reminder(app, session, incident, deadline, level, row):
        result.reminders += 1
        result.queued.append(f"{incident.tag}:{deadline.rule}:{level}")
    deadline.level = level
    policy = app.chase_policy
    calendar = app.calendar(deadline.site)
    deadline.next_action_at = (
        chase.level_time(app, session, deadline, level + 1, calendar, previous=now)
        if level < policy.levels
        else None
    )
