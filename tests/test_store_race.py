"""Two intakes storing the same mail at once, on PostgreSQL.

SQLite writes one transaction at a time; PostgreSQL lets a second
transaction look the mail up (not there yet) while the first is about to
commit it. The second's insert then waits, and finds the dedupe key taken
once the first commits: the mail is a duplicate after all, not an error.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import sqlalchemy
from mailbot_env import mail, make_app
from servers import database_server, fresh_database
from sqlalchemy import func, select

from mailbot import store
from mailbot.db.models import Duplicate, Mail
from mailbot.mail import RawMail

NOW = dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)


def test_the_same_mail_stored_by_two_intakes_at_once(tmp_path: Path) -> None:
    with fresh_database(database_server("postgresql")) as url:
        app = make_app(tmp_path, url, now=NOW)
        raw = mail(subject="Scans", message_id="<race@cert.example.net>")
        first, second = RawMail(raw, NOW, "imap:1"), RawMail(raw, NOW, "file:x")
        outcome: list[object] = []
        try:
            with app.db.transaction() as holding:
                # The first intake has stored the mail, not committed yet.
                assert store.accept(holding, first).new

                def other_intake() -> None:
                    with app.db.transaction() as session:
                        outcome.append(store.accept(session, second))

                racing = threading.Thread(target=other_intake)
                racing.start()
                time.sleep(1.0)  # its look-up done, its insert waiting
                assert racing.is_alive()
            racing.join(30)
            assert not racing.is_alive()
            (stored,) = outcome
            assert isinstance(stored, store.Stored) and not stored.new
            with app.db.transaction() as session:
                count = session.scalar(select(func.count()).select_from(Mail))
                duplicates = list(session.scalars(select(Duplicate.origin)))
            assert (count, duplicates) == (1, ["file:x"])
        finally:
            app.close()
            sqlalchemy.orm.close_all_sessions()
