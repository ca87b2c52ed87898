"""A message the server cannot read ends the session; it must not end intake.

Dovecot answers a FETCH naming a message file it cannot open with
`* BYE FETCH failed: Internal error occurred` and closes the connection, for
the whole batch, and again at every reconnect. The file is made unreadable
for real here (mode 000 on the server's own maildir file).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from pathlib import Path

from mailbot_env import mail, make_app
from opsenv import cli_env, run_cli

from mailbot import health, service, views
from mailbot.daemon import Daemon
from mailbot.db.models import PendingUid
from mailbot.errors import SessionEndedAtMail, TemporaryError
from mailbot.fetch import imap

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)


def _raw(n: int) -> bytes:
    return mail(
        subject=f"Unreadable {n}",
        sender=f"r{n}@cert{n}.example.net",
        message_id=f"<unreadable-{n}@cert.example.net>",
        body=f"Scanning from 203.0.113.{n}.\n",
    )


def _file_of(dovecot, n: int) -> Path:  # type: ignore[no-untyped-def]
    maildir = dovecot.root / "home" / dovecot.username / "Maildir"
    marker = f"<unreadable-{n}@".encode()
    for path in sorted(maildir.glob("*/*")):
        if path.parent.name in ("new", "cur") and marker in path.read_bytes():
            return path
    raise AssertionError(f"mail {n} not found under {maildir}")


def _sessions(app, limit: int = 6) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Poll as the daemon does, a new session after each ended one, until a
    poll completes; (sessions used, mails processed by the last poll)."""
    for used in range(1, limit + 1):
        client = imap.connect(app)
        try:
            result = imap.catch_up(app, client)
        except (imap.IMAPClient.AbortError, SessionEndedAtMail):
            client.shutdown()
            continue  # the daemon reconnects after its backoff
        client.logout()
        return used, result.processed
    raise AssertionError(f"no poll completed in {limit} sessions")


def _pending(app) -> list[tuple[int, int, bool]]:  # type: ignore[no-untyped-def]
    with app.db.transaction() as session:
        rows = session.query(PendingUid).order_by(PendingUid.uid)
        return [(row.uid, row.attempts, row.alerted) for row in rows]


def _app(tmp_path: Path, database_url: str, dovecot, attempts: int):  # type: ignore[no-untyped-def]
    extra = {"MAILBOT_SOURCE_MAX_FETCH_ATTEMPTS": str(attempts)}
    return make_app(tmp_path, database_url, dovecot=dovecot, now=NOW, extra=extra)


def test_an_unreadable_message_is_set_apart_and_the_rest_is_read(
    tmp_path: Path, dovecot, database_url
) -> None:  # type: ignore[no-untyped-def]
    """Every session ended at the same batch: no mail of it, nor any later
    one, was ever read."""
    dovecot.append_many([_raw(n) for n in range(1, 6)])
    unreadable = _file_of(dovecot, 2)
    unreadable.chmod(0)
    app = _app(tmp_path, database_url, dovecot, attempts=5)
    used, _ = _sessions(app)
    # The batch's session ends, the next asks its UIDs alone and ends at
    # UID 2, the third reads the rest.
    assert used <= 3, used
    assert len(views.incident_list(app)) == 4
    assert _pending(app) == [(2, 1, False)]
    # New mail goes on meanwhile; UID 2 waits for its backoff.
    dovecot.append(_raw(6))
    assert _sessions(app) == (1, 1)
    # Readable again (a person mended the file): read at its next try.
    unreadable.chmod(0o600)
    app.clock.advance(dt.timedelta(hours=1))
    assert _sessions(app) == (1, 1)
    assert _pending(app) == []
    assert len(views.incident_list(app)) == 6
    app.close()


def test_a_message_that_stays_unreadable_is_given_up_by_name(
    tmp_path: Path, dovecot, database_url, caplog
) -> None:  # type: ignore[no-untyped-def]
    dovecot.append_many([_raw(n) for n in range(1, 4)])
    _file_of(dovecot, 3).chmod(0)
    app = _app(tmp_path, database_url, dovecot, attempts=2)
    _sessions(app)
    app.clock.advance(dt.timedelta(hours=1))
    with caplog.at_level(logging.WARNING):
        assert _sessions(app) == (2, 0)  # asked once more, alone
    assert _pending(app) == [(3, 2, True)]
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1, errors
    assert "UID 3" in errors[0] and "ended the session" in errors[0], errors[0]
    assert "mailbot ingest" in errors[0]
    # Given up: no session ends at it any more.
    app.clock.advance(dt.timedelta(days=1))
    dovecot.append(_raw(4))
    assert _sessions(app) == (1, 1)
    assert len(views.incident_list(app)) == 3
    app.close()


def test_a_poll_ended_by_the_server_says_what_to_do(
    tmp_path: Path, dovecot, database_url
) -> None:  # type: ignore[no-untyped-def]
    """The one-shot poll printed imaplib's `abort: command: FETCH => ...`
    and nothing about what it meant or what to do."""
    dovecot.append_many([_raw(n) for n in range(1, 4)])
    _file_of(dovecot, 2).chmod(0)
    app = _app(tmp_path, database_url, dovecot, attempts=5)
    env = cli_env(app)
    first = run_cli(env, "poll")
    assert first.returncode == 1, first.stderr
    said = first.stderr.strip().splitlines()[-1]
    assert said.startswith("mailbot: imap://"), said
    assert "UIDs 1 to 3: the server ended the session" in said, said
    assert "poll again" in said, said
    assert "Traceback" not in said and "abort:" not in said, said
    codes = [run_cli(env, "poll").returncode for _ in range(3)]
    assert codes[-1] == 0, codes
    assert len(views.incident_list(app)) == 2
    assert _pending(app) == [(2, 1, False)]
    app.close()


def test_run_reads_on_at_once_after_each_unreadable_mail(
    tmp_path: Path, dovecot, database_url, caplog
) -> None:  # type: ignore[no-untyped-def]
    """Each session ended at an unreadable mail asked alone was taken for an
    outage: logged as "mailbox unreachable", and the wait before the next
    session doubled from one such mail to the next (1, 2, 4, 8 s ...)."""
    caplog.set_level(logging.INFO)
    total, unreadable = 24, (3, 4, 17, 24)
    dovecot.append_many([_raw(n) for n in range(1, total + 1)])
    for n in unreadable:
        _file_of(dovecot, n).chmod(0)
    extra = {"MAILBOT_SOURCE_POLL_INTERVAL": "1", "MAILBOT_DIGEST_TIME": ""}
    app = make_app(tmp_path, database_url, dovecot=dovecot, extra=extra)
    daemon = Daemon(app)
    thread = threading.Thread(target=daemon.run, daemon=True)
    began = time.monotonic()
    thread.start()
    try:
        wanted = total - len(unreadable)
        while len(views.incident_list(app)) < wanted:
            assert time.monotonic() - began < 60, "not read within 60 s"
            time.sleep(0.2)
        took = time.monotonic() - began
    finally:
        daemon.stopping.set()
        thread.join(60)
    assert not thread.is_alive()
    # One batch's session, then one per unreadable mail, a second apart.
    assert took < 12, took
    said = [r.getMessage() for r in caplog.records]
    assert not [m for m in said if "unreachable" in m], said
    assert [p[0] for p in _pending(app)] == list(unreadable)
    app.close()


def _break_every_file(dovecot, mode: int) -> None:  # type: ignore[no-untyped-def]
    """Every message file of the server unreadable (or readable again): what
    a broken store looks like to Dovecot at every FETCH, whatever the mail."""
    maildir = dovecot.root / "home" / dovecot.username / "Maildir"
    for path in maildir.glob("*/*"):
        if path.parent.name in ("new", "cur"):
            path.chmod(mode)


def test_a_server_failing_every_fetch_gives_no_mail_up(
    tmp_path: Path, dovecot, database_url, caplog
) -> None:  # type: ignore[no-untyped-def]
    """A server that ended the session at every FETCH (its index or store
    broken, not one mail) cost each mail asked alone an attempt, one a
    session: after max_fetch_attempts rounds every one was given up by name,
    and nothing said that the server, not the mails, was at fault."""
    dovecot.append_many([_raw(n) for n in range(1, 4)])
    app = _app(tmp_path, database_url, dovecot, attempts=2)
    assert _sessions(app) == (1, 3)
    dovecot.append_many([_raw(n) for n in range(4, 7)])
    _break_every_file(dovecot, 0)
    said: list[str] = []
    with caplog.at_level(logging.WARNING):
        # Far more sessions, and time, than two attempts of three mails take.
        for _ in range(12):
            client = imap.connect(app)
            try:
                imap.catch_up(app, client)
            except TemporaryError as exc:
                said.append(str(exc))
            finally:
                client.shutdown()
            app.clock.advance(dt.timedelta(hours=5))
    assert [(uid, alerted) for uid, _, alerted in _pending(app)] == [
        (4, False),
        (5, False),
        (6, False),
    ]
    assert {attempts for _, attempts, _ in _pending(app)} == {0}
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
    assert "the server fails every FETCH" in said[-1], said
    assert "not a mail's" in said[-1] and "server's log" in said[-1], said
    data = health.status(app, service.last_poll(app))
    failing = data["imap_fails_every_fetch"]
    assert failing and "the server fails every FETCH" in failing["problem"], data
    assert any("fails every FETCH" in p for p in data["problems"]), data
    # Mended: everything is read, and the problem is gone from `status`.
    _break_every_file(dovecot, 0o600)
    assert _sessions(app) == (1, 3)
    assert _pending(app) == []
    assert len(views.incident_list(app)) == 6
    service.set_state(app, service.LAST_POLL_KEY, "2026-12-31T00:00:00Z")
    data = health.status(app, service.last_poll(app))
    assert data["imap_fails_every_fetch"] is None, data
    app.close()


def test_run_names_a_server_failing_every_fetch_as_such(
    tmp_path: Path, dovecot, database_url, caplog
) -> None:  # type: ignore[no-untyped-def]
    """`run` reconnected a second after each ended session, counting one
    mail an attempt each time, and logged nothing about the server."""
    caplog.set_level(logging.INFO)
    dovecot.append_many([_raw(n) for n in range(1, 3)])
    extra = {"MAILBOT_SOURCE_POLL_INTERVAL": "1", "MAILBOT_DIGEST_TIME": ""}
    app = make_app(tmp_path, database_url, dovecot=dovecot, extra=extra)
    assert _sessions(app) == (1, 2)
    dovecot.append_many([_raw(n) for n in range(3, 6)])
    _break_every_file(dovecot, 0)
    daemon = Daemon(app)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        # The batch's session, then one that checks the server: an outage.
        deadline = time.monotonic() + 30
        while not app.outages.is_down("mailbox"):
            assert time.monotonic() < deadline, caplog.text
            time.sleep(0.2)
        time.sleep(4)  # reconnects, 1 s then 2 s later, fail alike
    finally:
        daemon.stopping.set()
        thread.join(60)
    assert not thread.is_alive()
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1, errors
    assert errors[0].startswith("mailbox (IMAP) fails every FETCH, retrying by")
    assert "unreachable" not in caplog.text
    assert {attempts for _, attempts, _ in _pending(app)} == {0}, _pending(app)
    app.close()
