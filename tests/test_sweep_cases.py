"""The handed cases BR-30, BR-33 and BR-37 (../shared/cases), through the sweep.

BR-30: each level fires exactly once over a weekend of 15-minute ticks, a
restart and two mailbots at once; a human reply stops the chain, an
auto-reply does not. BR-33: due times and reminders across both DST
changes. BR-37: a reminder whose delivery outcome is unknown is never sent
twice. The mails leave through a real SMTP server on loopback.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mailbot_env import mail, make_app
from servers import ReceivedMail, SmtpSink

from mailbot import health, views
from mailbot.app import App
from mailbot.db.models import Chase, ContactFailure, Deadline, Mail, Outbox
from mailbot.deadlines.sweep import sweep
from mailbot.mail import RawMail
from mailbot.process import process_delivery
from mailbot.send import deliver_due

UTC = dt.UTC
Apps = Callable[..., App]
AUTHENTICATED = {
    "Authentication-Results": "mx.csirt.example.org; dkim=pass "
    "header.d=csirt.example.org"
}
SITES = """
[[ngi]]
name = "NGI_A"
security_contacts = ["ngi-sec@ngi-a.example.org"]

[[site]]
name = "SITE-A"
ngi = "NGI_A"
timezone = "{zone}"
{country}
security_contacts = ["admin@site-a.example.com"]
domains = ["site-a.example.com"]
"""
# BR-30's chase policy: level 1 at the 4-working-hour due time, level 2 two
# working hours later (6 after the notification), level 3 six more (12).
BR30_POLICY = {
    "MAILBOT_CHASE_LEVEL_INTERVALS": "0h, 2 working hours, 6 working hours",
}


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def feed(app: App, raw: bytes) -> str | None:
    outcome = process_delivery(app, RawMail(raw, app.clock.now(), "test"))
    assert outcome.result == "processed", outcome.reason
    return outcome.incident


def site_report(date: str) -> bytes:
    return mail(
        subject="Security incident suspected at SITE-A",
        sender="admin@site-a.example.com",
        message_id="<report@site-a.example.com>",
        date=date,
        body="wn12 (192.0.2.45) was isolated and a downtime was declared.\n",
    )


def request(tag: str, date: str) -> bytes:
    return mail(
        subject=f"Re: [{tag}] Security incident suspected at SITE-A",
        sender="alice@csirt.example.org",
        to="admin@site-a.example.com",
        message_id="<request@csirt.example.org>",
        date=date,
        headers={**AUTHENTICATED, "In-Reply-To": "<report@site-a.example.com>"},
        body="Please send the logs of wn12.\n",
    )


# What each level's mail is: its first line after the TLP label (the subject
# is the thread's).
LEVEL_HEADLINES = {1: "Reminder: ", 2: "Second reminder: ", 3: "Escalation: "}


def reminder_mails(sink: SmtpSink, level: int | None = None) -> list[ReceivedMail]:
    """The chase mails the SMTP server took in, of one level or all."""
    heads = (LEVEL_HEADLINES[level],) if level else tuple(LEVEL_HEADLINES.values())
    return [m for m in sink.messages if m.headline.startswith(heads)]


@pytest.fixture
def apps(tmp_path: Path, database_url: str, smtp_sink: SmtpSink) -> Iterator[Apps]:
    """Make mailbots on one database and one SMTP server; closed afterwards."""
    made: list[App] = []

    def make(now: str, zone: str = "UTC", country: str = "", **extra: str) -> App:
        sites = SITES.format(zone=zone, country=country)
        made.append(
            make_app(
                tmp_path,
                database_url,
                smtp=smtp_sink,
                now=utc(now),
                sites=sites,
                extra=extra,
            )
        )
        return made[-1]

    yield make
    for app in made:
        app.close()


def tick(app: App, when: dt.datetime) -> int:
    app.clock.set(when)
    queued = int(sweep(app)["reminders"])  # type: ignore[call-overload]
    deliver_due(app)
    return queued


def concurrent_ticks(apps: list[App], when: dt.datetime) -> list[int]:
    """Each App sweeps and delivers at `when`, all starting together."""
    barrier = threading.Barrier(len(apps))
    results: list[int] = [0] * len(apps)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            apps[index].clock.set(when)
            barrier.wait(timeout=10)
            results[index] = int(sweep(apps[index])["reminders"])  # type: ignore[call-overload]
            deliver_due(apps[index])
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(apps))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


def test_br30_each_level_exactly_once(apps: Apps, smtp_sink: SmtpSink) -> None:
    app = apps("2026-12-04T08:30:00", **BR30_POLICY)
    tag = feed(app, site_report("Fri, 04 Dec 2026 08:30:00 +0000"))
    assert tag is not None
    app.clock.set(utc("2026-12-04T09:00:00"))
    feed(app, request(tag, "Fri, 04 Dec 2026 09:00:00 +0000"))
    with app.db.transaction() as session:
        due = session.query(Deadline).filter_by(rule="analysis").one().due_at
    assert due == utc("2026-12-04T13:00:00")

    # Fri 13:00: exactly one level-1 chase; the ticks after it send nothing.
    at = utc("2026-12-04T13:00:00")
    assert tick(app, at) == 1
    [first] = smtp_sink.wait_for(2)[1:]
    assert first.recipients == ("admin@site-a.example.com",)
    # An auto-reply to it does not stop the chain.
    app.clock.set(utc("2026-12-04T13:20:00"))
    feed(
        app,
        mail(
            subject=f"Re: [{tag}] out of office",
            sender="admin@site-a.example.com",
            message_id="<ooo@site-a.example.com>",
            date="Fri, 04 Dec 2026 13:20:00 +0000",
            headers={
                "Auto-Submitted": "auto-replied",
                "In-Reply-To": first.message["Message-ID"],
            },
        ),
    )
    quarter = dt.timedelta(minutes=15)
    while (at := at + quarter) < utc("2026-12-04T14:10:00"):
        assert tick(app, at) == 0

    # Fri 14:10: mailbot restarted: nothing on start-up.
    app.close()
    app = apps("2026-12-04T14:10:00", **BR30_POLICY)
    assert tick(app, utc("2026-12-04T14:10:00")) == 0
    for at in (
        utc("2026-12-04T14:15:00"),
        utc("2026-12-04T14:30:00"),
        utc("2026-12-04T14:45:00"),
    ):
        assert tick(app, at) == 0

    # Fri 15:00: level 2 due with two mailbots running: exactly one chase.
    other = apps("2026-12-04T15:00:00", **BR30_POLICY)
    assert sorted(concurrent_ticks([app, other], utc("2026-12-04T15:00:00"))) == [0, 1]
    second = smtp_sink.wait_for(3)[2]
    assert second.recipients == (
        "admin@site-a.example.com",
        "ngi-sec@ngi-a.example.org",
    )

    # Ticks over the weekend until Monday 10:00: nothing.
    at = utc("2026-12-04T15:00:00")
    while (at := at + quarter) <= utc("2026-12-07T10:00:00"):
        assert tick(app if at.minute % 30 else other, at) == 0

    # Mon 10:05: the human reply stops the chain; level 3 (Mon 13:00) never goes.
    app.clock.set(utc("2026-12-07T10:05:00"))
    feed(
        app,
        mail(
            subject=f"Re: [{tag}] Reminder",
            sender="admin@site-a.example.com",
            message_id="<answer@site-a.example.com>",
            date="Mon, 07 Dec 2026 10:05:00 +0000",
            body="Logs attached; the intruder came from 203.0.113.7.\n",
        ),
    )
    while (at := at + quarter) <= utc("2026-12-07T16:00:00"):
        assert tick(app, at) == 0
    assert len(reminder_mails(smtp_sink)) == 2
    with app.db.transaction() as session:
        assert [c.level for c in session.query(Chase).order_by(Chase.level)] == [1, 2]
        deadline = session.query(Deadline).filter_by(rule="analysis").one()
        assert (deadline.state, deadline.next_action_at) == ("missed", None)


def test_br30_a_manual_sweep_with_nothing_due_is_a_no_op(
    apps: Apps, smtp_sink: SmtpSink
) -> None:
    app = apps("2026-12-04T08:30:00", **BR30_POLICY)
    tag = feed(app, site_report("Fri, 04 Dec 2026 08:30:00 +0000"))
    app.clock.set(utc("2026-12-04T09:00:00"))
    feed(app, request(tag, "Fri, 04 Dec 2026 09:00:00 +0000"))
    for _ in range(3):
        assert tick(app, utc("2026-12-04T12:59:59")) == 0
    assert reminder_mails(smtp_sink) == []


@pytest.mark.parametrize(
    ("requested", "due", "level_2"),
    [
        # A: spring forward; Monday is CEST (UTC+2).
        ("2026-03-27T14:00:00", "2026-03-30T09:00:00", "2026-03-31T09:00:00"),
        # B: fall back; Monday is CET (UTC+1).
        ("2026-10-23T13:00:00", "2026-10-26T10:00:00", "2026-10-27T10:00:00"),
        # C: half an hour on Friday, three and a half on Monday (CEST).
        ("2026-03-27T15:30:00", "2026-03-30T10:30:00", "2026-03-31T10:30:00"),
    ],
    ids=["A-spring", "B-fall", "C"],
)
def test_br33_reminders_across_dst(
    apps, smtp_sink, requested: str, due: str, level_2: str
) -> None:
    app = apps(requested, zone="Europe/Amsterdam", country='country = "NL"')
    tag = feed(app, site_report(_rfc(utc(requested) - dt.timedelta(hours=1))))
    feed(app, request(tag, _rfc(utc(requested))))
    with app.db.transaction() as session:
        assert session.query(Deadline).filter_by(rule="analysis").one().due_at == utc(
            due
        )
    assert tick(app, utc(due) - dt.timedelta(seconds=1)) == 0
    assert tick(app, utc(due)) == 1
    assert tick(app, utc(level_2) - dt.timedelta(seconds=1)) == 0
    assert tick(app, utc(level_2)) == 1
    sent = reminder_mails(smtp_sink)
    assert len(sent) == 2
    local = utc(due).astimezone(__import__("zoneinfo").ZoneInfo("Europe/Amsterdam"))
    assert f"{local:%H:%M %Z}" in sent[0].message.get_payload(decode=True).decode()


def _rfc(when: dt.datetime) -> str:
    from email.utils import format_datetime

    return format_datetime(when)


# BR-37: the SMTP server takes the whole level-1 chase, then never answers.
@pytest.fixture
def chased(apps: Apps) -> App:
    app = apps("2026-12-04T08:30:00", **BR30_POLICY, MAILBOT_SMTP_TIMEOUT="1")
    tag = feed(app, site_report("Fri, 04 Dec 2026 08:30:00 +0000"))
    app.clock.set(utc("2026-12-04T09:00:00"))
    feed(app, request(tag, "Fri, 04 Dec 2026 09:00:00 +0000"))
    deliver_due(app)  # the acknowledgement of the site's report
    app.clock.set(utc("2026-12-04T13:00:00"))
    assert sweep(app)["reminders"] == 1
    return app


def chase_row(app: App) -> Outbox:
    with app.db.transaction() as session:
        return session.query(Outbox).filter_by(purpose="chase-analysis-1").one()


def test_br37_uncertain_delivery_is_never_resent(
    chased: App, smtp_sink: SmtpSink
) -> None:
    smtp_sink.stall()
    counts = deliver_due(chased)
    assert counts.uncertain == 1
    row = chase_row(chased)
    assert (row.state, row.attempts) == ("uncertain", 1)
    smtp_sink.accept()
    # Later sweeps and deliveries, by this mailbot and a restarted one, send
    # no second copy: the level stays recorded.
    for minutes in (15, 30, 45, 60, 24 * 60):
        later = utc("2026-12-04T13:00:00") + dt.timedelta(minutes=minutes)
        assert tick(chased, later) == 0
    firsts = reminder_mails(smtp_sink, 1)
    assert len(firsts) == 1
    with chased.db.transaction() as session:
        mail_row = session.get(Mail, row.mail_id)
        assert firsts[0].message["Message-ID"] == mail_row.message_id
        assert session.query(Chase).filter_by(level=1).count() == 1
    assert chase_row(chased).state == "uncertain"


def test_br37_temporary_failure_after_data_is_retried_with_the_same_id(
    chased: App, smtp_sink
) -> None:
    smtp_sink.reject("DATA", 451, "4.3.0 Try again later")
    assert deliver_due(chased).retried == 1
    assert chase_row(chased).state == "pending"
    smtp_sink.accept()
    # Not at once: after the backoff.
    assert deliver_due(chased).sent == 0
    chased.clock.set(utc("2026-12-04T13:05:00"))
    assert deliver_due(chased).sent == 1
    [rejected] = smtp_sink.rejected
    accepted = reminder_mails(smtp_sink, 1)
    assert len(accepted) == 1
    assert accepted[0].message["Message-ID"] == rejected.message["Message-ID"]


def test_br37_permanent_failure_is_not_retried(
    chased: App, smtp_sink: SmtpSink
) -> None:
    smtp_sink.reject("DATA", 550, "5.7.1 Refused")
    assert deliver_due(chased).failed == 1
    smtp_sink.accept()
    chased.clock.set(utc("2026-12-05T13:00:00"))
    assert deliver_due(chased).sent == 0
    assert chase_row(chased).state == "failed"
    assert reminder_mails(smtp_sink) == []


def test_br37_failure_before_data_is_a_safe_retry(
    chased: App, smtp_sink: SmtpSink
) -> None:
    smtp_sink.reject("RCPT", 451, "4.7.1 Greylisted")
    assert deliver_due(chased).retried == 1
    smtp_sink.accept()
    chased.clock.set(utc("2026-12-04T13:05:00"))
    assert deliver_due(chased).sent == 1
    assert len(reminder_mails(smtp_sink, 1)) == 1


# F9/F20 and breaker 2's repro 12: a site whose only contact cannot be
# mailed (refused for good at RCPT by our SMTP server, or bouncing) is
# unreachable, not silent: the address is marked like a bounce, a level
# that reached no one is not listed as a reminder sent, the second
# reminder addresses the NGI it goes to alone, and the duty team is told
# the site could not be reached, not that it did not answer.
UNREACHABLE = "admin@site-a.example.com"
NGI = "ngi-sec@ngi-a.example.org"
DUTY = "duty@csirt.example.org"


def _silent_site(apps: Apps) -> tuple[App, str]:
    app = apps("2026-12-04T08:30:00", **BR30_POLICY)
    tag = feed(app, site_report("Fri, 04 Dec 2026 08:30:00 +0000"))
    assert tag is not None
    app.clock.set(utc("2026-12-04T09:00:00"))
    feed(app, request(tag, "Fri, 04 Dec 2026 09:00:00 +0000"))
    return app, tag


def _chase_the_three_levels(app: App) -> None:
    # Level 1 Fri 13:00, level 2 Fri 15:00, level 3 Mon 13:00 (BR-30's).
    for when in ("2026-12-04T13:00:00", "2026-12-04T15:00:00", "2026-12-07T13:00:00"):
        tick(app, utc(when))


def _check_unreachable(app: App, tag: str, sink: SmtpSink) -> None:
    [second] = reminder_mails(sink, 2)
    assert second.recipients == (NGI,)
    text = second.message.get_payload(decode=True).decode()
    assert "Dear NGI_A security officer" in text
    assert "Dear SITE-A security contact" not in text
    assert "is in copy" not in text
    assert UNREACHABLE in text
    [third] = reminder_mails(sink, 3)
    assert third.recipients == (DUTY,)
    notice = third.message.get_payload(decode=True).decode()
    assert third.headline.startswith("Escalation: SITE-A could not be reached")
    assert "has not answered" not in notice
    assert "Suspension" not in notice
    assert "find a working contact" in notice
    assert UNREACHABLE in notice
    # Level 1 reached no one: not listed; level 2 (to the NGI) and 3 are.
    shown = views.show(app, tag)
    assert shown is not None
    [analysis] = [d for d in shown["deadlines"] if d["rule"] == "analysis"]
    assert analysis["chases"] == ["2026-12-04T15:00:00Z", "2026-12-07T13:00:00Z"]
    data = health.status(app, app.clock.now())
    assert data["bouncing_contacts"] == [UNREACHABLE]


def test_a_contact_refused_at_rcpt_makes_the_site_unreachable(
    apps: Apps, smtp_sink: SmtpSink
) -> None:
    app, tag = _silent_site(apps)
    smtp_sink.reject(
        "RCPT", 550, "5.1.1 <admin@site-a.example.com>: User unknown", [UNREACHABLE]
    )
    deliver_due(app)  # the acknowledgement: refused, the contact marked
    with app.db.transaction() as session:
        failure = session.get(ContactFailure, UNREACHABLE)
        assert failure is not None and failure.permanent
    # The duty address is told once, in the incident's thread.
    notices = [m for m in smtp_sink.messages if m.recipients == (DUTY,)]
    assert len(notices) == 1 and UNREACHABLE in notices[0].headline
    _chase_the_three_levels(app)
    _check_unreachable(app, tag, smtp_sink)
    # Nothing was ever offered to the dead address again.
    assert reminder_mails(smtp_sink, 1) == []


def test_a_bounced_contact_makes_the_site_unreachable(
    apps: Apps, smtp_sink: SmtpSink
) -> None:
    app, tag = _silent_site(apps)
    deliver_due(app)
    ack = smtp_sink.messages[0]
    app.clock.set(utc("2026-12-04T09:05:00"))
    dsn = mail(
        subject="Undelivered Mail Returned to Sender",
        sender="MAILER-DAEMON@mx.site-a.example.com",
        message_id="<bounce-1@mx.site-a.example.com>",
        date="Fri, 04 Dec 2026 09:05:00 +0000",
        headers={
            "Auto-Submitted": "auto-replied",
            "Content-Type": "multipart/report; report-type=delivery-status; "
            'boundary="BB"',
        },
        body=(
            "--BB\nContent-Type: text/plain\n\nCould not be delivered.\n\n"
            "--BB\nContent-Type: message/delivery-status\n\n"
            "Reporting-MTA: dns; mx.site-a.example.com\n\n"
            f"Final-Recipient: rfc822; {UNREACHABLE}\nAction: failed\n"
            "Status: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\n\n"
            "--BB\nContent-Type: text/rfc822-headers\n\n"
            f"Message-ID: {ack.message['Message-ID']}\n"
            f"Subject: {ack.message['Subject']}\n\n--BB--\n"
        ),
    )
    feed(app, dsn)
    _chase_the_three_levels(app)
    _check_unreachable(app, tag, smtp_sink)
