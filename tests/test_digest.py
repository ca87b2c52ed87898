"""The daily digest: what it says, once a day across DST (BR-33 case D)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from pathlib import Path

import pytest
from mailbot_env import mail, make_app
from sqlalchemy import select

from mailbot import digest, send
from mailbot.db.models import ContactFailure, Outbox
from mailbot.mail import RawMail
from mailbot.process import process_delivery

UTC = dt.UTC


def _report(day: str, n: int = 1) -> bytes:
    return mail(
        subject=f"Security incident suspected at SITE-A [EGI-{day}] TLP: AMBER",
        sender="Pekka Admin <admin@site-a.example.com>",
        message_id=f"<report-{day}-{n}@site-a.example.com>",
        date="Fri, 04 Dec 2026 09:55:00 +0000",
        body="We found a miner on wn12.site-a.example.com (192.0.2.45).\n",
    )


def _digests(app) -> list[Outbox]:  # type: ignore[no-untyped-def]
    with app.db.transaction() as session:
        return list(
            session.scalars(
                select(Outbox).where(Outbox.purpose == "digest").order_by(Outbox.id)
            )
        )


def _walk(app, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:  # type: ignore[no-untyped-def]
    """Wake up every ten minutes like the daemon; the instants a digest went."""
    sent = []
    t = start
    while t <= end:
        app.clock.set(t)
        if digest.run_due(app) == "sent":
            sent.append(t)
        t += dt.timedelta(minutes=10)
    return sent


# The autumn walk starts months after the spring one, at noon: that day's
# digest goes out at once (the catch-up after a long stop), then one a day.
@pytest.mark.parametrize(
    ("at", "spring", "autumn"),
    [
        (
            "02:30",
            # 02:30 does not exist on 29 March: the run is at 03:00 CEST.
            ["03-27T01:30", "03-28T01:30", "03-29T01:00", "03-30T00:30", "03-31T00:30"],
            # 02:30 happens twice on 25 October: the first one only.
            ["10-22T12:00", "10-23T00:30", "10-24T00:30", "10-25T00:30",
             "10-26T01:30", "10-27T01:30"],
        ),
        (
            # Midnight runs: Monday 30 March is not skipped (APScheduler #606).
            "00:00",
            ["03-26T23:00", "03-27T23:00", "03-28T23:00", "03-29T22:00",
             "03-30T22:00", "03-31T22:00"],
            ["10-22T12:00", "10-22T22:00", "10-23T22:00", "10-24T22:00",
             "10-25T23:00", "10-26T23:00", "10-27T23:00"],
        ),
    ],
)  # fmt: skip
def test_once_a_day_across_dst(
    tmp_path: Path, database_url: str, at: str, spring: list, autumn: list
) -> None:
    start = dt.datetime(2026, 3, 26, 12, 0, tzinfo=UTC)
    app = make_app(tmp_path, database_url, now=start, extra={"MAILBOT_DIGEST_TIME": at})
    process_delivery(app, RawMail(_report("20260326"), start, "report"))
    # The very first wake-up only sets the baseline: no burst at installation.
    assert digest.run_due(app) == "baseline"
    sent = _walk(app, start, dt.datetime(2026, 3, 31, 23, 59, tzinfo=UTC))
    assert [t.strftime("%m-%dT%H:%M") for t in sent] == spring
    sent = _walk(
        app,
        dt.datetime(2026, 10, 22, 12, 0, tzinfo=UTC),
        dt.datetime(2026, 10, 27, 23, 59, tzinfo=UTC),
    )
    assert [t.strftime("%m-%dT%H:%M") for t in sent] == autumn
    assert len(_digests(app)) == len(spring) + len(autumn)
    app.close()


def test_contents_and_nothing_to_say(tmp_path: Path, database_url: str) -> None:
    monday = dt.datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
    app = make_app(tmp_path, database_url, now=monday)
    assert digest.run_due(app) == "baseline"

    # Tuesday 08:00 local: nothing happened, nothing is sent.
    app.clock.set(dt.datetime(2026, 12, 8, 7, 0, tzinfo=UTC))
    assert digest.run_due(app) == "empty"
    assert digest.run_due(app) is None
    assert _digests(app) == []

    # A report on Tuesday; its containment clock falls due Wednesday, and
    # the report clock (4 hours from discovery) is missed by Wednesday.
    reported = dt.datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
    raw = _report("20261208").replace(
        b"Fri, 04 Dec 2026 09:55:00 +0000", b"Tue, 08 Dec 2026 09:00:00 +0000"
    )
    # Seen a minute after it arrived (an arrival after mailbot's clock is
    # implausible, and yields to that clock).
    app.clock.set(reported + dt.timedelta(minutes=1))
    process_delivery(app, RawMail(raw, reported, "report"))
    with app.db.transaction() as session:
        session.add(
            ContactFailure(
                address="admin-old@site-a.example.com",
                permanent=True,
                status="5.1.1",
                failed_at=reported,
            )
        )
    app.clock.set(dt.datetime(2026, 12, 9, 7, 0, tzinfo=UTC))
    assert digest.run_due(app) == "sent"
    send.deliver_due(app)
    [row] = _digests(app)
    assert row.recipients == ["duty@csirt.example.org"] and row.state == "sent"
    sent_dir = Path(app.settings.path(app.settings.smtp.path))
    [path] = [
        p for p in sent_dir.rglob("*") if p.is_file() and b"digest" in p.read_bytes()
    ]
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["Subject"].startswith("[TLP:AMBER] mailbot daily digest 2026-12-09")
    body = message.get_content().replace("\r\n", "\n")
    assert body.startswith("TLP:AMBER\n")
    assert "Open incidents (1):\n  EGI-20261208-01  SITE-A  TLP:AMBER" in body
    assert (
        "Falling due in the next 24 hours:\n  EGI-20261208-01  SITE-A  containment"
        in body
    )
    assert "admin-old@site-a.example.com  5.1.1" in body
    assert message["Auto-Submitted"] == "auto-generated"
    app.close()


def test_two_processes_send_one_digest(tmp_path: Path, database_url: str) -> None:
    now = dt.datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
    first = make_app(tmp_path, database_url, now=now)
    second = make_app(tmp_path, database_url, now=now)
    process_delivery(first, RawMail(_report("20261207"), now, "report"))
    assert digest.run_due(first) == "baseline"
    for app in (first, second):
        app.clock.set(dt.datetime(2026, 12, 8, 7, 5, tzinfo=UTC))
    outcomes = [digest.run_due(first), digest.run_due(second), digest.run_due(first)]
    assert outcomes == ["sent", None, None]
    assert len(_digests(first)) == 1
    first.close()
    second.close()
