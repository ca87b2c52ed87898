"""`mailbot status`: counts, problems and warnings; the Docker health check."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from pathlib import Path

import pytest
from mailbot_env import CASES_SITES, mail, make_app
from opsenv import DaemonProcess, cli_env, run_cli, wait_until

from mailbot import health, send, service, store, views
from mailbot.db.models import ContactFailure
from mailbot.errors import MailbotError
from mailbot.mail import RawMail
from mailbot.process import process_delivery, quarantine

UTC = dt.UTC
NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
REPORT = mail(
    subject="Security incident suspected at SITE-A [EGI-20261204] TLP: AMBER",
    sender="Pekka Admin <admin@site-a.example.com>",
    message_id="<report-1@site-a.example.com>",
    date="Fri, 04 Dec 2026 09:55:00 +0000",
    body="We found a miner on wn12.site-a.example.com (192.0.2.45).\n",
)


def _deliver(app, raw: bytes, origin: str = "test"):  # type: ignore[no-untyped-def]
    return process_delivery(app, RawMail(raw, NOW - dt.timedelta(hours=1), origin))


def _quarantine_one(app, n: int) -> None:  # type: ignore[no-untyped-def]
    raw = mail(subject=f"junk {n}", message_id=f"<junk-{n}@example.net>")
    with app.db.transaction() as session:
        stored = store.accept(session, RawMail(raw, app.clock.now(), f"junk{n}"))
    quarantine(app, stored.mail_id, "parse", "a broken test mail")


def test_status_on_a_known_database(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path, database_url, now=NOW)
    service.set_state(app, "last_poll_at", "2026-12-04T11:59:00Z")
    _deliver(app, REPORT)
    _deliver(app, REPORT, "again")
    _quarantine_one(app, 1)
    data = views.status(app, service.last_poll(app))
    assert {k: data[k] for k in ("mails", "duplicates", "quarantined")} == {
        "mails": 1,
        "duplicates": 1,
        "quarantined": 1,
    }
    assert (data["incidents_open"], data["unattached"]) == (1, 0)
    # The acknowledgement waits in the outbox: fresh, so not yet a problem.
    assert data["outbox_pending"] == 1
    assert data["outbox_oldest_pending_at"] == "2026-12-04T12:00:00Z"
    assert data["last_poll_at"] == "2026-12-04T11:59:00Z"
    assert data["healthy"] is True, data["problems"]
    assert data["warnings"] == ["1 mail(s) in quarantine"]

    # Half an hour later the acknowledgement still waits: the outbox is stuck.
    app.clock.set(NOW + dt.timedelta(minutes=31))
    service.set_state(app, "last_poll_at", "2026-12-04T12:30:00Z")
    data = views.status(app, service.last_poll(app))
    assert data["healthy"] is False
    assert data["problems"][0].startswith("outbox stuck: 1 mail(s) waiting since")
    send.deliver_due(app)
    assert views.status(app, service.last_poll(app))["healthy"] is True
    app.close()


def test_a_mailbot_that_never_polled_says_so(tmp_path: Path, database_url: str) -> None:
    """Right after setup, status said "no successful poll for three poll
    intervals (ever)", before any interval had passed."""
    app = make_app(tmp_path, database_url, now=NOW)
    data = views.status(app, service.last_poll(app))
    assert data["healthy"] is False
    assert data["problems"] == [
        "no successful poll yet: start `mailbot run` (or run `mailbot poll`);"
        " if it runs, check the mailbox server and the log"
    ]
    app.close()


def test_quarantine_growing_and_bouncing(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path, database_url, now=NOW)
    service.set_state(app, "last_poll_at", "2026-12-04T12:00:00Z")
    for n in range(health.QUARANTINE_GROWING - 1):
        _quarantine_one(app, n)
    assert views.status(app, service.last_poll(app))["healthy"] is True
    _quarantine_one(app, 99)
    data = views.status(app, service.last_poll(app))
    assert data["problems"] == [
        "quarantine growing: 10 mails set aside in 24 hours: "
        "`mailbot quarantine` shows why"
    ]
    # A day later the same quarantine is no longer growing, only reported.
    app.clock.set(NOW + dt.timedelta(hours=25))
    service.set_state(app, "last_poll_at", "2026-12-05T13:00:00Z")
    with app.db.transaction() as session:
        session.add(
            ContactFailure(
                address="admin-old@site-a.example.com",
                permanent=True,
                status="5.1.1",
                failed_at=NOW,
            )
        )
    data = views.status(app, service.last_poll(app))
    assert data["healthy"] is True
    assert data["bouncing_contacts"] == ["admin-old@site-a.example.com"]
    assert any("admin-old@site-a.example.com" in w for w in data["warnings"])
    app.close()


def _poll_or_outage(app) -> bool:  # type: ignore[no-untyped-def]
    try:
        service.poll(app)
    except (MailbotError, OSError):
        return False
    return True


def test_imap_down_three_intervals_then_back(
    tmp_path: Path, dovecot, smtp_sink, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    """The health check, with a set clock: each step is one poll interval."""
    app = make_app(tmp_path, database_url, dovecot=dovecot, smtp=smtp_sink, now=NOW)
    interval = dt.timedelta(seconds=app.settings.source.poll_interval)
    env = cli_env(app)
    status = lambda: run_cli(  # noqa: E731
        env, "--now", app.clock.now().isoformat(), "status", "--json"
    )
    assert _poll_or_outage(app)
    assert status().returncode == 0

    dovecot.stop()
    for step in (1, 2, 3):
        app.clock.set(NOW + step * interval)
        assert not _poll_or_outage(app)
        assert views.status(app, service.last_poll(app))["healthy"] is True
    app.clock.set(NOW + 3 * interval + dt.timedelta(seconds=1))
    assert not _poll_or_outage(app)
    down = status()
    assert down.returncode == 1
    data = json.loads(down.stdout)
    assert data["healthy"] is False
    assert data["last_poll_at"] == "2026-12-04T12:00:00Z"
    assert "no successful poll for three poll intervals" in down.stderr

    dovecot.start()
    app.clock.set(NOW + 4 * interval)
    assert _poll_or_outage(app)
    up = status()
    assert up.returncode == 0, up.stderr
    assert json.loads(up.stdout)["last_poll_at"] == "2026-12-04T12:04:00Z"
    app.close()


def test_daemon_health_check_fails_and_recovers(
    tmp_path: Path, dovecot, smtp_sink, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    """`mailbot run` as a process, real time, a one-second poll interval."""
    app = make_app(tmp_path, database_url, dovecot=dovecot, smtp=smtp_sink)
    env = cli_env(app, MAILBOT_SOURCE_POLL_INTERVAL="1", MAILBOT_IMAP_IDLE="false")
    app.close()
    healthy = lambda: run_cli(env, "status").returncode == 0  # noqa: E731
    with DaemonProcess(env, tmp_path / "daemon.log") as daemon:
        assert wait_until(healthy, 60), daemon.log_text()
        # Cut the daemon's open session too: a stopped master leaves the
        # serving process alive, and a real outage does not.
        dovecot.doveadm("kick", dovecot.username)
        dovecot.stop()
        assert wait_until(lambda: not healthy(), 60), daemon.log_text()
        down = run_cli(env, "status")
        assert down.returncode == 1
        assert "UNHEALTHY" in down.stdout
        assert "no successful poll for three poll intervals" in down.stderr
        dovecot.start()
        # The daemon retries with backoff (1, 2, 4 ... s): well within 60 s.
        assert wait_until(healthy, 60), daemon.log_text()
        assert daemon.stop() == 0
    log = daemon.log_text()
    assert "unreachable" in log


def test_sighup_and_sigusr1_leave_the_daemon_running(
    tmp_path: Path, database_url: str
) -> None:
    """`systemctl reload` or a closed terminal sent SIGHUP, and Python's
    default ended `mailbot run` without a log line."""
    import signal
    import time

    app = make_app(tmp_path, database_url)
    env = cli_env(app, MAILBOT_SOURCE_POLL_INTERVAL="1")
    app.close()
    with DaemonProcess(env, tmp_path / "daemon.log") as daemon:
        # While it imports, before it can log: that killed it. Sent once the
        # kernel holds SIGHUP ignored (bit 0 of SigIgn), which is the fix.
        status = Path(f"/proc/{daemon.process.pid}/status")
        ignored = re.compile(r"^SigIgn:\s*([0-9a-f]+)$", re.MULTILINE)
        assert wait_until(
            lambda: int(ignored.findall(status.read_text())[0], 16) & 1, 30
        ), daemon.log_text()
        daemon.process.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "mailbot running" in daemon.log_text(), 60)
        for sent, said in (
            (signal.SIGHUP, "SIGHUP ignored"),
            # A log rotation set up for another daemon: a silent end.
            (signal.SIGUSR1, "SIGUSR1 ignored: mailbot has no use for it"),
        ):
            daemon.process.send_signal(sent)
            assert wait_until(lambda: said in daemon.log_text(), 30)  # noqa: B023
        time.sleep(1.5)
        assert daemon.process.poll() is None, daemon.log_text()
        assert daemon.stop() == 0


def test_a_refused_imap_login_is_a_problem_of_its_own(
    tmp_path: Path, dovecot, smtp_sink, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    """SMTP's refused login had its own line in `status`; IMAP's showed only
    as "no successful poll", with nothing on why."""
    app = make_app(tmp_path, database_url, dovecot=dovecot, smtp=smtp_sink, now=NOW)
    assert _poll_or_outage(app)
    wrong = cli_env(app, MAILBOT_IMAP_PASSWORD="not-the-password")
    at = lambda when: ("--now", when.isoformat())  # noqa: E731
    later = NOW + dt.timedelta(minutes=1)
    refused = run_cli(wrong, *at(later), "poll")
    assert refused.returncode == 1 and "refused" in refused.stderr
    data = json.loads(run_cli(wrong, *at(later), "status", "--json").stdout)
    said = f"IMAP 127.0.0.1:{dovecot.port}: login as 'mailbot' refused"
    assert data["imap_login_refused"]["since"] == "2026-12-04T12:01:00Z"
    assert [p for p in data["problems"] if said in p] == [
        f"since 2026-12-04T12:01:00Z: {data['imap_login_refused']['problem']}"
    ]
    assert data["problems"][0].endswith("check [imap] username and password")
    # A poll that works puts an end to it; a refusal after it starts anew.
    app.clock.set(NOW + dt.timedelta(minutes=2))
    assert _poll_or_outage(app)
    data = views.status(app, service.last_poll(app))
    assert data["imap_login_refused"] is None and data["healthy"], data
    assert run_cli(wrong, *at(NOW + dt.timedelta(minutes=3)), "poll").returncode == 1
    data = views.status(app, service.last_poll(app))
    assert data["imap_login_refused"]["since"] == "2026-12-04T12:03:00Z"
    app.close()


def test_alive_asks_only_what_a_restart_can_help_with(
    tmp_path: Path, database_url: str
) -> None:
    """The Docker health check ran `status`, which fails for mail the brake
    holds: an orchestrator would restart a working daemon for it, again and
    again. `status --alive` fails only for a database that does not answer
    or no poll within three intervals, and migrates nothing."""
    from sqlalchemy import inspect

    from mailbot.db.engine import make_engine
    from mailbot.db.models import Base, Outbox

    # A new database: nothing has polled, and alive makes no tables.
    app = make_app(tmp_path, database_url, now=NOW)
    env = cli_env(app)
    app.close()
    engine = make_engine(database_url)
    Base.metadata.drop_all(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE alembic_version")
    at = lambda when: ("--now", when.isoformat())  # noqa: E731
    new = run_cli(env, *at(NOW), "status", "--alive")
    # It said "the database does not answer: no such table: service_state"
    # (PostgreSQL: "relation ... does not exist").
    assert new.returncode == 1
    assert new.stderr.startswith(
        "mailbot: not alive: no mailbot has run on this database yet"
    )
    assert "`mailbot db upgrade`" in new.stderr
    assert inspect(engine).get_table_names() == []
    engine.dispose()

    # Polled a minute ago, with a mail held: unhealthy, but alive.
    app = make_app(tmp_path, database_url, now=NOW)
    service.set_state(app, "last_poll_at", "2026-12-04T11:59:00Z")
    _deliver(app, REPORT)
    with app.db.transaction() as session:
        session.query(Outbox).update({"state": "held"})
    app.close()
    assert run_cli(env, *at(NOW), "status").returncode == 1
    alive = run_cli(env, *at(NOW), "status", "--alive", "--json")
    assert alive.returncode == 0, alive.stderr
    assert json.loads(alive.stdout) == {
        "alive": True,
        "last_poll_at": "2026-12-04T11:59:00Z",
        "problem": None,
    }
    # Three poll intervals (60 s) later with no poll: no longer alive.
    stale = run_cli(env, *at(NOW + dt.timedelta(minutes=3)), "status", "--alive")
    assert stale.returncode == 1
    assert "no successful poll since 2026-12-04T11:59:00Z" in stale.stderr
    # The database gone: not alive either.
    from servers import free_port

    gone = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/mailbot"
    down = run_cli({**env, "MAILBOT_DATABASE_URL": gone}, "status", "--alive")
    assert down.returncode == 1 and "database does not answer" in down.stderr
    dockerfile = (Path(__file__).resolve().parents[1] / "Dockerfile").read_text()
    assert 'CMD ["mailbot", "status", "--alive"]' in dockerfile


def test_an_open_incident_of_a_site_no_longer_listed_is_warned(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """SITE-A taken out of the sites file while its incident was open: the
    reminders went to no site contact and nothing said so."""
    app = make_app(tmp_path, database_url, now=NOW)
    service.set_state(app, "last_poll_at", "2026-12-04T11:59:00Z")
    _deliver(app, REPORT)
    [tag] = [i["tag"] for i in views.incident_list(app)]
    assert views.status(app, service.last_poll(app))["sites_not_in_file"] == []
    app.close()
    without = CASES_SITES.replace('name = "SITE-A"', 'name = "SITE-B"')
    later = tmp_path / "later"
    later.mkdir()
    app = make_app(later, database_url, now=NOW, sites=without)
    data = views.status(app, service.last_poll(app))
    assert data["sites_not_in_file"] == [{"site": "SITE-A", "incidents": [tag]}]
    assert (
        "open incident(s) of sites the sites file no longer lists, whose"
        f" reminders reach none of the site's contacts: SITE-A ({tag}) (put the"
        " site back in the sites file and restart mailbot, or close the incident)"
    ) in data["warnings"]
    assert data["healthy"] is True
    assert "warning: open incident(s) of sites" in health.status_text(data)
    # `mailbot run` says it as it starts with that sites file.
    with caplog.at_level(logging.WARNING, logger="mailbot.health"):
        health.warn_sites_not_in_file(app)
    assert [r.getMessage() for r in caplog.records] == [
        f"site SITE-A is not in the sites file, but incident(s) {tag} of it are"
        " open: their reminders reach none of its contacts; put the site back"
        " in the sites file and restart mailbot, or close them"
    ]


def test_alive_on_a_database_file_not_there_makes_none(
    tmp_path: Path, database_url: str
) -> None:
    """`status --alive` made an empty SQLite file where the URL named none,
    and said "no such table: service_state"; the daemon starting later
    found that empty file. It says no mailbot has run there and makes
    nothing; exit 1, as for any database where nothing polls."""
    app = make_app(tmp_path, database_url, now=NOW)
    env = cli_env(app)
    app.close()
    new = tmp_path / "new.db"
    env = {**env, "MAILBOT_DATABASE_URL": f"sqlite:///{new}"}
    plain = run_cli(env, "status", "--alive")
    assert plain.returncode == 1
    assert plain.stderr.startswith(
        "mailbot: not alive: no mailbot has run on this database yet"
    )
    verdict = run_cli(env, "status", "--alive", "--json")
    assert verdict.returncode == 1
    assert json.loads(verdict.stdout)["problem"].startswith("no mailbot has run")
    assert not new.exists()
    # A folder that is not there stays the configuration error it was.
    env["MAILBOT_DATABASE_URL"] = f"sqlite:///{tmp_path / 'nowhere' / 'new.db'}"
    missing = run_cli(env, "status", "--alive")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
