"""How a recorded mail's rows reach the database: few flushes, nothing lost."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from mailbot_env import mail, make_app
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from mailbot import incidents, store
from mailbot.app import App
from mailbot.db.engine import add_written
from mailbot.db.models import Deadline, Incident, Mail
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


@contextmanager
def mail_reads(app: App, table: str = "mail") -> Iterator[list[str]]:
    """The statements that read `table` (all: ""), but the dedupe look-ups
    (the store's by bytes, redelivery's by content) and the claim of the
    mail's row (process._claimed, its state alone, locked)."""
    seen: list[str] = []

    def _note(_c, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        reads = statement.startswith("SELECT") and f"FROM {table}" in statement
        looks_up = "mail.dedupe_key =" in statement or "mail.content_key =" in statement
        claims = "SELECT mail.state \nFROM mail \nWHERE mail.id"
        looks_up |= statement.startswith(claims)
        if reads and not looks_up:
            seen.append(statement)

    event.listen(app.db.engine, "before_cursor_execute", _note)
    try:
        yield seen
    finally:
        event.remove(app.db.engine, "before_cursor_execute", _note)


def test_a_stored_mail_is_not_read_back(tmp_path: Path, database_url: str) -> None:
    # The store stage writes the row by a Core INSERT and hands the session
    # the object loaded: the record stage reads every column of it (a robot
    # mail leaves most of them as stored) without a query.
    app = make_app(tmp_path, database_url, now=NOW)
    robot = mail(
        subject="Automatic reply: out of office",
        sender="someone@elsewhere.example.net",
        message_id="<away@elsewhere.example.net>",
        headers={"Auto-Submitted": "auto-replied"},
    )
    report = mail(
        subject="Compromised worker node",
        sender="admin@site-a.example.com",
        message_id="<report2@site-a.example.com>",
    )
    with mail_reads(app) as seen:
        for number, raw in enumerate((robot, report)):
            outcome = process_delivery(app, RawMail(raw, NOW, f"test:{number}"))
            assert outcome.result == "processed"
        # Whatever a later stage reads of the new row, before it sets it.
        with app.db.transaction() as session:
            stored = store.accept(session, RawMail(report + b"\n", NOW, "test:2"))
            assert stored.row is not None
            for column in Mail.__table__.columns:
                getattr(stored.row, column.key)
    assert seen == []
    app.close()


_NEW_ROWS = {
    Mail: {
        "direction": "in",
        "raw_sha256": "0" * 64,
        "raw": b"Subject: x\r\n\r\nbody\r\n",
        "size": 20,
        "origin": "test:1",
        "arrived_at": NOW,
        "state": "received",
        "attempts": 1,
    },
    Incident: {"status": "open", "site": None, "subject": "Scans", "opened_at": NOW},
}
_UNIQUE = {Mail: "dedupe_key", Incident: "tag"}


@pytest.mark.parametrize("model", [Mail, Incident], ids=["mail", "incident"])
def test_a_row_added_written_is_the_one_the_orm_writes(
    tmp_path: Path, database_url: str, model: type[Mail] | type[Incident]
) -> None:
    # store and open_incident write by add_written's Core INSERT: the row
    # must be the ORM's, and the object hold it all without a query.
    app = make_app(tmp_path, database_url, now=NOW)
    given, unique = _NEW_ROWS[model], _UNIQUE[model]
    with app.db.transaction() as session:
        by_core = add_written(session, model, **{unique: "A-1"}, **given)
        by_orm = model(**{unique: "B-1"}, **given)
        session.add(by_orm)
        session.flush()
        ids = (by_core.id, by_orm.id)
        with mail_reads(app, "") as seen:
            core_values = [getattr(by_core, c.key) for c in model.__table__.columns]
        assert seen == []
    columns = [c for c in model.__table__.columns if c.key not in ("id", unique)]
    # SQL NULL apart from a JSON null, which reads as None too.
    nulls = [column.is_(None) for column in columns]
    with app.db.transaction() as session:
        rows = {
            row[0]: tuple(row[1:])
            for row in session.execute(
                select(model.id, *columns, *nulls).where(model.id.in_(ids))
            )
        }
        again = session.get(model, ids[0])
        assert [getattr(again, c.key) for c in model.__table__.columns] == core_values
    assert rows[ids[0]] == rows[ids[1]]
    app.close()


def test_a_new_delivery_is_stored_by_one_statement(
    tmp_path: Path, database_url: str
) -> None:
    # Most deliveries are new: the INSERT comes first (ON CONFLICT DO
    # NOTHING), and the dedupe look-up only when the key is taken.
    report = mail(subject="Scans", message_id="<report3@site-a.example.com>")
    app = make_app(tmp_path, database_url, now=NOW)
    sent: list[str] = []

    def _note(_c, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if not statement.startswith(("BEGIN", "PRAGMA")):
            sent.append(statement.split()[0])

    event.listen(app.db.engine, "before_cursor_execute", _note)
    try:
        with app.db.transaction() as session:
            stored = store.accept(session, RawMail(report, NOW, "test:1"))
    finally:
        event.remove(app.db.engine, "before_cursor_execute", _note)
    assert stored.new
    assert sent == ["INSERT"]
    # Taken: the same delivery again, and another delivery of the mail.
    with app.db.transaction() as session:
        again = store.accept(session, RawMail(report, NOW, "test:1"))
        other = store.accept(session, RawMail(report, NOW, "test:2"))
    assert not again.new and not other.new
    assert again.mail_id == other.mail_id == stored.mail_id
    assert (again.state, other.state) == ("received", "elsewhere")
    app.close()
