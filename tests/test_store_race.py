"""Two intakes storing or recording the same mail at once.

SQLite writes one transaction at a time; PostgreSQL lets a second
transaction look the mail up (not there yet) while the first is about to
commit it. The second's insert then waits, and finds the dedupe key taken
once the first commits: the mail is a duplicate after all, not an error.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy
from mailbot_env import mail, make_app
from servers import database_server, fresh_database
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbot import service, store
from mailbot.app import App
from mailbot.db.models import Duplicate, Incident, Mail, Outbox, ServiceState
from mailbot.mail import RawMail
from mailbot.process import process_delivery, process_stored, quarantine

NOW = dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)


@contextmanager
def postgres_app(tmp_path: Path) -> Iterator[App]:
    """An App on a database of its own (the races need PostgreSQL's row
    locks: SQLite writes one transaction at a time)."""
    with fresh_database(database_server("postgresql")) as url:
        app = make_app(tmp_path, url, now=NOW)
        try:
            yield app
        finally:
            app.close()
            sqlalchemy.orm.close_all_sessions()


def racing(
    app: App,
    hold: Callable[[Session], object],
    other: Callable[[], object],
    then: Callable[[Session], object] = lambda holding: None,
) -> object:
    """Run `hold` in a transaction left open, start `other` in a thread,
    check a second later that it still waits on what `hold` locked, run
    `then` in the open transaction and commit it. Returns what `other`
    returned once it is through (raises what it raised)."""
    outcome: list[object] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(other())
        except BaseException as exc:  # noqa: BLE001 - raised below
            errors.append(exc)

    thread = threading.Thread(target=run)
    with app.db.transaction() as holding:
        hold(holding)
        thread.start()
        time.sleep(1.0)  # its look-up done, its write waiting
        assert thread.is_alive(), (outcome, errors)
        then(holding)
    thread.join(30)
    assert not thread.is_alive()
    if errors:
        raise errors[0]
    (result,) = outcome
    return result


def accepted(app: App, delivery: RawMail) -> store.Stored | None:
    """`store.accept` in a transaction of its own (another intake)."""
    with app.db.transaction() as session:
        return store.accept(session, delivery)


def lock_mail(mail_id: int) -> Callable[[Session], object]:
    """A process's claim on a mail: its row locked until it commits."""
    return lambda holding: holding.execute(
        select(Mail.state).where(Mail.id == mail_id).with_for_update()
    )


def test_the_same_mail_stored_by_two_intakes_at_once(tmp_path: Path) -> None:
    raw = mail(subject="Scans", message_id="<race@cert.example.net>")
    first, second = RawMail(raw, NOW, "imap:1"), RawMail(raw, NOW, "file:x")

    def first_stores(holding: Session) -> None:
        # The first intake has stored the mail, not committed yet.
        assert store.accept(holding, first).new

    with postgres_app(tmp_path) as app:
        stored = racing(app, first_stores, lambda: accepted(app, second))
        assert isinstance(stored, store.Stored) and not stored.new
        with app.db.transaction() as session:
            count = session.scalar(select(func.count()).select_from(Mail))
            duplicates = list(session.scalars(select(Duplicate.origin)))
        assert (count, duplicates) == (1, ["file:x"])


def test_a_duplicate_of_a_mail_being_set_aside_is_stored_anew(
    tmp_path: Path,
) -> None:
    """Process A holds mail X (its claim) and sets it aside as a re-encoded
    copy of an earlier mail, deleting its row; process B meanwhile finds X
    by the dedupe key of the same bytes and records a duplicate of it. B's
    insert waited for A, then violated the foreign key: the poll raised (the
    CI's mutation test, mutant 9001 on PostgreSQL). B now finds the key
    free and stores the delivery itself."""
    raw = mail(subject="Copy", message_id="<copy@cert.example.net>")
    first, second = RawMail(raw, NOW, "imap:1"), RawMail(raw, NOW, "file:y")
    with postgres_app(tmp_path) as app:
        x = accepted(app, first)
        assert x is not None

        def set_aside(holding: Session) -> None:  # A deletes X
            holding.delete(holding.get(Mail, x.mail_id))

        stored = racing(
            app, lock_mail(x.mail_id), lambda: accepted(app, second), set_aside
        )
        assert isinstance(stored, store.Stored) and stored.new, stored
        with app.db.transaction() as session:
            origins = list(session.scalars(select(Mail.origin)))
            duplicates = session.scalar(select(func.count()).select_from(Duplicate))
        assert (origins, duplicates) == (["file:y"], 0)


def _counts(app) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    with app.db.transaction() as session:
        return (
            session.scalar(select(func.count()).select_from(Mail)) or 0,
            session.scalar(select(func.count()).select_from(Incident)) or 0,
            session.scalar(select(func.count()).select_from(Outbox)) or 0,
        )


def test_a_stored_mail_is_recorded_by_one_process_only(
    tmp_path: Path, database_url: str
) -> None:
    """Process A stored a mail and has not recorded it yet; process B gets
    the same delivery (a new leader starting from the same UID, a `poll`
    beside `run`) and finishes it. A then recorded it again: a second
    incident and a second acknowledgement (breaker F18: 357 of 800 mails)."""
    app = make_app(tmp_path, database_url, now=NOW)
    raw = mail(subject="Scans from 203.0.113.9", message_id="<twice@cert.example.net>")
    delivery = RawMail(raw, NOW, "imap://abuse@mx/INBOX;UIDVALIDITY=1/;UID=7")
    try:
        with app.db.transaction() as session:  # A's first transaction
            stored = store.accept(session, delivery)
        assert stored.new
        b = process_delivery(app, delivery)  # B, the same delivery
        assert b.result == "processed"
        assert _counts(app) == (2, 1, 1)  # the report and its acknowledgement
        a = process_stored(app, stored.mail_id, raw, attempts=1)  # A goes on
        assert a.result == "refetched", a
        assert _counts(app) == (2, 1, 1)
        # Nor does A set it aside over B's work when a stage fails for it.
        assert quarantine(app, stored.mail_id, "record", "boom").result == "refetched"
        with app.db.transaction() as session:
            assert session.get(Mail, stored.mail_id).state == "processed"  # type: ignore[union-attr]
    finally:
        app.close()


def test_a_second_process_waits_for_the_first_to_record(tmp_path: Path) -> None:
    """On PostgreSQL, B reaches the mail while A's recording is not
    committed: B waits for A's commit and leaves the mail to it."""
    raw = mail(subject="Probes from 203.0.113.10", message_id="<wait@cert.example.net>")
    delivery = RawMail(raw, NOW, "imap://abuse@mx/INBOX;UIDVALIDITY=1/;UID=8")
    with postgres_app(tmp_path) as app:
        stored = accepted(app, delivery)
        assert stored is not None

        def a_records(holding: Session) -> None:
            holding.get(Mail, stored.mail_id).state = "processed"  # type: ignore[union-attr]

        b = racing(
            app,
            lock_mail(stored.mail_id),
            lambda: process_stored(app, stored.mail_id, raw, attempts=1),
            a_records,
        )
        assert b.result == "refetched"  # type: ignore[attr-defined]
        assert _counts(app) == (1, 0, 0)


def test_two_first_polls_both_note_their_time(tmp_path: Path) -> None:
    """On a new database two first polls each wrote `last_poll_at` where
    none was: the second failed with a raw IntegrityError (retester)."""

    def first_notes(holding: Session) -> None:
        holding.add(
            ServiceState(
                key="last_poll_at", value="2026-12-04T10:00:00Z", updated_at=NOW
            )
        )
        holding.flush()

    with postgres_app(tmp_path) as app:
        racing(
            app,
            first_notes,
            lambda: service.set_state(app, "last_poll_at", "2026-12-04T10:00:01Z"),
        )
        assert service.get_state(app, "last_poll_at") == "2026-12-04T10:00:01Z"
