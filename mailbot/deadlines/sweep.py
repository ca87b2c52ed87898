"""The sweep: deadlines that fell due become reminders, each level once.

Only rows whose `next_action_at` has come are read, in the order of that
index (an index, not a scan), in batches. A batch is one transaction, with
every clock due of the incidents it holds: the clocks of one site due
together go out in one mail (together.py). The chase rows, unique per
(deadline, level), are written with their outbox row, so restarts,
repeated sweeps and two daemons send a reminder once (BR-30); when
another process recorded a level meanwhile, the batch is done again with
one savepoint per incident, and that incident's work alone is undone.
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
from mailbot.db.models import CHASED_STATUSES, Chase, Deadline, Incident
from mailbot.deadlines import chase, together

log = logging.getLogger(__name__)

# Deadlines listed per query, and handled per transaction: a transaction
# holds SQLite's write lock, so it stays short enough for the intake.
BATCH = 500
TRANSACTION = 50
# (incident id, site, audience): the clocks that go out in one mail when
# they fall due together.
MailKey = tuple[int, "str | None", str]


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
    # A batch takes every clock due of its incidents: one listed later is
    # handled already when its turn comes.
    handled: set[int] = set()
    while listed := due(app, now, after):
        ids = [id_ for _, id_ in listed if id_ not in handled]
        for first in range(0, len(ids), TRANSACTION):
            chunk = [i for i in ids[first : first + TRANSACTION] if i not in handled]
            if chunk:
                _batch(app, chunk, now, result, handled)
        after = listed[-1]
    if result.examined:
        log.info(
            "sweep: %d due, %d newly missed, %d reminders queued",
            result.examined,
            result.missed,
            result.reminders,
        )
    # What the caps and the brake held is said now, not at the next
    # delivery pass (the daemon's sweep job delivers nothing itself).
    app.held.report()
    return result.as_dict()


def chase_now(
    app: App, session: Session, deadline_ids: set[int], now: dt.datetime
) -> SweepResult:
    """Chase `deadline_ids` now, in the caller's transaction, as the next
    sweep would: the levels due, with the other clocks of their incidents
    due now, one mail per site; each incident in a savepoint of its own.

    For the clocks still owed of a reminder withdrawn as it left
    (withdraw.py): the rest is reminded at once, not a sweep later. A level
    another process recorded meanwhile (a sweep) is left to it, and an
    incident another sweeper holds is its to chase.
    """
    result = SweepResult()
    _apart(app, session, sorted(deadline_ids), now, set(), result)
    return result


def _batch(
    app: App, ids: list[int], now: dt.datetime, result: SweepResult, handled: set[int]
) -> None:
    """Handle `ids`, and the other clocks due of their incidents, in one
    transaction; one savepoint per incident if that fails."""
    try:
        done = SweepResult()
        with app.db.transaction() as session:
            claimed = _claim(app, session, ids, now, handled)
            known = chase.read_ahead(session, [d for _, d in claimed], now)
            brake.keep_tally(app, session, {i.id for i, _ in claimed})
            _act_all(app, session, claimed, now, done, known)
        result.add(done)
        handled.update(d.id for _, d in claimed)
        return
    except IntegrityError:
        # Another process recorded one of these levels meanwhile; the locks
        # make that rare, so only then is each incident kept apart.
        log.info("sweep: a level was recorded elsewhere; redoing %d apart", len(ids))
    with app.db.transaction() as session:
        claimed = _apart(app, session, ids, now, handled, result)
    handled.update(d.id for _, d in claimed)


def _apart(
    app: App,
    session: Session,
    ids: list[int],
    now: dt.datetime,
    handled: set[int],
    result: SweepResult,
) -> list[tuple[Incident, Deadline]]:
    """Claim `ids` (as _claim) and chase each incident in a savepoint of its
    own; the clocks claimed."""
    claimed = _claim(app, session, ids, now, handled)
    by_incident: dict[int, list[tuple[Incident, Deadline]]] = {}
    for incident, deadline in claimed:
        by_incident.setdefault(incident.id, []).append((incident, deadline))
    for pairs in by_incident.values():
        _one(app, session, pairs, now, result)
    return claimed


def _claim(
    app: App, session: Session, ids: list[int], now: dt.datetime, handled: set[int]
) -> list[tuple[Incident, Deadline]]:
    """The listed deadlines that are still due, and the other deadlines due
    of their incidents (not `handled` yet), locked, with their incidents."""
    of_listed = select(Deadline.incident_id).where(Deadline.id.in_(ids))
    query = (
        select(Deadline)
        .where(
            or_(
                Deadline.id.in_(ids),
                and_(
                    Deadline.incident_id.in_(of_listed),
                    Deadline.next_action_at <= now,
                ),
            )
        )
        .order_by(Deadline.id)
    )
    if not app.db.is_sqlite:
        # Incidents another sweeper holds are its to handle, with all their
        # clocks due: one site's go in one mail (SQLite runs one writer).
        # Never waiting for a lock, a sweeper deadlocks with no one.
        ours = (
            select(Incident.id)
            .where(Incident.id.in_(of_listed))
            .with_for_update(skip_locked=True, key_share=True)
        )
        locked = list(session.scalars(ours))
        query = query.where(Deadline.incident_id.in_(locked)).with_for_update(
            skip_locked=True
        )
    # Each may have changed since it was listed.
    deadlines = [
        d
        for d in session.scalars(query)
        if d.next_action_at is not None
        and d.next_action_at <= now
        and d.id not in handled
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
    pairs: list[tuple[Incident, Deadline]],
    now: dt.datetime,
    result: SweepResult,
) -> None:
    """The due deadlines of one incident, in a savepoint of their own."""
    incident = pairs[0][0]
    done = SweepResult()
    try:
        with session.begin_nested():
            # Read within the savepoint: what it undoes must not be known.
            known = chase.read_ahead(session, [d for _, d in pairs], now)
            _act_all(app, session, pairs, now, done, known)
    except IntegrityError:
        log.info(
            "%s clock %s level already recorded elsewhere; nothing sent",
            incident.tag,
            "+".join(dict.fromkeys(d.rule for _, d in pairs)),
        )
        return
    result.add(done)


def _act_all(
    app: App,
    session: Session,
    claimed: list[tuple[Incident, Deadline]],
    now: dt.datetime,
    result: SweepResult,
    known: chase.ReadAhead,
) -> None:
    """Record what fell due, and chase the levels due now: the clocks of
    one site (of one audience) in one incident together, one mail."""
    mails: dict[MailKey, list[tuple[Deadline, int]]] = {}
    incidents: dict[int, Incident] = {}
    for incident, deadline in claimed:
        level = _act(app, session, incident, deadline, now, result, known)
        if level is not None:
            key = (incident.id, deadline.site, together.audience(level))
            mails.setdefault(key, []).append((deadline, level))
            incidents[incident.id] = incident
    for (incident_id, _, _), clocks in mails.items():
        # Listed as they fell due, the longest overdue first.
        clocks.sort(key=lambda c: (c[0].due_at, c[0].id))
        incident = incidents[incident_id]
        _chase(app, session, incident, clocks, now, result, known)


def _act(
    app: App,
    session: Session,
    incident: Incident,
    deadline: Deadline,
    now: dt.datetime,
    result: SweepResult,
    known: chase.ReadAhead,
) -> int | None:
    """Record what `deadline` became; the level to chase now, if any."""
    result.examined += 1
    if deadline.met_at is not None or incident.status not in CHASED_STATUSES:
        deadline.next_action_at = None
        _cancel_unchased(incident, deadline)
        return None
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
        return None
    level = deadline.level + 1
    if level > policy.levels:
        deadline.next_action_at = None
        return None
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
        return None
    calendar = app.calendar(deadline.site)
    previous = known.last_chase.get(deadline.id)
    when = chase.level_time(app, session, deadline, level, calendar, previous)
    when = chase.send_time(app, level, max(when, now), calendar)
    if now < when:
        deadline.next_action_at = when
        result.rescheduled += 1
        return None
    return level


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
    clocks: list[tuple[Deadline, int]],
    now: dt.datetime,
    result: SweepResult,
    known: chase.ReadAhead,
) -> None:
    """Record each level of `clocks` (one site and audience) and queue the
    mail that reminds of them, in the caller's transaction.

    Each level is recorded with a mail that names it: a clock falling due
    after a reminder of its rule and level went out is not counted as
    reminded by that mail (which never named it), but gets its own mail,
    or a place in the mail of the clocks due in the same sweep.
    """
    fresh: list[tuple[Deadline, int, Chase]] = []
    for deadline, level in clocks:
        # The unique (deadline, level) row goes in with the outbox row: a
        # second sweep that got here too fails on it, and its outbox row is
        # undone.
        row = Chase(deadline_id=deadline.id, level=level, queued_at=now)
        session.add(row)
        fresh.append((deadline, level, row))
        _next_level(app, session, deadline, level, now)
    env = app.templates
    for rows in together.split(env, fresh, lambda c: c[1], lambda c: c[0].rule):
        pairs = [(deadline, level) for deadline, level, _ in rows]
        sent = chase.queue_reminder(app, session, incident, pairs, known)
        if sent is None:
            continue
        result.reminders += 1
        rules = "+".join(dict.fromkeys(d.rule for d, _ in pairs))
        result.queued.append(f"{incident.tag}:{rules}:{max(n for _, n in pairs)}")
        for _, _, row in rows:
            row.mail = sent


def _next_level(
    app: App, session: Session, deadline: Deadline, level: int, now: dt.datetime
) -> None:
    deadline.level = level
    policy = app.chase_policy
    calendar = app.calendar(deadline.site)
    deadline.next_action_at = (
        chase.level_time(app, session, deadline, level + 1, calendar, previous=now)
        if level < policy.levels
        else None
    )
