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

from mailbot import health, service, views
from mailbot.connection import IMAP, hint
from mailbot.db.models import FolderState, PendingUid
from mailbot.errors import FolderMissing, TemporaryError
from mailbot.fetch import imap
from mailbot.outage import Outages

UTC = dt.UTC
NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _raw(n: int) -> bytes:
    return mail(
        subject=f"Report {n}",
        sender=f"r{n}@cert.example.net",
        message_id=f"<r{n}@cert.example.net>",
        body=f"Scanning from 203.0.113.{n}.\n",
    )


def _app(tmp_path: Path, database_url: str, dovecot, smtp, attempts: int):  # type: ignore[no-untyped-def]
    extra = {"MAILBOT_SOURCE_MAX_FETCH_ATTEMPTS": str(attempts)}
    return make_app(
        tmp_path, database_url, dovecot=dovecot, smtp=smtp, now=NOW, extra=extra
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
    app = _app(tmp_path, database_url, dovecot, smtp_sink, attempts=2)
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


def test_a_missing_folder_is_an_error_of_its_own(  # type: ignore[no-untyped-def]
    tmp_path: Path, dovecot, database_url, caplog
) -> None:
    """It was told from other outages by the advice its message ended with:
    reworded, it would be "mailbox (IMAP) unreachable" again."""
    extra = {"MAILBOT_IMAP_FOLDER": "Nope"}
    app = make_app(tmp_path, database_url, dovecot=dovecot, extra=extra)
    with pytest.raises(FolderMissing) as raised:
        imap.poll_imap(app)
    with caplog.at_level("ERROR", logger="mailbot.outage"):
        Outages().down("mailbox", "no such folder", error=raised.value)
    [said] = [r.getMessage() for r in caplog.records if r.name == "mailbot.outage"]
    assert said.startswith("IMAP folder missing (or not to be opened), "), said
    app.close()


def test_an_unknown_host_is_named_as_the_setting_to_check() -> None:
    # Not resolved here (no query leaves the machine): the error as the
    # resolver raises it.
    error = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert hint(error, "ssl", IMAP) == ": no such host; check [imap] host"


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


class RefusingServer(ScriptedFetch):
    """A server that cannot read one of its messages: every FETCH naming its
    body gets a tagged NO, as Yahoo and Office 365 answer (Dovecot never
    does, so the NO is scripted; the rest of the session is real)."""

    def __init__(self, client, bad: int) -> None:  # type: ignore[no-untyped-def]
        super().__init__(client, [])
        self.bad = bad

    def fetch(self, uids, items):  # type: ignore[no-untyped-def]
        if self.bad in list(uids) and b"BODY.PEEK[]" in items:
            self.requests.append(list(uids))
            raise imap.IMAPClient.Error(
                "fetch failed: FETCH Server error while fetching messages"
            )
        return self.client.fetch(uids, items)


def test_a_message_the_server_refuses_to_fetch_holds_back_no_other(
    tmp_path: Path, dovecot, smtp_sink, database_url, caplog
) -> None:  # type: ignore[no-untyped-def]
    """One UID answered NO failed the whole batch: not even the mail before it
    was stored, every poll failed the same way, and no line named the UID."""
    dovecot.append_many([_raw(n) for n in range(1, 6)])
    app = _app(tmp_path, database_url, dovecot, smtp_sink, attempts=3)
    client = imap.connect(app)
    server = RefusingServer(client, bad=2)
    result = imap.catch_up(app, server)  # type: ignore[arg-type]
    assert (result.processed, result.pending) == (4, 1)
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(
        "UID 2: the server refused to FETCH it" in m and "attempt 1 of 3" in m
        for m in warned
    ), warned
    # Retried with backoff, then given up with one ERROR naming it and what
    # to do; new mail meanwhile is read as ever.
    for n in (6, 7):
        app.clock.advance(dt.timedelta(hours=5))
        dovecot.append(_raw(n))
        result = imap.catch_up(app, server)  # type: ignore[arg-type]
        assert (result.processed, result.pending) == (1, 1)
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1, errors
    assert "UID 2, subject 'Report 2'" in errors[0], errors[0]
    assert "refused to FETCH it" in errors[0] and "mailbot ingest" in errors[0]
    server.requests.clear()
    app.clock.advance(dt.timedelta(days=1))
    dovecot.append(_raw(8))
    result = imap.catch_up(app, server)  # type: ignore[arg-type]
    assert (result.processed, result.pending) == (1, 0)
    assert server.requests == []  # UID 2 is asked for no more
    with app.db.transaction() as session:
        row = session.query(PendingUid).one()
        assert (row.uid, row.attempts, row.alerted) == (2, 3, True)
    said = health.status(app, None)["warnings"]
    assert any("would not deliver" in w and "/INBOX UID 2 (" in w for w in said), said
    client.logout()
    assert len(views.incident_list(app)) == 7
    app.close()


def test_a_server_refusing_every_fetch_is_an_outage(
    tmp_path: Path, dovecot, database_url
) -> None:  # type: ignore[no-untyped-def]
    """A NO for every UID, each asked alone too, is the server's state: no
    UID is counted as an attempt (they would all be given up)."""
    dovecot.append_many([_raw(1), _raw(2)])
    app = make_app(tmp_path, database_url, dovecot=dovecot, now=NOW)
    client = imap.connect(app)

    def refuse(uids, items):  # type: ignore[no-untyped-def]
        raise imap.IMAPClient.Error("fetch failed: [UNAVAILABLE] try later")

    scripted = ScriptedFetch(client, [refuse, refuse, refuse])
    with pytest.raises(TemporaryError, match="refuses to FETCH any mail"):
        imap.catch_up(app, scripted)  # type: ignore[arg-type]
    with app.db.transaction() as session:
        assert session.query(PendingUid).count() == 0
    assert imap.catch_up(app, client).processed == 2
    client.logout()
    app.close()


def test_a_mail_expunged_between_search_and_fetch_is_not_pending(
    tmp_path: Path, dovecot, database_url, caplog, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """It stayed pending for ever, with an ERROR to check a mail that no
    longer exists; a UID no longer in the folder is dropped. Never recorded,
    it was said only at INFO, by its UID alone: now a WARNING names it by
    its size too, so that a person can find it where it was moved."""
    caplog.set_level("INFO")
    dovecot.append_many([_raw(n) for n in range(1, 6)])
    app = make_app(tmp_path, database_url, dovecot=dovecot, now=NOW)
    searched = imap.Folder.new_uids
    sizes: dict[int, int] = {}

    def racing(folder, last_uid):  # type: ignore[no-untyped-def]
        uids = searched(folder, last_uid)
        sizes.update(folder.sizes([3]))
        _expunge(dovecot, 3)  # a person deletes UID 3 meanwhile
        return uids

    monkeypatch.setattr(imap.Folder, "new_uids", racing)
    client = imap.connect(app)
    result = imap.catch_up(app, client)
    assert (result.processed, result.pending, result.gone) == (4, 0, 1)
    fetching = [r for r in caplog.records if r.name.startswith("mailbot.fetch")]
    [warned] = [r for r in fetching if r.levelno >= 30]
    said = warned.getMessage()
    assert warned.levelname == "WARNING", said
    assert f"/INBOX UID 3 ({sizes[3]:,} bytes) was moved or deleted" in said, said
    assert "not recorded" in said and "mailbot ingest" in said, said
    with app.db.transaction() as session:
        assert session.query(PendingUid).count() == 0
        assert session.query(FolderState).one().last_uid == 5
    client.logout()
    app.close()


def test_a_pending_uid_expunged_since_is_dropped(
    tmp_path: Path, dovecot, database_url, caplog
) -> None:  # type: ignore[no-untyped-def]
    dovecot.append_many([_raw(1), _raw(2)])
    app = make_app(tmp_path, database_url, dovecot=dovecot, now=NOW)
    client = imap.connect(app)
    never = lambda uids, items: {}  # noqa: E731
    scripted = ScriptedFetch(client, [never] * 3)
    assert imap.catch_up(app, scripted).pending == 2  # type: ignore[arg-type]
    _expunge(dovecot, 2)
    app.clock.advance(dt.timedelta(hours=1))
    with caplog.at_level("WARNING"):
        assert imap.catch_up(app, client).summary().endswith("0 pending")
    # Asked for before, never recorded: named as such too.
    assert any(
        "/INBOX UID 2 was moved or deleted" in r.getMessage()
        and r.levelname == "WARNING"
        for r in caplog.records
    ), caplog.text
    with app.db.transaction() as session:
        assert session.query(PendingUid).count() == 0
    client.logout()
    app.close()


def _expunge(dovecot, uid: int) -> None:  # type: ignore[no-untyped-def]
    with dovecot.client() as other:
        other.select_folder("INBOX")
        other.add_flags([uid], [b"\\Deleted"])
        other.expunge()
