"""Exactly once: several mailbots sweeping one database at the same moment.

Each App has its own engine and connections, as a second daemon would; on
SQLite they meet at BEGIN IMMEDIATE, on PostgreSQL at FOR UPDATE SKIP
LOCKED and the unique (deadline, level) key. Run on both
(pytest --database postgresql for the second).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from mailbot_env import make_app
from sqlalchemy import func, select

from mailbot.app import App
from mailbot.db.models import Chase, Deadline, Incident, IncidentSite, Outbox
from mailbot.deadlines.sweep import sweep

UTC = dt.UTC
DUE = dt.datetime(2026, 12, 7, 10, tzinfo=UTC)
COUNT = 60
SWEEPERS = 4


@pytest.fixture
def apps(tmp_path: Path, database_url: str) -> Iterator[list[App]]:
    # Caps above the volume: a level held by them is not followed by the next
    # (test_sweep_brake.py), and this is about the sweepers, not the caps.
    caps = {
        "MAILBOT_BRAKE_MAX_PER_RECIPIENT_PER_DAY": "1000",
        "MAILBOT_BRAKE_MAX_PER_HOUR": "1000",
    }
    made = [
        make_app(tmp_path, database_url, now=DUE, extra=caps) for _ in range(SWEEPERS)
    ]
    yield made
    for app in made:
        app.close()


def add_due_deadlines(
    app: App, count: int, rules: tuple[str, ...] = ("analysis",)
) -> None:
    """`count` open incidents of SITE-A, each with clocks of `rules` due at DUE."""
    with app.db.transaction() as session:
        for n in range(1, count + 1):
            incident = Incident(
                tag=f"EGI-20261204-{n:02d}",
                site="SITE-A",
                ngi="NGI_A",
                subject=f"Incident {n}",
                opened_at=DUE - dt.timedelta(days=3),
            )
            session.add(incident)
            session.flush()
            session.add(IncidentSite(incident_id=incident.id, site="SITE-A"))
            for rule in rules:
                session.add(
                    Deadline(
                        incident_id=incident.id,
                        rule=rule,
                        site="SITE-A",
                        started_at=DUE - dt.timedelta(days=3),
                        due_at=DUE,
                        next_action_at=DUE,
                    )
                )


def sweep_together(apps: list[App], when: dt.datetime) -> list[int]:
    barrier = threading.Barrier(len(apps))
    results = [0] * len(apps)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            apps[index].clock.set(when)
            barrier.wait(timeout=10)
            results[index] = int(sweep(apps[index])["reminders"])  # type: ignore[call-overload]
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(apps))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def test_concurrent_sweeps_queue_each_level_once(apps: list[App]) -> None:
    add_due_deadlines(apps[0], COUNT)
    # Level 1 at DUE (Helsinki 12:00), level 2 one working day later.
    for when, level in ((DUE, 1), (DUE + dt.timedelta(days=1), 2)):
        results = sweep_together(apps, when)
        assert sum(results) == COUNT, results
        with apps[0].db.transaction() as session:
            levels = Counter(
                session.scalars(select(Chase.deadline_id).where(Chase.level == level))
            )
            purposes = session.scalar(
                select(func.count())
                .select_from(Outbox)
                .where(Outbox.purpose == f"chase-analysis-{level}")
            )
        assert len(levels) == COUNT and set(levels.values()) == {1}
        assert purposes == COUNT
    # Nothing more at the same moment, whoever sweeps.
    assert sweep_together(apps, DUE + dt.timedelta(days=1)) == [0] * SWEEPERS


def test_concurrent_sweeps_send_one_mail_per_site(apps: list[App]) -> None:
    # Each incident owes two clocks due together: whichever sweeper takes
    # an incident takes both, so each level is one mail listing both, never
    # a mail from each of two sweepers that split them.
    add_due_deadlines(apps[0], COUNT, rules=("containment", "analysis"))
    for when, level in ((DUE, 1), (DUE + dt.timedelta(days=1), 2)):
        results = sweep_together(apps, when)
        assert sum(results) == COUNT, results
        with apps[0].db.transaction() as session:
            rows = session.execute(
                select(Deadline.incident_id, Chase.deadline_id, Chase.mail_id)
                .join(Chase, Chase.deadline_id == Deadline.id)
                .where(Chase.level == level)
            ).all()
        mails: dict[int, set[int | None]] = {}
        for incident_id, _, mail_id in rows:
            mails.setdefault(incident_id, set()).add(mail_id)
        assert len(rows) == 2 * COUNT
        assert len({deadline_id for _, deadline_id, _ in rows}) == 2 * COUNT
        assert len(mails) == COUNT
        assert all(len(ids) == 1 and None not in ids for ids in mails.values())


def test_a_level_recorded_elsewhere_undoes_that_deadline_alone(
    apps: list[App],
) -> None:
    # Another mailbot recorded level 1 of the third deadline but had not yet
    # moved its next action when this sweep read it: the unique key stops
    # this sweep for that deadline, and the others in the batch still go.
    add_due_deadlines(apps[0], 5)
    with apps[0].db.transaction() as session:
        third = session.scalars(select(Deadline.id).order_by(Deadline.id)).all()[2]
        session.add(Chase(deadline_id=third, level=1, queued_at=DUE))
    assert sweep(apps[0])["reminders"] == 4
    with apps[0].db.transaction() as session:
        queued = session.scalars(
            select(Outbox.purpose).where(Outbox.purpose.like("chase-%"))
        ).all()
        assert len(queued) == 4
        chases = session.scalars(select(Chase.deadline_id).where(Chase.level == 1))
        assert sorted(chases) == sorted(session.scalars(select(Deadline.id)).all())
