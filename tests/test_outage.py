"""Outages: the real servers stopped and restarted; logged once, work resumes.

The IMAP server and the database are taken away under a running daemon;
the SMTP server is stopped, made to answer 4xx and 5xx, and replaced by one
that says nothing at all. Each outage must show as one log line when it
starts (and one when it ends), never one per attempt or per mail, and the
work must resume by itself.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import opsenv
import pytest
import sqlalchemy
from mailbot_env import mail, make_app, running_daemon
from servers import SmtpSink, _admin_engine, database_server, fresh_database
from sqlalchemy import func, select

from mailbot import commands, send
from mailbot.app import App
from mailbot.daemon import Stopper
from mailbot.db.engine import CONNECT_TIMEOUT
from mailbot.db.models import Mail, Outbox
from mailbot.mail import RawMail
from mailbot.process import process_delivery
from mailbot.send.claim import LEASE
from mailbot.send.transport import Transport, transport_for

NOW = dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)
QUICK = {"MAILBOT_SOURCE_POLL_INTERVAL": "1", "MAILBOT_DIGEST_TIME": ""}


def _report(n: int) -> bytes:
    return mail(
        subject=f"Scans from 203.0.113.{n}",
        sender=f"reporter{n}@cert{n}.example.net",
        message_id=f"<outage-{n}@cert.example.net>",
        body=f"Scans from 203.0.113.{n}.\n",
    )


def _wait(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if predicate():
                return
        time.sleep(0.2)
    raise AssertionError(f"not done within {timeout} s")


def _stored(app: App) -> int:
    with app.db.transaction() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Mail)
                .where(Mail.direction == "in", Mail.state == "processed")
            )
            or 0
        )


def _lines(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in r.getMessage() for r in caplog.records)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def _stop_for_good(dovecot) -> None:  # type: ignore[no-untyped-def]
    """Stop Dovecot and its running sessions, as a host going down does.

    A stopped Dovecot master leaves its IMAP session processes serving the
    connections they have; they are this test's own server's children.
    """
    sessions = _children(dovecot._process.pid)
    dovecot.stop()
    for pid in sessions:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_imap_server_stopped_and_restarted(
    tmp_path: Path, database_url: str, dovecot, smtp_sink, caplog
) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO)
    app = make_app(tmp_path, database_url, dovecot=dovecot, smtp=smtp_sink, extra=QUICK)
    dovecot.append(_report(1))
    with running_daemon(app):
        _wait(lambda: _stored(app) == 1)
        _stop_for_good(dovecot)
        time.sleep(6)  # several reconnect attempts fail meanwhile
        dovecot.start()
        dovecot.append_many([_report(2), _report(3)])
        _wait(lambda: _stored(app) == 3)
        smtp_sink.wait_for(3, timeout=60)
    assert _lines(caplog, "mailbox (IMAP) unreachable, retrying by itself") == 1
    assert _lines(caplog, "mailbox back: work resumed") == 1
    app.close()


def test_each_imap_outage_waits_from_the_start_again(
    tmp_path: Path, database_url: str, dovecot
) -> None:  # type: ignore[no-untyped-def]
    """The reconnect wait doubled at every outage and never went back once a
    session had worked: after five short server restarts the sixth cost
    32 s of blindness, and soon the 300 s maximum, for a one-second blip."""
    app = make_app(tmp_path, database_url, dovecot=dovecot, extra=QUICK)
    dovecot.append(_report(1))
    with running_daemon(app):
        _wait(lambda: _stored(app) == 1)
        for n in range(2, 8):
            _stop_for_good(dovecot)
            dovecot.start()
            back = time.monotonic()
            dovecot.append(_report(n))
            _wait(lambda n=n: _stored(app) == n)  # type: ignore[misc]
            took = time.monotonic() - back
            # A reconnect after 1 s, or 2 s if Dovecot was not yet up.
            assert took < 12, f"restart {n - 1}: mail read {took:.1f} s after"
    app.close()


def _queue(app: App, *numbers: int) -> None:
    for n in numbers:
        outcome = process_delivery(app, RawMail(_report(n), app.clock.now(), f"t{n}"))
        assert outcome.result == "processed"


def _outbox(app: App) -> list[tuple[str, int]]:
    with app.db.transaction() as session:
        return [
            (r.state, r.attempts)
            for r in session.scalars(select(Outbox).order_by(Outbox.id))
        ]


def test_smtp_down_4xx_5xx_and_silent(
    tmp_path: Path, database_url: str, smtp_sink, caplog
) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW)
    # Down: the batch waits untried, one line says so.
    smtp_sink.stop()
    _queue(app, 1, 2, 3)
    for _ in range(3):
        send.deliver_due(app)
    assert _outbox(app) == [("pending", 0)] * 3
    # Outside the daemon nothing retries until the next command runs.
    assert _lines(caplog, "SMTP server not taking mail, the next run retries") == 1
    smtp_sink.start()
    send.deliver_due(app)
    assert [s for s, _ in _outbox(app)] == ["sent"] * 3
    assert _lines(caplog, "smtp back: work resumed") == 1

    # 4xx to every mail: the relay's outage; the mails wait, no attempt
    # spent, logged once.
    smtp_sink.reject("DATA", 451, "4.3.0 try again later")
    _queue(app, 4, 5, 6)
    send.deliver_due(app)
    assert _outbox(app)[3:] == [("pending", 0)] * 3
    assert _lines(caplog, "SMTP server not taking mail") == 2
    smtp_sink.accept()
    app.clock.advance(dt.timedelta(minutes=2))
    send.deliver_due(app)
    assert [s for s, _ in _outbox(app)[3:]] == ["sent"] * 3

    # 5xx: that mail failed for good (BR-37); the next goes out.
    smtp_sink.reject("DATA", 550, "5.7.1 refused")
    _queue(app, 7)
    send.deliver_due(app)
    assert _outbox(app)[6][0] == "failed"
    smtp_sink.accept()
    _queue(app, 8)
    send.deliver_due(app)
    assert _outbox(app)[7][0] == "sent"
    assert len(smtp_sink.messages) == 7
    app.close()


def test_smtp_server_that_says_nothing(
    tmp_path: Path, database_url: str, caplog
) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO)
    silent = socket.create_server(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    taken: list[socket.socket] = []
    accepting = threading.Thread(
        target=lambda: taken.append(silent.accept()[0]), daemon=True
    )
    accepting.start()
    app = make_app(
        tmp_path,
        database_url,
        now=NOW,
        extra={
            "MAILBOT_SMTP_KIND": "smtp",
            "MAILBOT_SMTP_HOST": "127.0.0.1",
            "MAILBOT_SMTP_PORT": str(port),
            "MAILBOT_SMTP_TLS": "none",
            "MAILBOT_SMTP_TIMEOUT": "1",
        },
    )
    _queue(app, 1, 2)
    send.deliver_due(app)
    send.deliver_due(app)
    assert _outbox(app) == [("pending", 0)] * 2
    assert _lines(caplog, "SMTP server not taking mail") == 1
    for sock in [*taken, silent]:
        sock.close()
    # A working server comes up on the same port: the mail goes by itself.
    sink = SmtpSink()
    sink.port = port
    with sink:
        send.deliver_due(app)
        assert len(sink.wait_for(2)) == 2
    assert [s for s, _ in _outbox(app)] == ["sent", "sent"]
    app.close()


def _set_connections(admin: sqlalchemy.Engine, name: str, allowed: bool) -> None:
    with admin.connect() as connection:
        connection.exec_driver_sql(
            f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}'
        )
        if not allowed:
            connection.execute(
                sqlalchemy.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )


def _daemon_through(  # type: ignore[no-untyped-def]
    tmp_path: Path,
    dovecot,
    smtp_sink,
    outage: Callable[[sqlalchemy.Engine, str, bool], None],
) -> None:
    """A daemon on a PostgreSQL test database of its own (SQLite cannot be
    taken away like a server): mail 1 stored, then the database down
    (`outage(admin, name, True)`) while mails 2 and 3 come, then back; all
    three must be stored and acknowledged."""
    server = database_server("postgresql")
    with fresh_database(server) as url:
        name = str(sqlalchemy.engine.make_url(url).database)
        admin = _admin_engine(server)
        app = make_app(tmp_path, url, dovecot=dovecot, smtp=smtp_sink, extra=QUICK)
        dovecot.append(_report(1))
        try:
            with running_daemon(app):
                _wait(lambda: _stored(app) == 1)
                outage(admin, name, True)
                dovecot.append_many([_report(2), _report(3)])
                time.sleep(6)  # polls and jobs fail meanwhile
                outage(admin, name, False)
                _wait(lambda: _stored(app) == 3)
                smtp_sink.wait_for(3, timeout=60)
        finally:
            outage(admin, name, False)
            app.close()
            admin.dispose()


def test_database_unreachable_for_a_while(
    tmp_path: Path, dovecot, smtp_sink, caplog
) -> None:  # type: ignore[no-untyped-def]
    # Made unreachable by refusing connections to its database.
    caplog.set_level(logging.INFO)
    _daemon_through(
        tmp_path,
        dovecot,
        smtp_sink,
        lambda admin, name, down: _set_connections(admin, name, allowed=not down),
    )
    # The first part to notice says so once (the leader lock, or a pass over
    # the mailbox, or a job); no line repeats per attempt, tick or mail.
    noted = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("mailbot") and r.levelno >= logging.WARNING
    ]
    assert any("not currently accepting connections" in m for m in noted), noted
    assert len(noted) == len(set(noted)) and len(noted) <= 5, noted


class _DatabaseGoesAfterFirstMail:
    """The real SMTP transport; the database goes away once it took a mail."""

    def __init__(self, inner: Transport, take_away: Callable[[], None]) -> None:
        self.inner = inner
        self.take_away: Callable[[], None] | None = take_away

    def send(self, sender: str, recipients: list[str], raw: bytes) -> dict[str, str]:
        refused = self.inner.send(sender, recipients, raw)
        if self.take_away is not None:
            self.take_away()
            self.take_away = None
        return refused

    def close(self) -> None:
        self.inner.close()


def test_a_server_silent_after_the_data_leaves_one_mail_uncertain(
    tmp_path: Path, database_url: str, smtp_sink
) -> None:  # type: ignore[no-untyped-def]
    """A server that takes a mail's data and never answers: that mail is
    uncertain (it may have arrived). The batch went on, and each mail after
    it waited out [smtp] timeout and was uncertain too, each for an
    operator to check by hand (the older notes' F5). The rest now wait,
    untried, as in an outage, and the server counts as down."""
    app = make_app(
        tmp_path,
        database_url,
        smtp=smtp_sink,
        now=NOW,
        extra={"MAILBOT_SMTP_TIMEOUT": "1"},
    )
    _queue(app, 1, 2, 3)
    smtp_sink.stall()
    counts = send.deliver_due(app)
    assert (counts.uncertain, counts.sent) == (1, 0)
    assert _outbox(app) == [("uncertain", 1), ("pending", 0), ("pending", 0)]
    assert app.outages.is_down("smtp")
    # A one-shot command's last line: what happened, what to check and do.
    line = commands.delivery_outage(app)
    assert line is not None and "no answer after the message data" in line
    assert "outbox settle 1 arrived|resend" in line
    assert "2 mail(s) wait in the outbox" in line
    # They wait as in an outage (a minute at first), not each tick.
    smtp_sink.release()
    assert send.deliver_due(app).sent == 0
    app.clock.advance(dt.timedelta(minutes=1))
    assert send.deliver_due(app).sent == 2
    assert _outbox(app) == [("uncertain", 1), ("sent", 1), ("sent", 1)]
    assert not app.outages.is_down("smtp")
    app.close()


def test_a_server_closing_after_the_data_is_said_so(
    tmp_path: Path, database_url: str, smtp_sink
) -> None:  # type: ignore[no-untyped-def]
    """A server that closes the connection after a mail's data, before
    answering: that mail is uncertain and the rest wait, as for a silent
    one, but the line said it "did not answer within [smtp] timeout"
    (brk13 F5): it closed the connection at once."""
    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW)
    _queue(app, 1, 2)
    smtp_sink.drop()
    counts = send.deliver_due(app)
    assert (counts.uncertain, counts.sent) == (1, 0)
    assert _outbox(app) == [("uncertain", 1), ("pending", 0)]
    line = commands.delivery_outage(app)
    assert line is not None
    assert "the server closed the connection before answering" in line
    assert "timeout" not in line
    assert "outbox settle 1 arrived|resend" in line
    app.close()


def test_database_lost_mid_batch_sends_each_mail_once(
    tmp_path: Path, smtp_sink
) -> None:  # type: ignore[no-untyped-def]
    # The CI failure of 2026-12-04: a batch of rows was claimed, then the
    # database went; the mails no server had seen stayed "sending" until
    # their lease ran out and then counted as uncertain, so the
    # acknowledgement never left. A row is claimed just before its exchange.
    server = database_server("postgresql")
    with fresh_database(server) as url:
        name = sqlalchemy.engine.make_url(url).database
        admin = _admin_engine(server)
        app = make_app(tmp_path, url, smtp=smtp_sink, now=NOW)
        try:
            _queue(app, 1, 2, 3)
            transport = _DatabaseGoesAfterFirstMail(
                transport_for(app),
                lambda: _set_connections(admin, name, allowed=False),
            )
            with pytest.raises(sqlalchemy.exc.OperationalError):
                send.deliver_due(app, transport)
            _set_connections(admin, name, allowed=True)
            counts = send.deliver_due(app, transport)
            transport.close()
            assert counts.sent == 2
            # The first mail reached the server, but its row could not say
            # so: it waits for its lease and an operator, never a second copy.
            assert [s for s, _ in _outbox(app)] == ["sending", "sent", "sent"]
            app.clock.advance(LEASE + dt.timedelta(seconds=1))
            send.deliver_due(app)
            assert [s for s, _ in _outbox(app)] == ["uncertain", "sent", "sent"]
            recipients = sorted(m.recipients[0] for m in smtp_sink.messages)
            assert recipients == [f"reporter{n}@cert{n}.example.net" for n in (1, 2, 3)]
        finally:
            _set_connections(admin, name, allowed=True)
            app.close()
            admin.dispose()


def test_a_connection_lost_while_values_are_copied_is_an_outage(
    tmp_path: Path,
) -> None:
    """Field values go to PostgreSQL by COPY, at the driver: a connection
    lost there reads as an outage (the mail waits), not as a fault of the
    mail's data (the mail would be set aside)."""
    from sqlalchemy.exc import OperationalError

    from mailbot import fields
    from mailbot.process import unavailable

    server = database_server("postgresql")
    with fresh_database(server) as url:
        app = make_app(tmp_path, url)
        admin = _admin_engine(server)
        try:
            # The rollback on leaving fails too: only the copy's error counts.
            with (
                contextlib.suppress(OperationalError),
                app.db.session() as session,
                app.db.transaction(session),
            ):
                connection = session.connection()
                pid = connection.exec_driver_sql("SELECT pg_backend_pid()")
                with admin.connect() as other:
                    other.execute(
                        sqlalchemy.text("SELECT pg_terminate_backend(:pid)"),
                        {"pid": pid.scalar_one()},
                    )
                row = (1, 1, "evidence", "a line", "text", "1", 1)
                with pytest.raises(OperationalError) as raised:
                    fields._insert_values(session, [row])
        finally:
            admin.dispose()
            app.close()
    assert unavailable(raised.value), raised.value


def _read_only(admin: sqlalchemy.Engine, name: str, on: bool) -> None:
    """The database read-only for every new transaction, and every session
    ended, as after a failover that leaves the URL on a standby."""
    with admin.connect() as connection:
        value = (
            "SET default_transaction_read_only = on"
            if on
            else "RESET default_transaction_read_only"
        )
        connection.exec_driver_sql(f'ALTER DATABASE "{name}" {value}')
        connection.execute(
            sqlalchemy.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )


def test_a_read_only_database_is_an_outage(
    tmp_path: Path, dovecot, smtp_sink, caplog
) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL read-only (SQLSTATE 25006, an InternalError, not an
    OperationalError) killed the daemon at its next write, with the SQL and
    its parameters, the first bytes of a mail among them, on stderr."""
    caplog.set_level(logging.INFO)
    _daemon_through(
        tmp_path,
        dovecot,
        smtp_sink,
        lambda admin, name, down: _read_only(admin, name, on=down),
    )
    noted = [
        caplog.handler.format(r)
        for r in caplog.records
        if r.name.startswith("mailbot") and r.levelno >= logging.WARNING
    ]
    # Its sessions ended first, then found read-only: one line for each
    # kind (the second, what to check now), whichever comes first.
    down = [m for m in noted if "database unreachable" in m and "by itself" in m]
    assert 1 <= len(down) <= 2, noted
    # The URL is named where it was set: the tests set it by the variable.
    advice = "check that MAILBOT_DATABASE_URL points at the primary"
    assert [m for m in down if advice in m], down
    assert not [m for m in noted if "[SQL" in m or "reporter2@" in m], noted


def test_a_read_only_database_stops_a_poll_with_one_line(
    tmp_path: Path, dovecot
) -> None:  # type: ignore[no-untyped-def]
    """`poll` on a read-only database: one line saying so and what to check
    (it printed the SQL, its parameters and a link), exit 1."""
    server = database_server("postgresql")
    with fresh_database(server) as url:
        name = sqlalchemy.engine.make_url(url).database
        admin = _admin_engine(server)
        app = make_app(tmp_path, url, dovecot=dovecot)
        app.close()
        dovecot.append(_report(1))
        try:
            _read_only(admin, name, on=True)
            done = opsenv.run_cli(opsenv.cli_env(app), "poll")
        finally:
            _read_only(admin, name, on=False)
            admin.dispose()
    assert done.returncode == 1
    said = done.stderr.strip().splitlines()
    assert len(said) == 1, done.stderr
    assert "the database is read-only" in said[0], said
    assert "points at the primary" in said[0]


def _daemon_environment(app: App, url: str) -> dict[str, str]:
    return opsenv.cli_env(
        app,
        MAILBOT_DATABASE_URL=url,
        MAILBOT_SOURCE_POLL_INTERVAL="1",
        MAILBOT_DIGEST_TIME="",
    )


def test_run_waits_for_a_database_down_at_start(
    tmp_path: Path, dovecot, smtp_sink
) -> None:  # type: ignore[no-untyped-def]
    """`run` exited 1 when PostgreSQL was not up yet at start (a host booting
    mailbot first), though it waits out the same outage later."""
    server = database_server("postgresql")
    with fresh_database(server) as url:
        name = sqlalchemy.engine.make_url(url).database
        admin = _admin_engine(server)
        app = make_app(tmp_path, url, dovecot=dovecot, smtp=smtp_sink)
        app.close()
        dovecot.append(_report(1))
        try:
            _set_connections(admin, name, allowed=False)
            log = tmp_path / "run.log"
            with opsenv.DaemonProcess(_daemon_environment(app, url), log) as daemon:
                assert opsenv.wait_until(
                    lambda: "database unreachable" in daemon.log_text(), 30
                ), daemon.log_text()
                time.sleep(3)  # several attempts meanwhile
                assert daemon.process.poll() is None, daemon.log_text()
                _set_connections(admin, name, allowed=True)
                assert opsenv.wait_until(lambda: _stored(app) == 1, 60)
                smtp_sink.wait_for(1, timeout=60)
                assert daemon.stop() == 0
        finally:
            _set_connections(admin, name, allowed=True)
            app.close()
            admin.dispose()
    text = log.read_text()
    waited = [line for line in text.splitlines() if "database unreachable" in line]
    assert len(waited) == 1, text
    # The URL came from MAILBOT_DATABASE_URL: the variable is what to check.
    assert "retrying by itself" in waited[0]
    assert "check MAILBOT_DATABASE_URL (host" in waited[0]
    assert "database back: work resumed" in text


@contextlib.contextmanager
def _silent_database() -> Iterator[tuple[str, list[socket.socket]]]:
    """A PostgreSQL URL whose server takes each connection and says nothing
    (a host overloaded, a server stopped with SIGSTOP), and its connections."""
    silent = socket.create_server(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    taken: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                taken.append(silent.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"postgresql+psycopg://mailbot@127.0.0.1:{port}/mailbot", taken
    finally:
        for sock in [*taken, silent]:
            sock.close()


def test_run_stops_at_once_while_it_waits_for_a_database_that_says_nothing(
    tmp_path: Path, database_url: str
) -> None:
    """A tester's report: `run` logged "signal 15 received, stopping" and
    went on for minutes while the database server took the connection and
    said nothing (psycopg waits 130 s per attempt); the second SIGTERM
    logged the same line again. One SIGTERM now ends it at once."""
    app = make_app(tmp_path, database_url)
    app.close()
    log = tmp_path / "run.log"
    with (
        _silent_database() as (url, taken),
        opsenv.DaemonProcess(_daemon_environment(app, url), log) as daemon,
    ):
        # mailbot is inside its first connection attempt.
        assert opsenv.wait_until(lambda: bool(taken), 30), daemon.log_text()
        time.sleep(0.5)
        started = time.monotonic()
        assert daemon.stop(timeout=15) == 0
        took = time.monotonic() - started
    text = log.read_text()
    assert took < 5, text
    assert _count(text, "signal 15 received") == 1, text
    assert text.rstrip().endswith("stopped"), text


def test_a_database_that_says_nothing_is_given_up_after_the_connect_timeout(
    tmp_path: Path, database_url: str
) -> None:
    """Every attempt to reach the database ends within CONNECT_TIMEOUT (two
    attempts: with TLS, then without), not psycopg's 130 s each: a daemon
    told to stop, or a job, waited that long; the URL's own value wins."""
    app = make_app(tmp_path, database_url)
    app.close()

    def sweep(url: str) -> tuple[float, str]:
        started = time.monotonic()
        done = opsenv.run_cli(_daemon_environment(app, url), "sweep", timeout=90)
        assert done.returncode == 1, done.stderr
        return time.monotonic() - started, done.stderr

    # The same command against a port nobody listens on fails at once: its
    # time is the start-up's, which a loaded machine stretches to seconds.
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    start_up, said = sweep(f"postgresql+psycopg://mailbot@127.0.0.1:{port}/mailbot")
    assert "connection timeout expired" not in said, said
    waited: list[float] = []
    with _silent_database() as (url, _):
        for given in (url, f"{url}?connect_timeout=2"):
            took, said = sweep(given)
            assert "connection timeout expired" in said, said
            waited.append(took - start_up)
    assert waited[0] < 2 * CONNECT_TIMEOUT + 5, (start_up, waited)
    assert waited[1] < 2 * 2 + 5, (start_up, waited)


def _count(text: str, phrase: str) -> int:
    return sum(phrase in line for line in text.splitlines())


def test_a_second_signal_says_the_daemon_is_stopping_already(caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO)
    stopper = Stopper()
    stopper(signal.SIGTERM, None)
    stopper(signal.SIGTERM, None)
    said = [r.getMessage() for r in caplog.records if "signal" in r.getMessage()]
    assert said == [
        "signal 15 received, stopping",
        "signal 15 received again: already stopping, after the work under way",
    ]
    assert stopper.stopping.is_set()


@pytest.mark.parametrize("wrong", ["database", "role"])
def test_run_ends_at_once_when_the_database_refuses_mailbot(
    tmp_path: Path, wrong: str
) -> None:
    """A database or role that does not exist is a configuration error: no
    waiting, exit 2, one line naming the key."""
    server = database_server("postgresql")
    with fresh_database(server) as url:
        app = make_app(tmp_path, url)
        app.close()
        parsed = sqlalchemy.engine.make_url(url)
        if wrong == "database":
            parsed = parsed.set(database=f"{parsed.database}_missing")
        else:
            parsed = parsed.set(username="no_such_mailbot_role")
        bad = parsed.render_as_string(hide_password=False)
        # A refusal taken for an outage would be retried until a signal:
        # the run would outlive its timeout. Bounds, not timings: a loaded
        # CI machine takes many seconds to start Python.
        started = time.monotonic()
        done = opsenv.run_cli(_daemon_environment(app, bad), "run", timeout=120)
        took = time.monotonic() - started
        health = opsenv.run_cli(_daemon_environment(app, bad), "status", "--json")
    assert done.returncode == 2, done.stderr
    assert took < 60, took  # no backoffs (1, 2, 4 ... s) waited out either
    last = done.stderr.strip().splitlines()[-1]
    # The URL came from MAILBOT_DATABASE_URL: the variable is named.
    assert last.startswith("mailbot: configuration error: MAILBOT_DATABASE_URL: "), last
    assert "does not exist" in last and "check MAILBOT_DATABASE_URL" in last
    # A monitor still reads the verdict.
    assert health.returncode == 2
    assert json.loads(health.stdout)["healthy"] is False


def test_a_one_shot_command_that_delivers_nothing_for_an_outage_fails(
    tmp_path: Path, database_url: str, smtp_sink
) -> None:  # type: ignore[no-untyped-def]
    """`mailbot poll` and `sweep` exited 0 when the SMTP server took none
    of their mail: a cron job or a person saw success (opsfix7)."""
    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW)
    path = tmp_path / "inbox" / "new" / "1.eml"
    path.write_bytes(_report(1))
    os.utime(path, (NOW.timestamp(), NOW.timestamp()))
    env = opsenv.cli_env(app)
    now = ("--now", (NOW + dt.timedelta(minutes=1)).isoformat())
    smtp_sink.stop()
    done = opsenv.run_cli(env, *now, "poll", "--json")
    assert done.returncode == 1, done.stderr
    # The counts all the same, then one line: what is wrong, what to do.
    assert json.loads(done.stdout)["processed"] == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("mailbot: the SMTP server is not taking mail: cannot reach")
    assert "1 mail(s) wait in the outbox" in last
    assert "check [smtp] host and port" in last
    done = opsenv.run_cli(env, *now, "sweep")
    assert done.returncode == 1 and "not taking mail" in done.stderr
    # A relay refusing every mail at DATA is an outage too, saying its answer.
    smtp_sink.start()
    smtp_sink.reject("DATA", 554, "5.7.1 client host blocked")
    path = tmp_path / "inbox" / "new" / "2.eml"
    path.write_bytes(_report(2))
    os.utime(path, (NOW.timestamp(), NOW.timestamp()))
    done = opsenv.run_cli(env, *now, "poll")
    assert done.returncode == 1 and "554 5.7.1 client host blocked" in done.stderr
    assert "2 mail(s) wait in the outbox" in done.stderr
    # Nothing to send, or the server back: success.
    smtp_sink.accept()
    later = ("--now", (NOW + dt.timedelta(hours=1)).isoformat())
    done = opsenv.run_cli(env, *later, "sweep")
    assert done.returncode == 0, done.stderr
    assert len(smtp_sink.messages) == 2
    assert opsenv.run_cli(env, *later, "poll").returncode == 0
    app.close()


def test_a_quarantine_retry_whose_mail_waits_for_an_outage_fails(
    tmp_path: Path, database_url: str, smtp_sink
) -> None:  # type: ignore[no-untyped-def]
    """`quarantine retry` exited 0 when its mail was processed but the SMTP
    server took none of what that queued: it fails like `poll` does."""
    small = {"MAILBOT_LIMITS_MAX_MAIL_BYTES": "4000"}
    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW, extra=small)
    raw = mail(
        subject="Scans from 203.0.113.7",
        sender="reporter7@cert7.example.net",
        message_id="<outage-big@cert.example.net>",
        body="Scans from 203.0.113.7.\n" + "x" * 5000 + "\n",
    )
    outcome = process_delivery(app, RawMail(raw, NOW, "test"))
    assert outcome.result == "quarantined"
    env = opsenv.cli_env(app)  # the operator raised the limit
    now = ("--now", (NOW + dt.timedelta(minutes=1)).isoformat())
    smtp_sink.stop()
    done = opsenv.run_cli(env, *now, "quarantine", "retry", str(outcome.mail_id))
    assert done.returncode == 1, done.stderr
    assert "result: processed" in done.stdout
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("mailbot: the SMTP server is not taking mail"), last
    assert "1 mail(s) wait in the outbox" in last
    # The server back, the acknowledgement leaves with the next pass.
    smtp_sink.start()
    assert opsenv.run_cli(env, *now, "sweep").returncode == 0
    assert len(smtp_sink.messages) == 1
    app.close()


def test_an_outage_logs_each_kind_of_problem_once(caplog) -> None:  # type: ignore[no-untyped-def]
    """The first problem of an outage was its only line: a database whose
    sessions were ended, then found read-only, never said to check that
    the URL points at the primary."""
    from mailbot.outage import Outages

    caplog.set_level(logging.DEBUG, logger="mailbot.outage")
    outages = Outages()
    problems = [
        "connection to 127.0.0.1:5432 refused",
        "connection to 127.0.0.1:5433 refused",  # alike: another port
        "the database is read-only: check that [database] url points at the primary",
        "connection to 127.0.0.1:5432 refused",  # said already
    ]
    started = [outages.down("database", problem) for problem in problems]
    assert started == [True, False, False, False]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2, errors
    assert errors[1].startswith("database unreachable (still), the next run retries")
    assert "now: the database is read-only" in errors[1]
    assert outages.up("database")
    caplog.clear()
    assert outages.down("database", problems[0])  # a new outage says it again
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1


def test_a_maildir_outbox_that_cannot_be_written_is_an_outage(
    tmp_path: Path, database_url: str, caplog
) -> None:  # type: ignore[no-untyped-def]
    """The Maildir outbox checked good at start, then replaced by a file
    (a full or remounted disk, an operator's slip): delivering crashed with
    NotADirectoryError and left the claimed mail "sending", uncertain once
    its lease ran out, though nothing was written. Now nothing written is
    the outage of the Maildir "server": the mail waits, untried, and leaves
    once the folder is back."""
    app = make_app(tmp_path, database_url, now=NOW)
    outbox = tmp_path / "sent"
    outcome = process_delivery(app, RawMail(_report(1), NOW, "test"))
    assert outcome.result == "processed", outcome.reason
    outbox.write_text("not a folder\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        counts = send.deliver_due(app)
    assert (counts.sent, counts.retried, counts.failed, counts.uncertain) == (
        0,
        0,
        0,
        0,
    )
    with app.db.transaction() as session:
        [row] = session.scalars(select(Outbox)).all()
        assert (row.state, row.attempts, row.lease_until) == ("pending", 0, None)
    problem = app.outages.current()["smtp"]
    assert f"cannot deliver into the Maildir {outbox}: it is a file" in problem
    assert "point [smtp] path at a folder mailbot can write" in problem
    # Back as a folder (made again when missing): the mail leaves.
    outbox.unlink()
    app.clock.set(NOW + dt.timedelta(hours=1))
    counts = send.deliver_due(app)
    assert counts.sent == 1
    assert len(list((outbox / "new").iterdir())) == 1
    with app.db.transaction() as session:
        assert session.scalars(select(Outbox.state)).all() == ["sent"]
    app.close()


def test_run_says_a_refused_imap_login_is_refused_not_unreachable(
    tmp_path: Path, database_url: str, dovecot, smtp_sink
) -> None:  # type: ignore[no-untyped-def]
    """`run` logged a refused login as "mailbox (IMAP) unreachable", and each
    retry added imapclient's INFO line "Connection closed"."""
    app = make_app(tmp_path, database_url, dovecot=dovecot, smtp=smtp_sink)
    app.close()
    env = _daemon_environment(app, database_url) | {
        "MAILBOT_IMAP_PASSWORD": "not-the-password"
    }
    log = tmp_path / "run.log"
    with opsenv.DaemonProcess(env, log) as daemon:
        assert opsenv.wait_until(lambda: "refused" in daemon.log_text(), 60)
        time.sleep(4)  # retries meanwhile
        # `status` says so too, as for SMTP (it said "no successful poll").
        health = json.loads(opsenv.run_cli(env, "status", "--json").stdout)
    text = log.read_text(encoding="utf-8")
    refused = health["imap_login_refused"]
    assert refused["problem"].endswith("check [imap] username and password")
    assert f"since {refused['since']}: {refused['problem']}" in health["problems"]
    errors = [line for line in text.splitlines() if " ERROR " in line]
    assert len(errors) == 1, text
    assert "ERROR mailbot.outage: mailbox (IMAP) refused mailbot's login," in errors[0]
    assert errors[0].endswith("check [imap] username and password")
    assert "unreachable" not in text
    assert "Connection closed" not in text and "imapclient" not in text


def test_run_says_a_missing_imap_folder_is_missing_not_unreachable(
    tmp_path: Path, database_url: str, dovecot, smtp_sink
) -> None:  # type: ignore[no-untyped-def]
    """A misspelt [imap] folder was logged as "mailbox (IMAP) unreachable",
    sending the operator to the network instead of the folder's name."""
    app = make_app(tmp_path, database_url, dovecot=dovecot, smtp=smtp_sink)
    app.close()
    env = _daemon_environment(app, database_url) | {"MAILBOT_IMAP_FOLDER": "Abuse"}
    log = tmp_path / "run.log"
    with opsenv.DaemonProcess(env, log) as daemon:
        assert opsenv.wait_until(lambda: " ERROR " in daemon.log_text(), 60)
    text = log.read_text(encoding="utf-8")
    [error] = [line for line in text.splitlines() if " ERROR " in line]
    assert "ERROR mailbot.outage: IMAP folder missing (or not to be opened)," in error
    assert "the folder 'Abuse' cannot be opened" in error
    assert error.endswith("check [imap] folder")
    assert "unreachable" not in text
