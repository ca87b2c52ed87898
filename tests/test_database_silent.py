"""A PostgreSQL connection that goes silent under a running mailbot.

A proxy (or a host) that hangs keeps the connection open: its kernel
acknowledges what mailbot sends, and no answer ever comes. `mailbot run`
then waited inside the statement for ever; SIGTERM set its stop flag, and
the daemon waited for the work under way, which never ended. The forwarder
here is a real one, frozen with SIGSTOP, between mailbot and the test's
PostgreSQL server.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import opsenv
import pytest
import sqlalchemy.exc
from mailbot_env import mail, make_app
from servers import database_server, forwarder, fresh_database

from mailbot.app import App

SILENT = "no answer from the database server within 4 s ([database] timeout)"


def _report(tmp_path: Path, n: int) -> None:
    (tmp_path / "inbox" / "new" / f"{n}.eml").write_bytes(
        mail(
            subject=f"Scans from 203.0.113.{n}",
            sender=f"reporter{n}@cert{n}.example.net",
            message_id=f"<silent-{n}@cert.example.net>",
            body=f"Scans from 203.0.113.{n}.\n",
        )
    )


def _environment(app: App, url: str, **extra: str) -> dict[str, str]:
    return opsenv.cli_env(
        app,
        MAILBOT_DATABASE_URL=url,
        MAILBOT_SOURCE_POLL_INTERVAL="1",
        MAILBOT_DIGEST_TIME="",
        **extra,
    )


def _running(daemon: opsenv.DaemonProcess) -> None:
    """Until the daemon has polled once, through the forwarder."""
    assert opsenv.wait_until(
        lambda: "poll: 1 fetched, 1 processed" in daemon.log_text(), 60
    ), daemon.log_text()


def test_sigterm_stops_run_within_seconds_while_the_database_is_silent(
    tmp_path: Path,
) -> None:
    with fresh_database(database_server("postgresql")) as url:
        app = make_app(tmp_path, url)
        app.close()
        _report(tmp_path, 1)
        with forwarder(url) as (proxy, through):
            log = tmp_path / "run.log"
            with opsenv.DaemonProcess(_environment(app, through), log) as daemon:
                _running(daemon)
                proxy.freeze()
                # A poll a second: the daemon is inside a statement now.
                time.sleep(3)
                started = time.monotonic()
                assert daemon.stop(timeout=60) == 0, daemon.log_text()
                took = time.monotonic() - started
    text = log.read_text()
    assert took < 10, (took, text)
    assert text.rstrip().endswith("stopped"), text
    assert "Traceback" not in text, text
    # A stop, not a loss: the leader lock unconfirmed at the stop was
    # logged as ERROR "lost with its connection".
    assert not [line for line in text.splitlines() if " ERROR " in line], text
    stopped = text[text.index("signal 15 received") :]
    unconfirmed = [line for line in stopped.splitlines() if "advisory lock" in line]
    assert all(
        " WARNING " in line and "stopping while the database does not answer" in line
        for line in unconfirmed
    ), unconfirmed


def test_a_silent_database_is_an_outage_after_its_timeout_and_work_resumes(
    tmp_path: Path,
) -> None:
    with fresh_database(database_server("postgresql")) as url:
        app = make_app(tmp_path, url)
        _report(tmp_path, 1)
        with forwarder(url) as (proxy, through):
            log = tmp_path / "run.log"
            environment = _environment(app, through, MAILBOT_DATABASE_TIMEOUT="4")
            with opsenv.DaemonProcess(environment, log) as daemon:
                _running(daemon)
                proxy.freeze()
                frozen = time.monotonic()
                assert opsenv.wait_until(lambda: SILENT in daemon.log_text(), 60)
                noticed = time.monotonic() - frozen
                # Given up, the connection is made again: the server still
                # says nothing, and the daemon waits the outage out.
                assert opsenv.wait_until(
                    lambda: "database unreachable" in daemon.log_text(), 60
                ), daemon.log_text()
                assert daemon.process.poll() is None
                # The server answers again: the next mail is taken in.
                proxy.thaw()
                _report(tmp_path, 2)
                assert opsenv.wait_until(
                    lambda: "database back: work resumed" in daemon.log_text(), 60
                ), daemon.log_text()
                assert opsenv.wait_until(
                    lambda: (
                        daemon.log_text().count("poll: 1 fetched, 1 processed") == 2
                    ),
                    60,
                ), daemon.log_text()
                assert daemon.stop() == 0
        app.close()
    text = log.read_text()
    # Given up after its 4 s, not at once and not never (the default is
    # 120 s); the upper bound leaves room for a loaded machine (19 s seen
    # at a load average of 10 on 2 cores).
    assert 3 < noticed < 30, (noticed, text)
    assert _count(text, "database unreachable") == 1, text
    assert "Traceback" not in text, text


def _count(text: str, phrase: str) -> int:
    return sum(phrase in line for line in text.splitlines())


@pytest.mark.parametrize("where", ["job", "poll"])
def test_a_statement_the_stop_cut_short_is_no_outage(
    tmp_path: Path, database_url: str, where: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The courier's delivery began just before SIGTERM and its statement,
    cut short by the stop (db/silence.py gives up on a silent server then),
    was logged as an outage's ERROR: "database unreachable, retrying by
    itself: job outbox: mailbot is stopping" (CI, 2026-12-06)."""
    from mailbot.daemon import Daemon
    from mailbot.db.silence import Silent

    app = make_app(tmp_path, database_url)
    daemon = Daemon(app)
    # As SQLAlchemy hands it on: psycopg's error, wrapped.
    silent = Silent("mailbot is stopping; the database server did not answer")
    cut = sqlalchemy.exc.OperationalError("SELECT 1", {}, silent)

    def statement() -> None:
        daemon.stopping.set()  # SIGTERM, while the statement waits
        raise cut

    caplog.set_level(logging.INFO)
    if where == "job":
        daemon._guard("outbox", statement)()
    else:
        with pytest.raises(sqlalchemy.exc.OperationalError):
            statement()
        daemon._report_outage(cut)
    app.close()
    said = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert not [m for level, m in said if level == "ERROR"], said
    assert any(level == "WARNING" and "ended by the stop" in m for level, m in said), (
        said
    )
