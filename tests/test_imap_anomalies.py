"""BR-22 and BR-25: FETCH answers that do not match the request, UIDVALIDITY changes.

BR-22's server behaviour (unsolicited entries, a UID answered twice, a body
missing) cannot be produced by Dovecot, so its FETCH answer is scripted, as
the case prescribes; everything else is real.
"""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

import pytest
from mailbot_env import mail, make_app

from mailbot import service, views
from mailbot.db.models import FolderState, PendingUid
from mailbot.errors import TemporaryError
from mailbot.fetch import imap

UTC = dt.UTC
NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _raw(n: int) -> bytes:
    return mail(
        subject=f"Report {n}",
        sender=f"r{n}@cert.example.net",
        message_id=f"<r{n}@cert.example.net>",
        body=f"Scanning from 203.0.113.{n}.\n",
    )


class ScriptedFetch:
    """The IMAP client with BR-22's FETCH answer; the rest is the real one."""

    def __init__(self, client, answers) -> None:  # type: ignore[no-untyped-def]
        self.client = client
        self.answers = list(answers)
        self.requests: list[list[int]] = []

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.client, name)

    def fetch(self, uids, items):  # type: ignore[no-untyped-def]
        # Only body fetches are scripted; the sizes asked first are real.
        if items == [b"RFC822.SIZE"]:
            return self.client.fetch(uids, items)
        self.requests.append(list(uids))
        answer = self.answers.pop(0) if self.answers else None
        return answer(uids, items) if answer else self.client.fetch(uids, items)


def test_br22_extra_split_and_missing_entries(
    tmp_path: Path, dovecot, smtp_sink, database_url
) -> None:  # type: ignore[no-untyped-def]
    dovecot.append_many([_raw(1), _raw(2), _raw(3)])
    app = make_app(tmp_path, database_url, dovecot=dovecot, smtp=smtp_sink, now=NOW)
    client = imap.connect(app)
    real = client.fetch

    def br22(uids, items):  # type: ignore[no-untyped-def]
        bodies = real(uids, items)
        first, second, third = sorted(bodies)
        return {
            99: {b"FLAGS": (b"\\Seen",), b"SEQ": 5},
            first: bodies[first],
            second: {b"UID": second, b"FLAGS": ()},
            third: {**bodies[third], b"FLAGS": (b"\\Seen",)},
        }

    def still_missing(uids, items):  # type: ignore[no-untyped-def]
        return {uids[0]: {b"FLAGS": ()}}

    scripted = ScriptedFetch(client, [br22, still_missing])
    result = imap.catch_up(app, scripted)  # type: ignore[arg-type]
    assert (result.processed, result.pending) == (2, 1)
    assert scripted.requests[1] == [2]  # the missing body asked for once more
    with app.db.transaction() as session:
        pending = session.query(PendingUid).one()
        assert pending.uid == 2 and pending.attempts == 1
    # The next cycle (after the backoff) fetches UID 2 for real.
    app.clock.advance(dt.timedelta(hours=1))
    result = imap.catch_up(app, client)
    assert (result.processed, result.pending) == (1, 0)
    with app.db.transaction() as session:
        assert session.query(PendingUid).count() == 0
    client.logout()
    assert len(views.incident_list(app)) == 3
    app.close()


def test_br22_alert_after_repeated_failures(
    tmp_path: Path, dovecot, smtp_sink, database_url, caplog
) -> None:  # type: ignore[no-untyped-def]
    dovecot.append(_raw(1))
    app = make_app(
        tmp_path,
        database_url,
        dovecot=dovecot,
        smtp=smtp_sink,
        now=NOW,
        extra={"MAILBOT_SOURCE_MAX_FETCH_ATTEMPTS": "2"},
    )
    client = imap.connect(app)
    never = lambda uids, items: {}  # noqa: E731
    for _ in range(2):
        imap.catch_up(app, ScriptedFetch(client, [never, never]))  # type: ignore[arg-type]
        app.clock.advance(dt.timedelta(days=1))
    assert any(
        "body not delivered after 2 fetches" in r.getMessage() for r in caplog.records
    )
    assert "UIDVALIDITY" in next(
        r.getMessage() for r in caplog.records if "not delivered" in r.getMessage()
    )
    client.logout()
    app.close()


def test_br25_migration_rewrites_and_new_uidvalidity(
    tmp_path: Path, dovecot, smtp_sink, database_url
) -> None:  # type: ignore[no-untyped-def]
    originals = [_raw(n) for n in range(1, 6)]
    dovecot.append_many(originals)
    app = make_app(tmp_path, database_url, dovecot=dovecot, smtp=smtp_sink, now=NOW)
    assert service.poll(app).processed == 5
    smtp_sink.wait_for(5)

    # The migration: same mails (two rewritten: LF endings, an added header),
    # three new ones, all under a new UIDVALIDITY.
    with dovecot.client() as client:
        client.select_folder("INBOX")
        client.delete_messages(client.search(["ALL"]))
        client.expunge()
    old_validity = dovecot.uidvalidity()
    rewritten = [
        b"X-Migrated: yes\r\n" + originals[0],
        originals[1].replace(b"\r\n", b"\n"),
        *originals[2:],
    ]
    dovecot.append_many(rewritten + [_raw(n) for n in range(6, 9)])
    new_validity = dovecot.change_uidvalidity()
    assert new_validity != old_validity
    # doveadm keeps the UIDs it gave on append: the state must name the highest.
    with dovecot.client() as client:
        client.select_folder("INBOX", readonly=True)
        highest = max(client.search(["ALL"]))

    result = service.poll(app)
    assert (result.processed, result.duplicates) == (3, 5)
    assert len(views.incident_list(app)) == 8
    assert len(smtp_sink.wait_for(8)) == 8
    with app.db.transaction() as session:
        state = session.query(FolderState).one()
        assert state.uidvalidity == new_validity and state.last_uid == highest
    app.close()


@pytest.mark.parametrize(
    ("setting", "value", "hint"),
    [
        ("MAILBOT_IMAP_PASSWORD", "wrong", "check [imap] username and password"),
        ("MAILBOT_IMAP_FOLDER", "Nope", "check [imap] folder"),
        ("MAILBOT_IMAP_TLS", "ssl", "check [imap] tls"),
        # The test Dovecot offers no TLS at all.
        ("MAILBOT_IMAP_TLS", "starttls", 'use tls = "ssl"'),
    ],
)
def test_mailbox_errors_say_which_setting_to_check(  # type: ignore[no-untyped-def]
    tmp_path: Path, dovecot, database_url, setting: str, value: str, hint: str
) -> None:
    app = make_app(tmp_path, database_url, dovecot=dovecot, extra={setting: value})
    with pytest.raises(TemporaryError) as raised:
        imap.poll_imap(app)
    message = str(raised.value)
    assert hint in message
    assert "b'" not in message  # the server's words, not a Python bytes value


def test_an_unknown_host_is_named_as_the_setting_to_check() -> None:
    # Not resolved here (no query leaves the machine): the error as the
    # resolver raises it.
    error = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert imap._hint(error, "ssl") == ": no such host; check [imap] host"


def test_a_plain_client_at_a_tls_port_is_told_to_use_ssl(  # type: ignore[no-untyped-def]
    tmp_path: Path, dovecot_tls, database_url
) -> None:
    """tls = "none" at a port that speaks TLS from the first byte: both ends
    wait, and the error said only "timed out"."""
    extra = {"MAILBOT_IMAP_TLS": "none", "MAILBOT_IMAP_TIMEOUT": "1"}
    app = make_app(tmp_path, database_url, dovecot=dovecot_tls, extra=extra)
    with pytest.raises(TemporaryError) as raised:
        imap.poll_imap(app)
    assert 'needs tls = "ssl"' in str(raised.value), raised.value
