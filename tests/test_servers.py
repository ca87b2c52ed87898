"""The test servers and fixtures themselves: what other tests may rely on."""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy
from servers import (
    Dovecot,
    ServerError,
    SmtpSink,
    TlsFiles,
    database_server,
    dovecot_missing,
    fresh_database,
    make_tls_files,
    openssl_missing,
    port_open,
    require,
    smtp_sink_missing,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

TESTS = Path(__file__).resolve().parent


def mail(number: int) -> bytes:
    return (
        f"From: reporter{number}@example.org\r\n"
        f"To: abuse@example.net\r\n"
        f"Subject: report {number}\r\n"
        f"Message-ID: <report-{number}@example.org>\r\n"
        f"\r\n"
        f"Body of report {number}.\r\n"
    ).encode()


# Dovecot


def test_dovecot_serves_appended_mails_unseen(
    dovecot: Dovecot, request: pytest.FixtureRequest
) -> None:
    received = datetime(2024, 3, 31, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    for number in range(3):
        dovecot.append(mail(number), internaldate=received + timedelta(hours=number))

    with dovecot.client() as client:
        # Keep the server's zone instead of converting to naive local time.
        client.normalise_times = False
        client.select_folder("INBOX")
        uids = client.search("ALL")
        fetched = client.fetch(uids, ["BODY.PEEK[]", "INTERNALDATE"])
        flags = client.get_flags(uids)

    assert uids == [1, 2, 3]
    assert [fetched[uid][b"BODY[]"] for uid in uids] == [mail(n) for n in range(3)]
    dates = [fetched[uid][b"INTERNALDATE"] for uid in uids]
    assert dates == [received + timedelta(hours=n) for n in range(3)]
    assert all(b"\\Seen" not in flags[uid] for uid in uids)
    assert request.node.get_closest_marker("servers") is not None


def test_dovecot_append_keeps_flags_and_creates_folder(dovecot: Dovecot) -> None:
    dovecot.append(mail(1), folder="Archive", flags=[r"\Seen", r"\Flagged"])

    with dovecot.client() as client:
        client.select_folder("Archive", readonly=True)
        flags = client.get_flags(client.search("ALL"))

    assert {b"\\Seen", b"\\Flagged"} <= set(flags[1])


def test_dovecot_rejects_a_naive_internaldate(dovecot: Dovecot) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        dovecot.append(mail(1), internaldate=datetime(2024, 1, 1))


def test_dovecot_restart_keeps_mails_and_port(dovecot: Dovecot) -> None:
    dovecot.append_many([mail(1), mail(2)])
    port, validity = dovecot.port, dovecot.uidvalidity()

    dovecot.restart()

    assert dovecot.port == port
    assert dovecot.uidvalidity() == validity
    with dovecot.client() as client:
        client.select_folder("INBOX")
        assert client.search("ALL") == [1, 2]


def test_stopped_dovecot_refuses_connections(dovecot: Dovecot) -> None:
    dovecot.stop()

    assert not port_open(dovecot.host, dovecot.port)
    with pytest.raises(ConnectionRefusedError):
        dovecot.client(timeout=2)


def test_recreated_folder_has_new_uidvalidity_and_no_mail(dovecot: Dovecot) -> None:
    dovecot.append(mail(1), folder="Reports")
    before = dovecot.uidvalidity("Reports")

    after = dovecot.recreate_folder("Reports")

    assert after != before
    with dovecot.client() as client:
        client.select_folder("Reports")
        assert client.search("ALL") == []


def test_inbox_cannot_be_recreated(dovecot: Dovecot) -> None:
    with pytest.raises(ValueError, match="change_uidvalidity"):
        dovecot.recreate_folder("INBOX")


def test_changed_uidvalidity_keeps_inbox_mail(dovecot: Dovecot) -> None:
    dovecot.append_many([mail(1), mail(2)])
    before = dovecot.uidvalidity()

    after = dovecot.change_uidvalidity()

    assert after != before
    assert dovecot.uidvalidity() == after
    with dovecot.client() as client:
        client.select_folder("INBOX")
        assert len(client.search("ALL")) == 2


def test_dovecot_names_the_cause_when_it_cannot_start() -> None:
    require(dovecot_missing())
    server = Dovecot()
    # Hold its port, so that Dovecot's bind fails.
    holder = socket.create_server((server.host, server.port))
    with holder, pytest.raises(ServerError, match="Address already in use"):
        server.start()
    server.close()


def test_dovecot_tls_verifies_against_its_ca(dovecot_tls: Dovecot) -> None:
    dovecot_tls.append(mail(1))

    with dovecot_tls.client() as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 1
    assert dovecot_tls.ca_file is not None and dovecot_tls.ca_file.exists()

    # The system's trust store does not know the throwaway CA.
    raw = socket.create_connection((dovecot_tls.host, dovecot_tls.port), timeout=5)
    with raw, pytest.raises(ssl.SSLCertVerificationError):
        ssl.create_default_context().wrap_socket(raw, server_hostname="127.0.0.1")


# SMTP


def send(
    sink: SmtpSink, recipients: list[str], timeout: float = 5.0
) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP(sink.host, sink.port, timeout=timeout) as client:
        return client.sendmail("abuse@example.net", recipients, mail(1))


def test_sink_records_envelope_and_data(smtp_sink: SmtpSink) -> None:
    refused = send(smtp_sink, ["a@example.org", "b@example.org"])

    [got] = smtp_sink.wait_for(1)
    assert refused == {}
    assert got.sender == "abuse@example.net"
    assert got.recipients == ("a@example.org", "b@example.org")
    assert got.data == mail(1)
    assert got.message["Subject"] == "report 1"
    assert got.login is None


@pytest.mark.parametrize(
    ("code", "text"), [(451, "4.3.0 Try again later"), (550, "5.7.1 Refused")]
)
def test_sink_answers_data_with_an_error(
    smtp_sink: SmtpSink, code: int, text: str
) -> None:
    smtp_sink.reject("DATA", code, text)

    with pytest.raises(smtplib.SMTPResponseException) as caught:
        send(smtp_sink, ["a@example.org"])

    assert caught.value.smtp_code == code
    assert caught.value.smtp_error == text.encode()
    assert smtp_sink.messages == []
    assert [m.recipients for m in smtp_sink.rejected] == [("a@example.org",)]


@pytest.mark.parametrize(
    ("code", "text"), [(451, "4.3.0 Try again later"), (550, "5.1.1 No such user")]
)
def test_sink_answers_rcpt_with_an_error(
    smtp_sink: SmtpSink, code: int, text: str
) -> None:
    smtp_sink.reject("RCPT", code, text)

    # With every recipient refused, smtplib raises SMTPRecipientsRefused, which
    # is not an SMTPResponseException: each refusal carries its own code.
    with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
        send(smtp_sink, ["a@example.org"])

    assert caught.value.recipients == {"a@example.org": (code, text.encode())}
    assert smtp_sink.messages == []


def test_sink_refuses_only_the_named_recipients(smtp_sink: SmtpSink) -> None:
    smtp_sink.reject("RCPT", 550, "5.1.1 No such user", recipients=["B@example.org"])

    refused = send(smtp_sink, ["a@example.org", "b@example.org"])

    assert refused == {"b@example.org": (550, b"5.1.1 No such user")}
    assert smtp_sink.wait_for(1)[0].recipients == ("a@example.org",)


def test_sink_accepts_again_after_errors(smtp_sink: SmtpSink) -> None:
    smtp_sink.reject("DATA", 451, "4.3.0 Try again later")
    smtp_sink.accept()

    send(smtp_sink, ["a@example.org"])

    assert len(smtp_sink.wait_for(1)) == 1


def test_stalled_sink_keeps_the_mail_the_client_gave_up_on(
    smtp_sink: SmtpSink,
) -> None:
    smtp_sink.stall()

    # smtplib turns the read timeout after DATA into SMTPServerDisconnected:
    # the mail may or may not have been delivered.
    with pytest.raises(smtplib.SMTPServerDisconnected, match="timed out"):
        send(smtp_sink, ["a@example.org"], timeout=2)

    assert smtp_sink.wait_for(1, timeout=1)[0].data == mail(1)
    smtp_sink.release()


def test_released_sink_answers_the_waiting_client(smtp_sink: SmtpSink) -> None:
    smtp_sink.stall()
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10) as client:
        client.ehlo()
        client.mail("abuse@example.net")
        client.rcpt("a@example.org")
        client.putcmd("data")
        assert client.getreply()[0] == 354
        client.send(mail(1) + b".\r\n")
        smtp_sink.wait_for(1)

        smtp_sink.release("250 2.0.0 Queued as 42")

        assert client.getreply() == (250, b"2.0.0 Queued as 42")


def test_stopped_sink_refuses_connections_then_serves_again(
    smtp_sink: SmtpSink,
) -> None:
    smtp_sink.stop()
    with pytest.raises(ConnectionRefusedError):
        send(smtp_sink, ["a@example.org"])

    smtp_sink.start()
    send(smtp_sink, ["a@example.org"])

    assert len(smtp_sink.wait_for(1)) == 1


def test_sink_stop_closes_open_sessions(smtp_sink: SmtpSink) -> None:
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client:
        client.ehlo()

        smtp_sink.stop()

        assert client.noop()[0] == 421


def test_sink_wait_for_names_the_shortfall(smtp_sink: SmtpSink) -> None:
    with pytest.raises(AssertionError, match="got 0 mails"):
        smtp_sink.wait_for(1, timeout=0.1)


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    require(openssl_missing())
    return make_tls_files(tmp_path)


@pytest.fixture
def auth_sink(tls_files: TlsFiles) -> Iterator[SmtpSink]:
    require(smtp_sink_missing())
    with SmtpSink(credentials=("bot", "s3cret"), tls_files=tls_files) as sink:
        yield sink


def test_auth_sink_needs_starttls_then_login(
    auth_sink: SmtpSink, tls_files: TlsFiles
) -> None:
    with smtplib.SMTP(auth_sink.host, auth_sink.port, timeout=5) as client:
        with pytest.raises(smtplib.SMTPSenderRefused) as caught:
            client.sendmail("abuse@example.net", ["a@example.org"], mail(1))
        assert caught.value.smtp_code == 530

        client.starttls(context=tls_files.client_context())
        client.login("bot", "s3cret")
        client.sendmail("abuse@example.net", ["a@example.org"], mail(1))

    assert auth_sink.wait_for(1)[0].login == "bot"


def test_auth_sink_refuses_a_wrong_password_at_once(
    auth_sink: SmtpSink, tls_files: TlsFiles
) -> None:
    # A timeout well below smtplib's: a hanging AUTH would show as a timeout.
    with smtplib.SMTP(auth_sink.host, auth_sink.port, timeout=3) as client:
        client.starttls(context=tls_files.client_context())
        with pytest.raises(smtplib.SMTPAuthenticationError) as caught:
            client.login("bot", "wrong")

    assert caught.value.smtp_code == 535


# Databases


def test_database_url_gives_an_empty_working_database(
    database_url: str, database_server_url: URL | None
) -> None:
    engine = sqlalchemy.create_engine(database_url)
    try:
        with engine.begin() as connection:
            assert sqlalchemy.inspect(connection).get_table_names() == []
            connection.exec_driver_sql("CREATE TABLE probe (id INTEGER PRIMARY KEY)")
            connection.exec_driver_sql("INSERT INTO probe (id) VALUES (1)")
        with engine.connect() as connection:
            count = connection.exec_driver_sql("SELECT count(*) FROM probe")
            assert count.scalar_one() == 1
    finally:
        engine.dispose()
    expected = "sqlite" if database_server_url is None else "postgresql"
    assert engine.dialect.name == expected


def test_fresh_database_is_dropped_despite_open_connections(
    database_server_url: URL | None,
) -> None:
    server = database_server_url or _local_postgres()
    with fresh_database(server) as url:
        engine = sqlalchemy.create_engine(url, poolclass=NullPool)
        # A connection the test forgot to close.
        leftover = engine.connect()

    # The server ended that connection so that the database could go.
    with pytest.raises(sqlalchemy.exc.OperationalError):
        leftover.exec_driver_sql("SELECT 1")
    leftover.close()
    engine.dispose()
    assert make_url(url).database not in _database_names(server)


def test_database_server_reads_a_url() -> None:
    url = database_server("postgresql://someone@127.0.0.1:5433")

    assert url.drivername == "postgresql+psycopg"
    assert (url.username, url.port, url.database) == ("someone", 5433, "postgres")
    with pytest.raises(ValueError, match="PostgreSQL"):
        database_server("mysql://root@127.0.0.1/test")


def _local_postgres() -> URL:
    try:
        return database_server("postgresql")
    except ServerError as error:
        require(f"the tests run on SQLite (--database sqlite) and {error}")
        raise


def _database_names(server: URL) -> set[str]:
    engine = sqlalchemy.create_engine(server, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql("SELECT datname FROM pg_database")
            return {row[0] for row in rows}
    finally:
        engine.dispose()


# The CI policy


INNER_TESTS = """
import pytest

def test_optional():
    pytest.skip("an optional extra is missing")

@pytest.mark.xfail(reason="a known bug", strict=True)
def test_known_bug():
    assert False
"""


@pytest.mark.parametrize(
    ("ci", "outcomes"),
    [("true", {"failed": 1, "xfailed": 1}), ("", {"skipped": 1, "xfailed": 1})],
)
def test_skips_fail_in_ci(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    ci: str,
    outcomes: dict[str, int],
) -> None:
    monkeypatch.setenv("CI", ci)
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    pytester.makeconftest((TESTS / "conftest.py").read_text())
    pytester.makepyfile(test_inner=INNER_TESTS)

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(**outcomes)


@pytest.mark.parametrize(
    ("variable", "option"),
    [("MAILBOT_TEST_DATABASE", "--database"), ("MAILBOT_MUTATIONS", "--mutations")],
)
def test_a_test_setting_left_in_the_environment_names_its_option(
    variable: str, option: str
) -> None:
    # mailbot would refuse the variable (an unknown MAILBOT_ name); the suite
    # stops before any test and says what to pass instead.
    tests = Path(__file__).resolve().parent
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--co", "-q",
         str(tests / "test_build.py")],
        cwd=tests.parent,
        env={**os.environ, variable: "postgresql"},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert f"{variable} is no longer read: pass `{option} postgresql`" in (
        result.stderr + result.stdout
    )
