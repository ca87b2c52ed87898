"""Two `mailbot run` on one database: one polls, the other takes over.

The leader is killed with SIGKILL in the middle of a poll; the standby must
take the leader lock within two poll intervals and finish the mailbox, and
in the end every mail is stored once and every acknowledgement sent once.
On SQLite the same happens through the lock file beside the database (one
instance per database is the supported deployment there; the second says so).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import sqlalchemy
from mailbot_env import CASES_SITES, mail
from sqlalchemy.pool import NullPool

UTC = dt.UTC
# Enough that the leader is still polling when it is killed at 15 stored,
# however fast a mail is recorded.
MAILS = 300
POLL_INTERVAL = 2.0
TAKEN = "taken: this instance polls the mailbox"


def environment(tmp_path: Path, database_url: str, dovecot, smtp) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The environment of a daemon like an operator's, on the test servers."""
    (tmp_path / "sites.toml").write_text(CASES_SITES, encoding="utf-8")
    return {
        **os.environ,
        "MAILBOT_MAILBOT_ADDRESS": "abuse@csirt.example.org",
        "MAILBOT_DATABASE_URL": database_url,
        "MAILBOT_CSIRT_MEMBERS": '["alice@csirt.example.org"]',
        "MAILBOT_CSIRT_AUTHSERV_IDS": '["mx.csirt.example.org"]',
        "MAILBOT_CSIRT_DUTY_ADDRESS": "duty@csirt.example.org",
        "MAILBOT_SITES_FILE": str(tmp_path / "sites.toml"),
        "MAILBOT_SOURCE_KIND": "imap",
        "MAILBOT_SOURCE_POLL_INTERVAL": str(POLL_INTERVAL),
        # Small batches, so that the leader dies between two of them too.
        "MAILBOT_SOURCE_BATCH_SIZE": "10",
        "MAILBOT_IMAP_HOST": dovecot.host,
        "MAILBOT_IMAP_PORT": str(dovecot.port),
        "MAILBOT_IMAP_TLS": "none",
        "MAILBOT_IMAP_USERNAME": dovecot.username,
        "MAILBOT_IMAP_PASSWORD": dovecot.password,
        "MAILBOT_IMAP_TIMEOUT": "10",
        "MAILBOT_SMTP_HOST": smtp.host,
        "MAILBOT_SMTP_PORT": str(smtp.port),
        "MAILBOT_SMTP_TLS": "none",
        "MAILBOT_SMTP_TIMEOUT": "5",
        # This test counts acknowledgements, not the brake's caps.
        "MAILBOT_BRAKE_MAX_PER_HOUR": "100000",
        "MAILBOT_BRAKE_MAX_PER_RECIPIENT_PER_DAY": "100000",
        "MAILBOT_BRAKE_MAX_PER_INCIDENT_PER_DAY": "100000",
    }


def reports(count: int) -> list[bytes]:
    """Third-party reports, each opening its own incident (one ack each)."""
    return [
        mail(
            subject=f"[TLP:GREEN] Mining traffic from 198.51.100.{n % 250 + 1} ({n})",
            sender=f"CERT {n} <reporter{n}@cert{n}.example.net>",
            message_id=f"<report-{n}@cert{n}.example.net>",
            date="Fri, 04 Dec 2026 10:05:00 +0000",
            body=f"Stratum traffic seen from 198.51.100.{n % 250 + 1}, case {n}.\n",
        )
        for n in range(count)
    ]


def start(tmp_path: Path, name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with (tmp_path / f"{name}.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "mailbot", "--log-level", "INFO", "run"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def log_of(tmp_path: Path, name: str) -> str:
    return (tmp_path / f"{name}.log").read_text(errors="replace")


def wait_until(predicate, timeout: float, what: str) -> float:  # type: ignore[no-untyped-def]
    """Poll predicate; the time it became true, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic()


def scalar(engine: sqlalchemy.Engine, sql: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sqlalchemy.text(sql)).scalar() or 0)


def test_leader_killed_mid_poll(
    tmp_path: Path, dovecot, smtp_sink, database_url
) -> None:  # type: ignore[no-untyped-def]
    dovecot.append_many(
        reports(MAILS), internaldate=dt.datetime(2026, 12, 4, 10, 6, tzinfo=UTC)
    )
    env = environment(tmp_path, database_url, dovecot, smtp_sink)
    engine = sqlalchemy.create_engine(database_url, poolclass=NullPool)
    stored = "SELECT count(*) FROM mail WHERE direction = 'in'"
    first = start(tmp_path, "first", env)
    second = None
    try:
        wait_until(lambda: TAKEN in log_of(tmp_path, "first"), 60, "the first to lead")
        second = start(tmp_path, "second", env)
        wait_until(lambda: "standing by" in log_of(tmp_path, "second"), 60, "a standby")
        if database_url.startswith("sqlite"):
            assert "SQLite supports one mailbot per database" in log_of(
                tmp_path, "second"
            )

        # Mid-poll: some mails stored, not all.
        wait_until(lambda: scalar(engine, stored) >= 15, 60, "the first mails")
        os.kill(first.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        first.wait(10)
        assert scalar(engine, stored) < MAILS, "the poll ended before the kill"
        assert TAKEN not in log_of(tmp_path, "second")

        taken_at = wait_until(
            lambda: TAKEN in log_of(tmp_path, "second"), 30, "the standby to take over"
        )
        # Within two poll intervals (and a second for the log line to land).
        print(f"standby took over {taken_at - killed_at:.2f} s after the kill")
        assert taken_at - killed_at <= 2 * POLL_INTERVAL + 1.0
        done = "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')"
        wait_until(
            lambda: scalar(engine, stored) == MAILS and scalar(engine, done) <= 1,
            120,
            "the standby to finish the mailbox",
        )
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(30)
    check_counts(engine, smtp_sink)
    engine.dispose()


def check_counts(engine: sqlalchemy.Engine, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        ids = (
            connection.execute(
                sqlalchemy.text("SELECT message_id FROM mail WHERE direction = 'in'")
            )
            .scalars()
            .all()
        )
        outbox = connection.execute(
            sqlalchemy.text(
                "SELECT m.message_id, o.state FROM outbox o"
                " JOIN mail m ON m.id = o.mail_id"
            )
        ).all()
        duplicates = connection.execute(
            sqlalchemy.text("SELECT count(*) FROM duplicate")
        )
        assert duplicates.scalar() == 0
    # Each mail stored once: one row per Message-ID, none missing.
    assert sorted(ids) == sorted(
        f"<report-{n}@cert{n}.example.net>" for n in range(MAILS)
    )
    # One acknowledgement per incident, each queued once...
    assert len(outbox) == MAILS
    states = Counter(state for _, state in outbox)
    # ...and sent once; only a delivery cut by the kill may be left unsure
    # (it is never sent again automatically).
    assert states["sent"] >= MAILS - 1, states
    assert set(states) <= {"sent", "sending", "uncertain"}, states
    received = Counter(m.message["Message-ID"] for m in smtp_sink.messages)
    assert all(count == 1 for count in received.values()), received.most_common(3)
    sent_ids = {message_id for message_id, state in outbox if state == "sent"}
    assert sent_ids <= set(received)
    assert len(received) <= len(outbox)
