"""A mail re-encoded on the way is a duplicate delivery: nothing done twice.

A relay without 8BITMIME re-encodes a body as quoted-printable or base64,
another adds trace headers and folds header lines again; the mail is the
same. Its second delivery must open no second incident, send no second
acknowledgement and apply no member's command again, and be counted as a
duplicate with its bytes kept. A resend under the same Message-ID with a
changed body is another mail and is processed.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy.orm
from mailbot_env import mail, make_app
from reencode import lf_only, refolded, relayed, with_encoding
from servers import database_server, fresh_database
from sqlalchemy import select, update
from test_csirt_env import SITE_A, World, at, member_mail, raw_mail

from mailbot import redelivery, service, store, views
from mailbot.db.models import Duplicate, Mail, Outbox
from mailbot.mail import RawMail
from mailbot.process import process_delivery, resume_received

pytest_plugins = ("test_csirt_env",)

# A site report as its author sent it, 8-bit, and as two relays passed it on.
REPORT = raw_mail(
    sender=SITE_A,
    subject="Security incident suspected at SITE-A [TLP:AMBER]",
    message_id="<report-r1@site-a.example.com>",
    when=dt.datetime(2026, 12, 4, 9, 55, tzinfo=dt.UTC),
    body="Grüße: we found a miner on wn12.site-a.example.com (192.0.2.45) at"
    " 08:10 UTC, started by a login from 203.0.113.77 the night before.\r\n",
)
NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
BASE64 = with_encoding(REPORT, "base64")
QUOTED = relayed(refolded(with_encoding(REPORT, "quoted-printable")))


def _deliver(app: Any, raw: bytes, origin: str) -> str:
    return process_delivery(
        app, RawMail(raw, NOW - dt.timedelta(hours=1), origin)
    ).result


@pytest.fixture
def reported(tmp_path: Path, database_url: str) -> Any:
    """A mailbot that has processed REPORT, delivered as "file:a"."""
    app = make_app(tmp_path, database_url, now=NOW)
    assert _deliver(app, REPORT, "file:a") == "processed"
    return app


def _acknowledgements(app: Any) -> int:
    with app.db.transaction() as session:
        return len(session.scalars(select(Outbox.id)).all())


def test_a_report_re_encoded_twice_is_one_incident_polled(
    tmp_path: Path, dovecot: Any, smtp_sink: Any, database_url: str
) -> None:
    # The breaker's R1: the same site report, 8-bit, then base64, then
    # quoted-printable through one more relay.
    dovecot.append_many([REPORT, BASE64, QUOTED], internaldate=NOW)
    app = make_app(tmp_path, database_url, dovecot=dovecot, smtp=smtp_sink, now=NOW)
    result = service.poll(app)
    assert (result.fetched, result.processed, result.duplicates) == (3, 1, 2)
    assert [row["tag"] for row in views.incident_list(app)] == ["EGI-20261204-01"]
    status = views.status(app, service.last_poll(app))
    assert (status["mails"], status["duplicates"], status["quarantined"]) == (1, 2, 0)
    assert [m.recipients for m in smtp_sink.wait_for(1)] == [
        ("admin@site-a.example.com",)
    ]
    # Polled again: nothing new, nothing sent again.
    assert service.poll(app).fetched == 0
    assert len(smtp_sink.messages) == 1


def test_the_copy_is_kept_and_counted_once(reported: Any) -> None:
    app = reported
    assert _deliver(app, BASE64, "file:b") == "duplicate"
    assert _deliver(app, lf_only(QUOTED), "file:c") == "duplicate"
    # The same delivery fetched again is no second duplicate.
    assert _deliver(app, BASE64, "file:b") == "refetched"
    with app.db.transaction() as session:
        rows = session.execute(select(Duplicate.origin, Duplicate.raw)).all()
        mails = session.scalars(select(Mail.message_id).where(Mail.direction == "in"))
        assert list(mails) == ["<report-r1@site-a.example.com>"]
    assert sorted(rows) == [("file:b", BASE64), ("file:c", lf_only(QUOTED))]
    status = views.status(app, None)
    assert (status["mails"], status["duplicates"]) == (1, 2)
    assert _acknowledgements(app) == 1


def test_a_resend_with_a_changed_body_is_processed(reported: Any) -> None:
    # The same Message-ID is no proof: a changed body is another mail.
    app = reported
    changed = REPORT.replace(b"192.0.2.45", b"192.0.2.46")
    assert _deliver(app, with_encoding(changed, "base64"), "file:b") == "processed"
    assert _deliver(app, changed, "file:c") == "duplicate"
    status = views.status(app, None)
    assert (status["mails"], status["duplicates"]) == (2, 1)


def test_mails_recorded_before_content_keys_are_found(
    reported: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A database from before migration 0004: its mails have no content key,
    # and a copy re-encoded on the way was processed as another mail then.
    app = reported
    other = mail(subject="Scans", message_id="<report-r1@site-a.example.com>")
    assert _deliver(app, other, "file:o") == "processed"
    with monkeypatch.context() as before:
        before.setattr(redelivery, "content_key", lambda *_: None)
        assert _deliver(app, BASE64, "file:old-copy") == "processed"
    with app.db.transaction() as session:
        session.execute(update(Mail).values(content_key=None))

    # Found by its Message-ID and parsed again: the same mail.
    assert _deliver(app, QUOTED, "file:b") == "duplicate"
    assert _keyed(app) == {"file:a"}
    assert _deliver(app, lf_only(QUOTED), "file:c") == "duplicate"
    # A resend with a changed body: every mail of that Message-ID parsed
    # again is keyed, but for the old copy, whose key the original holds.
    changed = with_encoding(REPORT.replace(b"192.0.2.45", b"192.0.2.99"), "base64")
    assert _deliver(app, changed, "file:d") == "processed"
    assert _keyed(app) == {"file:a", "file:o", "file:d"}
    # The old copy and the resend came from the report's sender under its
    # subject, within the hour: follow-ups of its incident, not acknowledged
    # again (README "Threading"). The report and "Scans" were.
    assert _acknowledgements(app) == 2


def _keyed(app: Any) -> set[str]:
    with app.db.transaction() as session:
        query = select(Mail.origin).where(Mail.content_key.is_not(None))
        return set(session.scalars(query))


def test_a_copy_left_unprocessed_by_a_crash_is_a_duplicate(reported: Any) -> None:
    app = reported
    # Stored, then the process died before it was processed.
    with app.db.transaction() as session:
        store.accept(session, RawMail(BASE64, NOW, "file:b"))
    assert [o.result for o in resume_received(app)] == ["duplicate"]
    assert resume_received(app) == []
    status = views.status(app, None)
    assert (status["mails"], status["duplicates"]) == (1, 1)
    assert _acknowledgements(app) == 1


def test_a_member_command_re_encoded_is_applied_once(w: World) -> None:
    # The breaker's R1b: #notify-vo delivered twice mailed the VO twice.
    report = raw_mail(
        subject="Compromised account at SITE-A",
        body="Discovered 2026-11-30 08:00 UTC: logins from 203.0.113.77 on"
        " wn12.site-a.example.com by the user with DN"
        " /DC=org/DC=example/CN=John Doe 4711 of vo.example.org.\n",
        sender=SITE_A, when=at("2026-11-30T09:55:00"),
        message_id="<report-dn@site-a.example.com>",
    )  # fmt: skip
    w.deliver(report, at("2026-11-30T09:55:00"))
    tag = str(views.incident_list(w.app)[-1]["tag"])
    w.new_mail()
    command = member_mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Security incident",
        body="#notify-vo vo.example.org\n\nAlice",
        when=at("2026-11-30T10:30:00"),
        message_id="<notify-1@csirt.example.org>",
    )
    w.deliver(command, at("2026-11-30T10:30:00"))
    sent = w.new_mail()
    assert sorted(m.recipients for m in sent) == [
        ("alice@csirt.example.org",),
        ("vo-security@vo.example.org",),
    ]
    trail = w.show(tag)["audit"]
    w.deliver(relayed(with_encoding(command, "base64")), at("2026-11-30T10:40:00"))
    assert w.new_mail() == []
    assert w.show(tag)["audit"] == trail
    assert views.status(w.app, None)["duplicates"] == 1


def test_two_copies_recorded_at_once_on_postgresql(tmp_path: Path) -> None:
    # Two intakes record two encodings of one mail at the same moment: the
    # second's look-up finds nothing yet, and its key is refused once the
    # first commits. It is the first's duplicate then, not quarantined.
    with fresh_database(database_server("postgresql")) as url:
        app = make_app(tmp_path, url, now=NOW)
        recorded, release = threading.Event(), threading.Event()

        def hold(_session: Any) -> None:
            recorded.set()
            assert release.wait(30)

        outcomes: dict[str, str] = {}

        def deliver(raw: bytes, origin: str, mark: Any) -> None:
            delivery = RawMail(raw, NOW, origin)
            outcomes[origin] = process_delivery(app, delivery, mark).result

        try:
            first = threading.Thread(target=deliver, args=(REPORT, "a", hold))
            first.start()
            assert recorded.wait(30)
            second = threading.Thread(
                target=deliver, args=(BASE64, "b", lambda _s: None)
            )
            second.start()
            time.sleep(1.0)  # its look-up done, its writes waiting
            assert second.is_alive()
            release.set()
            first.join(30)
            second.join(30)
            assert outcomes == {"a": "processed", "b": "duplicate"}
            status = views.status(app, None)
            assert (status["mails"], status["duplicates"]) == (1, 1)
            assert status["quarantined"] == 0
            assert _acknowledgements(app) == 1
        finally:
            release.set()
            app.close()
            sqlalchemy.orm.close_all_sessions()
