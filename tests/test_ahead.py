"""Reading ahead (mailbot/ahead.py): workers find what the main process finds.

The same mails go through two fresh databases, one read in the main process
alone and one with a read-ahead worker; everything recorded must be equal,
whether the worker's assumed context held, did not (a second site joining
a thread), or the worker died half-way.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from mailbot_env import mail, make_app
from servers import fresh_database
from sqlalchemy import select
from sqlalchemy.engine import URL

from mailbot import fields
from mailbot.ahead import MIN_BATCH, read_ahead, usable_cpus, workers_for
from mailbot.app import App
from mailbot.db.models import Deadline, FieldValue, Incident, Mail
from mailbot.fetch.maildir import poll_maildir
from mailbot.mail import RawMail
from mailbot.process import process_delivery

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
REPORTS = Path(__file__).parent / "reports"
SENDERS = ("admin@site-a.example.com", "soc@site-c.example.com")
MEMBER = "alice@csirt.example.org"


def deliveries() -> list[RawMail]:
    """The labelled reports as site mails, with replies that join threads."""
    out = []
    texts = sorted(REPORTS.glob("*.txt"))
    for n, path in enumerate(texts):
        when = NOW - dt.timedelta(hours=len(texts) - n)
        raw = mail(
            subject=f"Incident report {n}: {path.stem}",
            body=path.read_text(encoding="utf-8"),
            sender=SENDERS[n % 2],
            message_id=f"<r{n}@example.org>",
            date=when.strftime("%a, %d %b %Y %H:%M:%S +0000"),
        )
        out.append(RawMail(raw, when, f"test:{n}"))
    # SITE-C answers in SITE-A's threads: the incident then involves both
    # sites, which a worker, seeing the mail alone, cannot know.
    for n in range(0, 8, 2):
        when = NOW - dt.timedelta(minutes=30 - n)
        raw = mail(
            subject=f"Re: Incident report {n}",
            body="We see 198.51.100.200 and 192.0.2.7 in our logs too.\n",
            sender=SENDERS[1],
            message_id=f"<c{n}@example.org>",
            date=when.strftime("%a, %d %b %Y %H:%M:%S +0000"),
            headers={"In-Reply-To": f"<r{n}@example.org>"},
        )
        out.append(RawMail(raw, when, f"test:c{n}"))
    # A member's commands in SITE-C's thread (which the worker, told the
    # site by the prose, reads in the right context): no value either way.
    when = NOW - dt.timedelta(minutes=10)
    raw = mail(
        subject="Re: Incident report 1",
        body="Hi all,\n\n#isolated 2026-12-04T11:00:00Z\n#site SITE-A\n\n"
        "SITE-C confirmed it.\n",
        sender=MEMBER,
        message_id="<m0@csirt.example.org>",
        date=when.strftime("%a, %d %b %Y %H:%M:%S +0000"),
        headers={
            "In-Reply-To": "<r1@example.org>",
            "Authentication-Results": "mx.csirt.example.org; dkim=pass"
            " header.d=csirt.example.org",
        },
    )
    out.append(RawMail(raw, when, "test:m0"))
    assert len(out) >= MIN_BATCH
    return out


def ingest(
    app: App, mails: list[RawMail], kill_worker_after: int | None = None
) -> None:
    for n, delivery in enumerate(read_ahead(app, mails, len(mails))):
        if n == kill_worker_after:
            _kill_workers(app)
        assert process_delivery(app, delivery).result == "processed"


def _kill_workers(app: App) -> None:
    assert app.read_ahead is not None and app.read_ahead._pool is not None
    for pid in list(app.read_ahead._pool._processes or {}):
        os.kill(pid, signal.SIGKILL)


def recorded(app: App) -> tuple[list, list, list]:
    with app.db.transaction() as session:
        values = session.execute(
            select(
                Mail.message_id,
                FieldValue.field,
                FieldValue.value,
                FieldValue.kind,
                FieldValue.part,
                FieldValue.line,
            ).join(Mail, Mail.id == FieldValue.mail_id)
        ).all()
        incidents = session.execute(
            select(
                Incident.tag,
                Incident.site,
                Incident.discovered_at,
                Incident.isolated_at,
                Incident.resolved_at,
            )
        ).all()
        deadlines = session.execute(
            select(
                Incident.tag,
                Deadline.rule,
                Deadline.site,
                Deadline.started_at,
                Deadline.state,
            ).join(Incident, Incident.id == Deadline.incident_id)
        ).all()
    return sorted(values), sorted(incidents), sorted(deadlines)


@pytest.fixture
def second_database_url(
    database_server_url: URL | None, tmp_path: Path
) -> Iterator[str]:
    """Another new database of the same engine, for the serial run."""
    if database_server_url is None:
        yield f"sqlite:///{tmp_path / 'serial.db'}"
        return
    with fresh_database(database_server_url) as url:
        yield url


def two_apps(tmp_path: Path, first: str, second: str) -> tuple[App, App]:
    serial = make_app(
        tmp_path / "serial", second, now=NOW, extra={"MAILBOT_INTAKE_WORKERS": "0"}
    )
    ahead = make_app(
        tmp_path / "ahead", first, now=NOW, extra={"MAILBOT_INTAKE_WORKERS": "1"}
    )
    return serial, ahead


@pytest.fixture(autouse=True)
def _folders(tmp_path: Path) -> None:
    (tmp_path / "serial").mkdir()
    (tmp_path / "ahead").mkdir()


def test_workers_record_what_the_main_process_records(
    tmp_path: Path, database_url: str, second_database_url: str
) -> None:
    serial, ahead = two_apps(tmp_path, database_url, second_database_url)
    mails = deliveries()
    ingest(serial, mails)
    ingest(ahead, mails)
    values, incidents, deadlines = recorded(ahead)
    assert (values, incidents, deadlines) == recorded(serial)
    assert len(values) > 400 and len(incidents) > 30
    member = [v for v in values if v.message_id == "<m0@csirt.example.org>"]
    assert not [v for v in member if "#" in v.value or "2026-12-04T11" in v.value]
    assert ahead.read_ahead is not None
    # Most mails were read by the worker; the replies joining a second
    # site's thread were read again in the context the database gave.
    assert ahead.read_ahead.used >= len(mails) - 8
    assert ahead.read_ahead.read_again >= 4


def test_a_worker_that_dies_costs_speed_not_mail(
    tmp_path: Path,
    database_url: str,
    second_database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    serial, ahead = two_apps(tmp_path, database_url, second_database_url)
    mails = deliveries()
    ingest(serial, mails)
    with caplog.at_level(logging.WARNING, logger="mailbot.ahead"):
        ingest(ahead, mails, kill_worker_after=3)
    assert recorded(ahead) == recorded(serial)
    assert "read ahead off" in caplog.text
    # Off for the rest of this process: no second pool is started.
    assert ahead.read_ahead is not None and ahead.read_ahead._pool is None


def test_a_few_mails_start_no_workers(tmp_path: Path, database_url: str) -> None:
    app = make_app(
        tmp_path / "ahead", database_url, now=NOW, extra={"MAILBOT_INTAKE_WORKERS": "2"}
    )
    mails = deliveries()[: MIN_BATCH - 1]
    ingest(app, mails)
    assert app.read_ahead is not None and app.read_ahead._pool is None


def test_workers_zero_is_no_read_ahead(tmp_path: Path, database_url: str) -> None:
    app = make_app(
        tmp_path / "ahead", database_url, now=NOW, extra={"MAILBOT_INTAKE_WORKERS": "0"}
    )
    assert app.read_ahead is None
    ingest(app, deliveries())


def test_a_stream_left_early_leaves_no_work_behind(
    tmp_path: Path, database_url: str
) -> None:
    app = make_app(
        tmp_path / "ahead", database_url, now=NOW, extra={"MAILBOT_INTAKE_WORKERS": "1"}
    )
    mails = deliveries()
    stream = iter(read_ahead(app, mails, len(mails)))
    for _ in range(3):
        next(stream)
    assert app.read_ahead is not None and app.read_ahead._futures
    stream.close()  # as when the database goes away mid-batch
    assert not app.read_ahead._futures


def test_extraction_warnings_of_a_worker_reach_the_main_log(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(
        tmp_path / "ahead", database_url, now=NOW, extra={"MAILBOT_INTAKE_WORKERS": "1"}
    )
    log_lines = "".join(
        f"Dec  3 10:{n // 60 % 60:02d}:{n % 60:02d} sshd: from 203.0.{n // 250}."
        f"{n % 250}\n"
        for n in range(6000)
    )
    big = mail(
        subject="Our log",
        body=log_lines,
        sender=SENDERS[0],
        message_id="<big@example.org>",
    )
    mails = [RawMail(big, NOW, "test:big"), *deliveries()]
    with caplog.at_level(logging.WARNING, logger="mailbot.extract"):
        ingest(app, mails)
    assert app.read_ahead is not None and app.read_ahead.used >= len(mails) - 8
    # The worker read the big mail; its cut is said in the main process,
    # and in the mail's defects.
    assert "values read; not read" in caplog.text
    with app.db.transaction() as session:
        defects = session.scalars(
            select(Mail.defects).where(Mail.message_id == "<big@example.org>")
        ).one()
    assert [d for d in defects if d.startswith(fields.LEFT_OUT)], defects


def test_a_maildir_poll_lets_its_workers_go(tmp_path: Path, database_url: str) -> None:
    app = make_app(
        tmp_path / "ahead", database_url, now=NOW, extra={"MAILBOT_INTAKE_WORKERS": "1"}
    )
    inbox = tmp_path / "ahead" / "inbox" / "new"
    for n, delivery in enumerate(deliveries()):
        (inbox / f"{n:04d}.eml").write_bytes(delivery.raw)
    result = poll_maildir(app)
    assert result.processed == len(deliveries())
    assert app.read_ahead is not None and app.read_ahead.used > 0
    assert app.read_ahead._pool is None  # no worker stays while the daemon idles


def test_more_workers_than_cpus_are_not_started() -> None:
    assert workers_for(10_000) == usable_cpus()
    assert workers_for(0) == 0
