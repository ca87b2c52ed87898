"""How a recorded mail's rows reach the database: few flushes, nothing lost."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mailbot_env import mail, make_app
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from mailbot import incidents
from mailbot.db.models import Deadline, Incident
from mailbot.mail import RawMail
from mailbot.process import process_delivery

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)


@contextmanager
def flushes_counted() -> Iterator[list[int]]:
    """Count the ORM flushes that write something, in any session."""
    counted: list[int] = []

    def _count(session: Session, _context: object, _instances: object) -> None:
        if session.new or session.dirty or session.deleted:
            counted.append(1)

    event.listen(Session, "before_flush", _count)
    try:
        yield counted
    finally:
        event.remove(Session, "before_flush", _count)


def test_a_site_report_is_written_in_four_flushes(
    tmp_path: Path, database_url: str
) -> None:
    # Each flush costs the ORM a walk over the session: the stored mail (its
    # id), the new incident (its id), the rows the brake's count of the
    # acknowledgement must see, then the acknowledgement. It was seven: each
    # clock flushed alone, and the clocks' query flushed the mail's row.
    app = make_app(tmp_path, database_url, now=NOW)
    report = mail(
        subject="Compromised worker node",
        sender="admin@site-a.example.com",
        message_id="<report@site-a.example.com>",
        body="Our node wn01 was compromised; we isolated it at 08:10 UTC.\n",
    )
    with flushes_counted() as counted:
        outcome = process_delivery(app, RawMail(report, NOW, "test:1"))
    assert outcome.result == "processed" and outcome.incident
    assert len(counted) <= 4
    with app.db.transaction() as session:
        clocks = session.execute(
            select(Deadline.rule, Deadline.state, Deadline.start_mail_id)
        ).all()
    # The clocks the mail started are there, each with the mail that did.
    assert clocks and {mail_id for _, _, mail_id in clocks} == {outcome.mail_id}
    app.close()


def test_the_sites_of_an_incident_include_those_not_yet_written(
    tmp_path: Path, database_url: str
) -> None:
    # site_names reads with a Core statement, which does not autoflush.
    app = make_app(tmp_path, database_url, now=NOW)
    with app.db.transaction() as session:
        incident = incidents.open_incident(
            session,
            prefix="EGI",
            day=NOW.date(),
            opened_at=NOW,
            subject="Scans",
            site="SITE-A",
            ngi="NGI_A",
        )
        incidents.add_site(session, incident, "SITE-C", known=["SITE-A"])
        assert incidents.site_names(session, incident) == ["SITE-A", "SITE-C"]
    with app.db.transaction() as session:
        again = session.get(Incident, incident.id)
        assert again is not None
        assert incidents.site_names(session, again) == ["SITE-A", "SITE-C"]
    app.close()
