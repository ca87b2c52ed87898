"""The sweep: deadlines that fell due become reminders, each level once.

Only rows whose `next_action_at` has come are read, in the order of that
index (an index, not a scan), in batches. A batch is one transaction, and
each deadline in it one savepoint: the chase row, unique per (deadline,
level), is written with its outbox row, so restarts, repeated sweeps and
two daemons send a reminder once (BR-30), and a level another process
recorded meanwhile undoes that deadline's work alone.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field, fields

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailbot import brake
from mailbot.app import App
from mailbot.db.models import CHASED_STATUSES, Chase, Deadline, Incident, Mail
from mailbot.deadlines import chase

log = logging.getLogger(__name__)

# Deadlines listed per query, and handled per transaction: a transaction
# holds SQLite's write lock, so it stays short enough for the intake.
BATCH = 500
TRANSACTION = 50


@dataclass
class SweepResult:
    examined: int = 0
    missed: int = 0
    reminders: int = 0
    rescheduled: int = 0
    queued: list[str] = field(default_factory=list)

    def add(self, other: SweepResult) -> None:
        for name in ("examined", "missed", "reminders", "rescheduled"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.queued.extend(other.queued)

    def as_dict(self) -> dict[str, object]:
        return {
            f.name: getattr(self, f.name) for f in fields(self) if f.name != "queued"
        }


Position = tuple[dt.datetime, int]
# The reminder of each (incident, rule, site, level) sent within
# chase.SHARED, or queued in this transaction: the mail (its id once
# written) that other deadlines of the group falling due share.
Shared = dict[chase.Group, "Mail | int"]


def due(app: App, now: dt.datetime, after: Position | None = None) -> list[Position]:
    """(next_action_at, id) of due deadlines after `after`, in index order."""
    query = select(Deadline.next_action_at, Deadline.id).where(
        Deadline.next_action_at <= now
    )
    if after is not None:
        moment, last_id = after
        query = query.where(
            Deadline.next_action_at >= moment,
            or_(
                Deadline.next_action_at > moment,
                and_(Deadline.next_action_at == moment, Deadline.id > last_id),
            ),
        )
    query = query.order_by(Deadline.next_action_at, Deadline.id).limit(BATCH)
    with app.db.transaction() as session:
        # next_action_at <= now: never None here.
        return [(moment, id_) for moment, id_ in session.execute(query) if moment]


def sweep(app: App) -> dict[str, object]:
    """One pass over everything due now; returns what happened."""
    now = app.clock.now()
    result = SweepResult()
    after: Position | None = None
    while listed := due(app, now, after):
        ids = [id_ for _, id_ in listed]
        for first in range(0, len(ids), TRANSACTION):
            _batch(app, ids[first : first + TRANSACTION], now, result)
        after = listed[-1]
    if result.examined:
        log.info(
            "sweep: %d due, %d newly missed, %d reminders queued",
            result.examined,
            result.missed,
            result.reminders,
        )
    return result.as_dict()


def _batch(app: App, ids: list[int], now: dt.datetime, result: SweepResult) -> None:
    """Handle `ids` in one transaction; one savepoint each if that fails."""
    try:
        done = SweepResult()
        with app.db.transaction() as session:
            claimed = _claim(app, session, ids, now)
            known = chase.read_ahead(session, [d for _, d in claimed], now)
            brake.keep_tally(app, session, {i.id for i, _ in claimed})
            shared: Shared = dict(known.recent)
            for incident, deadline in claimed:
                _act(app, session, incident, deadline, now, done, known, shared)
        result.add(done)
        return
    except IntegrityError:
        # Another process recorded one of these levels meanwhile; the locks
        # make that rare, so only then is each deadline kept apart.
        log.info("sweep: a level was recorded elsewhere; redoing %d apart", len(ids))
    with app.db.transaction() as session:
        for incident, deadline in _claim(app, session, ids, now):
            _one(app, session, incident, deadline, now, result)


def _claim(
    app: App, session: Session, ids: list[int], now: dt.datetime
) -> list[tuple[Incident, Deadline]]:
    """The listed deadlines that are still due, locked, with their incidents."""
    query = select(Deadline).where(Deadline.id.in_(ids)).order_by(Deadline.id)
    if not app.db.is_sqlite:
        # Rows another sweeper holds are its to handle.
        query = query.with_for_update(skip_locked=True)
    # Each may have changed since it was listed.
    deadlines = [
        d
        for d in session.scalars(query)
        if d.next_action_at is not None and d.next_action_at <= now
    ]
    wanted = {d.incident_id for d in deadlines}
    incidents = {
        i.id: i
        for i in session.scalars(select(Incident).where(Incident.id.in_(wanted)))
    }
    return [(incidents[d.incident_id], d) for d in deadlines]


def _one(
    app: App,
    session: Session,
    incident: Incident,
    deadline: Deadline,
    now: dt.datetime,
    result: SweepResult,
) -> None:
    done = SweepResult()
    try:
        with session.begin_nested():
            # Read within the savepoint: what it undoes must not be known.
            known = chase.read_ahead(session, [deadline], now)
            _act(app, session, incident, deadline, now, done, known, dict(known.recent))
    except IntegrityError:
        log.info(
            "%s clock %s level already recorded elsewhere; nothing sent",
            incident.tag,
            deadline.rule,
        )
        return
    result.add(done)


def _act(
    app: App,
    session: Session,
    incident: Incident,
    deadline: Deadline,
    now: dt.datetime,
    result: SweepResult,
    known: chase.ReadAhead,
    shared: Shared | None = None,
) -> None:
    result.examined += 1
    if deadline.met_at is not None or incident.status not in CHASED_STATUSES:
        deadline.next_action_at = None
        _cancel_unchased(incident, deadline)
        return
    # Lateness is judged when mailbot first sees the miss, and only then:
    # an old mailbox imported, or a return from a long outage, floods no
    # one, but a miss recorded in time (its first reminder waiting for the
    # end of a long holiday) is chased when its time comes.
    first_seen = deadline.state == "pending" and now >= deadline.due_at
    if first_seen:
        _record_missed(incident, deadline, result)
    policy = app.chase_policy
    if first_seen and deadline.level == 0 and policy.too_late(deadline.due_at, now):
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
    if (deadline.id, deadline.level) in known.held:
        # The last level is held by the caps or the brake: no one got it,
        # so the next one (the NGI in copy, the duty team told the site is
        # silent) must not follow it yet.
        deadline.next_action_at = now + chase.HELD_RECHECK
        result.rescheduled += 1
        log.info(
            "%s clock %s for %s: level %d held, level %d waits for it",
            incident.tag,
            deadline.rule,
            deadline.site,
            deadline.level,
            level,
        )
        return
    calendar = app.calendar(deadline.site)
    previous = known.last_chase.get(deadline.id)
    when = chase.level_time(app, session, deadline, level, calendar, previous)
    when = chase.send_time(app, level, max(when, now), calendar)
    if now < when:
        deadline.next_action_at = when
        result.rescheduled += 1
        return
    _chase(app, session, incident, deadline, level, now, result, known, shared)


def _cancel_unchased(incident: Incident, deadline: Deadline) -> None:
    """A clock still pending where nothing is chased is cancelled, as #close
    cancels them, and said; left pending it would wait unseen for ever."""
    if deadline.state != "pending" or incident.status in CHASED_STATUSES:
        return
    deadline.state = "cancelled"
    log.warning(
        "%s clock %s for %s pending in a %s incident: cancelled",
        incident.tag,
        deadline.rule,
        deadline.site,
        incident.status,
    )


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
    known: chase.ReadAhead,
    shared: Shared | None = None,
) -> None:
    """Record level `level` and queue its mail, in the caller's transaction."""
    # The unique (deadline, level) row goes in with the outbox row: a second
    # sweep that got here too fails on it, and its outbox row is undone.
    row = Chase(deadline_id=deadline.id, level=level, queued_at=now)
    session.add(row)
    key = (incident.id, deadline.rule, deadline.site, level)
    sent = shared.get(key) if shared is not None else None
    if isinstance(sent, int):
        row.mail_id = sent
    elif sent is not None:
        # One reply meets every request left open: one mail asks for it.
        row.mail = sent
    elif chase.queue_reminder(app, session, incident, deadline, level, row, known):
        result.reminders += 1
        result.queued.append(f"{incident.tag}:{deadline.rule}:{level}")
        if shared is not None and row.mail is not None:
            shared[key] = row.mail
    deadline.level = level
    policy = app.chase_policy
    calendar = app.calendar(deadline.site)
    deadline.next_action_at = (
        chase.level_time(app, session, deadline, level + 1, calendar, previous=now)
        if level < policy.levels
        else None
    )
