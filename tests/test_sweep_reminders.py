"""Reminders as the sweep sends them: who gets which level, when, and how.

A site in Europe/Paris reports an isolated host (so containment and
downtime are met at once), a CSIRT member asks a question on Friday
2026-12-04 at 14:00 UTC, and the analysis clock is due on Monday at 10:00
UTC (DOMAIN.md scenario 2). The sweep then runs at chosen times.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from collections.abc import Callable, Iterator
from email.message import Message
from pathlib import Path

import pytest
from mailbot_env import AUTHENTICATED, mail, make_app

from mailbot import views
from mailbot.app import App
from mailbot.db.models import Chase, ContactFailure, Deadline, Mail, Outbox
from mailbot.deadlines.sweep import sweep
from mailbot.fetch.files import header_date
from mailbot.mail import RawMail
from mailbot.process import process_delivery
from mailbot.send import deliver_due

UTC = dt.UTC
TAG = "EGI-20261203-01"
SITE_CONTACTS = ["security@site-p.example.org", "admin@site-p.example.org"]
NGI_CONTACT = "ngi-sec@ngi-fr.example.org"
DUTY = "duty@csirt.example.org"
SITES = """
[[ngi]]
name = "NGI_FR"
security_contacts = ["ngi-sec@ngi-fr.example.org"]

[[site]]
name = "SITE-P"
ngi = "NGI_FR"
timezone = "Europe/Paris"
country = "FR"
security_contacts = ["security@site-p.example.org", "admin@site-p.example.org"]
domains = ["site-p.example.org"]
networks = ["192.0.2.128/25"]
"""
SITE_REPORT = mail(
    subject="Security incident suspected at SITE-P TLP:AMBER",
    sender="Marie <security@site-p.example.org>",
    message_id="<report@site-p.example.org>",
    date="Thu, 03 Dec 2026 09:00:00 +0000",
    body="We found a miner on wn3.site-p.example.org (192.0.2.130).\n"
    "The host was isolated at 08:50 UTC and a downtime was declared.\n",
)


def request(when: str = "Fri, 04 Dec 2026 14:00:00 +0000", n: int = 1) -> bytes:
    return mail(
        subject=f"Re: [{TAG}] Security incident suspected at SITE-P",
        sender="Alice <alice@csirt.example.org>",
        to=", ".join(SITE_CONTACTS),
        message_id=f"<request-{n}@csirt.example.org>",
        date=when,
        headers={**AUTHENTICATED, "In-Reply-To": "<report@site-p.example.org>"},
        body="Which account was used to log in, and from where?\n",
    )


def site_reply(when: str, n: int = 1, **headers: str) -> bytes:
    return mail(
        subject=f"Re: [{TAG}] [TLP:AMBER] Reminder",
        sender="admin@site-p.example.org",
        message_id=f"<reply-{n}@site-p.example.org>",
        date=when,
        headers=headers,
        body="The account was 'ops', logins from 203.0.113.7.\n",
    )


def at(app: App, text: str) -> None:
    app.clock.set(dt.datetime.fromisoformat(text).replace(tzinfo=UTC))


def feed(app: App, raw: bytes, arrived: dt.datetime | None = None) -> str | None:
    arrived = arrived or app.clock.now()
    outcome = process_delivery(app, RawMail(raw, arrived, "test"))
    assert outcome.result == "processed", outcome.reason
    return outcome.incident


def reminders(app: App) -> list[tuple[str, list[str], Message]]:
    """(purpose, envelope recipients, parsed mail) of every queued reminder."""
    with app.db.transaction() as session:
        rows = session.execute(
            Outbox.__table__.select()
            .where(Outbox.purpose.like("chase-%"))
            .order_by(Outbox.id)
        ).all()
        found = []
        for row in rows:
            raw = session.get(Mail, row.mail_id).raw
            message = email.message_from_bytes(raw, policy=email.policy.default)
            found.append((row.purpose, list(row.recipients), message))
    return found


def body(message: Message) -> str:
    return message.get_content()  # type: ignore[attr-defined,no-any-return]


@pytest.fixture
def new_app(tmp_path: Path, database_url: str) -> Iterator[Callable[..., App]]:
    """Make Apps on the test's database; each is closed after the test."""
    made: list[App] = []

    def make(now: str, **extra: str) -> App:
        when = dt.datetime.fromisoformat(now).replace(tzinfo=UTC)
        made.append(
            make_app(tmp_path, database_url, now=when, sites=SITES, extra=extra)
        )
        return made[-1]

    yield make
    for app in made:
        app.close()


@pytest.fixture
def app(new_app: Callable[..., App]) -> App:
    app = new_app("2026-12-03T09:00:00")
    assert feed(app, SITE_REPORT) == TAG
    at(app, "2026-12-04T14:00:00")
    assert feed(app, request()) == TAG
    return app


def analysis(app: App) -> Deadline:
    with app.db.transaction() as session:
        return session.query(Deadline).filter_by(rule="analysis").one()


def test_only_the_request_clock_is_pending(app: App) -> None:
    with app.db.transaction() as session:
        states = {d.rule: d.state for d in session.query(Deadline)}
    assert states == {
        "report": "met",
        "containment": "met",
        "downtime": "met",
        "analysis": "pending",
    }
    assert analysis(app).due_at == dt.datetime(2026, 12, 7, 10, tzinfo=UTC)


def test_level_one_in_the_thread_to_the_site(app: App) -> None:
    at(app, "2026-12-07T09:59:59")
    assert sweep(app)["reminders"] == 0
    at(app, "2026-12-07T10:00:00")
    assert sweep(app)["reminders"] == 1
    [(purpose, rcpts, message)] = reminders(app)
    assert purpose == "chase-analysis-1"
    assert rcpts == SITE_CONTACTS
    assert message["To"] == ", ".join(SITE_CONTACTS)
    assert message["Cc"] is None
    # The tag first, the TLP label in the subject and as the first body line.
    # The thread's subject (INTERFACE.md); what the mail is heads the body.
    assert message["Subject"] == (
        f"[{TAG}] [TLP:AMBER] Security incident suspected at SITE-P"
    )
    text = body(message)
    assert text.splitlines()[0] == "TLP:AMBER"
    assert text.splitlines()[2] == "Reminder: Security incident suspected at SITE-P"
    assert message["Auto-Submitted"] == "auto-generated"
    # A reply to the thread's latest mail: the CSIRT's request.
    assert message["In-Reply-To"] == "<request-1@csirt.example.org>"
    references = message["References"].split()
    assert references[0] == "<report@site-p.example.org>"
    assert references[-1] == "<request-1@csirt.example.org>"
    # What is owed, and the Analysis Guideline fields still missing.
    assert "answer EGI CSIRT's request in this thread" in text
    assert "Mon 2026-12-07 11:00 CET" in text
    missing = views.show(app, TAG)["missing"]
    assert "detected_by" in missing
    listed = [
        line.split(":")[0].strip(" -")
        for line in text.splitlines()
        if line.startswith("  - ")
    ]
    assert listed == missing
    # The chase row points at the mail it queued.
    with app.db.transaction() as session:
        chase = session.query(Chase).one()
        mail_row = session.get(Mail, chase.mail_id)
        assert mail_row.message_id == message["Message-ID"]


def test_levels_two_and_three(app: App) -> None:
    at(app, "2026-12-07T10:00:00")
    sweep(app)
    # One working day of the site later: Tuesday 10:00 UTC.
    at(app, "2026-12-08T09:59:00")
    assert sweep(app)["reminders"] == 0
    at(app, "2026-12-08T10:00:00")
    assert sweep(app)["reminders"] == 1
    at(app, "2026-12-09T10:00:00")
    assert sweep(app)["reminders"] == 1
    at(app, "2026-12-20T10:00:00")
    assert sweep(app)["reminders"] == 0
    sent = reminders(app)
    assert [p for p, _, _ in sent] == [
        "chase-analysis-1",
        "chase-analysis-2",
        "chase-analysis-3",
    ]
    _, rcpts, second = sent[1]
    assert rcpts == [*SITE_CONTACTS, NGI_CONTACT]
    assert second["Cc"] == NGI_CONTACT
    assert "NGI security officer is in copy" in body(second)
    _, rcpts, third = sent[2]
    assert rcpts == [DUTY]
    # The thread's subject for every level; what each is heads its body.
    thread_subject = f"[{TAG}] [TLP:AMBER] Security incident suspected at SITE-P"
    assert second["Subject"] == third["Subject"] == thread_subject
    assert body(second).splitlines()[2].startswith("Second reminder: ")
    assert body(third).splitlines()[2].startswith("Escalation: SITE-P silent on ")
    assert "Suspension of SITE-P should be considered" in body(third)
    assert "has not answered 2 reminders" in body(third)
    with app.db.transaction() as session:
        times = [c.queued_at for c in session.query(Chase).order_by(Chase.level)]
    assert times == [
        dt.datetime(2026, 12, 7, 10, tzinfo=UTC),
        dt.datetime(2026, 12, 8, 10, tzinfo=UTC),
        dt.datetime(2026, 12, 9, 10, tzinfo=UTC),
    ]


def test_repeated_sweeps_and_a_restart_send_each_level_once(
    app: App, new_app: Callable[..., App]
) -> None:
    at(app, "2026-12-07T10:00:00")
    assert [sweep(app)["reminders"] for _ in range(3)] == [1, 0, 0]
    app.close()
    again = new_app("2026-12-07T10:30:00")
    assert sweep(again)["reminders"] == 0
    assert len(reminders(again)) == 1


def test_a_late_sweep_waits_for_working_hours(app: App) -> None:
    # mailbot was down from Monday morning to Monday 18:00 UTC (19:00 in
    # Paris): level 1 waits for Tuesday's opening, 08:00 UTC.
    at(app, "2026-12-07T18:00:00")
    result = sweep(app)
    assert (result["reminders"], result["missed"]) == (0, 1)
    assert analysis(app).state == "missed"
    assert analysis(app).next_action_at == dt.datetime(2026, 12, 8, 8, tzinfo=UTC)
    at(app, "2026-12-08T07:59:00")
    assert sweep(app)["reminders"] == 0
    at(app, "2026-12-08T08:00:00")
    assert sweep(app)["reminders"] == 1


def test_outside_working_hours_when_configured(new_app: Callable[..., App]) -> None:
    app = new_app("2026-12-03T09:00:00", MAILBOT_CHASE_WITHIN_WORKING_HOURS="false")
    feed(app, SITE_REPORT)
    at(app, "2026-12-04T14:00:00")
    feed(app, request())
    at(app, "2026-12-07T18:00:00")
    assert sweep(app)["reminders"] == 1


def test_a_human_reply_stops_the_chase_and_robots_do_not(app: App) -> None:
    at(app, "2026-12-07T10:00:00")
    sweep(app)
    # An out-of-office answer to the reminder meets nothing.
    at(app, "2026-12-07T10:01:00")
    feed(
        app,
        site_reply(
            "Mon, 07 Dec 2026 10:01:00 +0000", n=1, **{"Auto-Submitted": "auto-replied"}
        ),
    )
    assert analysis(app).met_at is None
    at(app, "2026-12-08T10:00:00")
    assert sweep(app)["reminders"] == 1
    # The site's late answer: met (late), nothing more is sent.
    at(app, "2026-12-08T11:00:00")
    feed(app, site_reply("Tue, 08 Dec 2026 11:00:00 +0000", n=2))
    deadline = analysis(app)
    assert (deadline.state, deadline.met_at) == (
        "missed",
        dt.datetime(2026, 12, 8, 11, tzinfo=UTC),
    )
    assert deadline.next_action_at is None
    at(app, "2026-12-15T10:00:00")
    assert sweep(app)["reminders"] == 0
    assert len(reminders(app)) == 2


def test_each_request_has_its_own_clock(app: App) -> None:
    at(app, "2026-12-07T10:30:00")
    feed(app, request("Mon, 07 Dec 2026 10:30:00 +0000", n=2))
    with app.db.transaction() as session:
        dues = sorted(
            d.due_at for d in session.query(Deadline).filter_by(rule="analysis")
        )
    assert dues == [
        dt.datetime(2026, 12, 7, 10, tzinfo=UTC),
        dt.datetime(2026, 12, 7, 14, 30, tzinfo=UTC),
    ]
    at(app, "2026-12-07T14:30:00")
    # Both fall due by this sweep: one reply meets both, so one mail asks
    # for it, and each clock records its level with that mail.
    assert sweep(app)["reminders"] == 1
    assert [p for p, _, _ in reminders(app)] == ["chase-analysis-1"]
    with app.db.transaction() as session:
        chased = session.query(Chase).all()
        levels = [d.level for d in session.query(Deadline).filter_by(rule="analysis")]
    assert len(chased) == 2 and len({c.mail_id for c in chased}) == 1
    assert levels == [1, 1]
    # The next levels too: one mail for both.
    at(app, "2026-12-08T14:30:00")
    assert sweep(app)["reminders"] == 1
    assert [p for p, _, _ in reminders(app)] == ["chase-analysis-1", "chase-analysis-2"]


def test_lateness_when_first_seen_records_the_miss_and_sends_nothing(
    app: App,
) -> None:
    # mailbot comes back from an outage 7 days and a minute after the due time.
    at(app, "2026-12-14T10:01:00")
    result = sweep(app)
    assert (result["missed"], result["reminders"]) == (1, 0)
    deadline = analysis(app)
    assert (deadline.state, deadline.next_action_at, deadline.level) == (
        "missed",
        None,
        0,
    )
    assert reminders(app) == []


def test_within_the_lateness_a_returning_mailbot_still_chases(app: App) -> None:
    at(app, "2026-12-14T09:59:00")
    assert sweep(app)["reminders"] == 1


def test_an_old_mailbox_imported_floods_no_one(new_app: Callable[..., App]) -> None:
    # The mailbox is imported three weeks late: the request arrived (and
    # its clock started) then, so the clock is created missed, never chased.
    app = new_app("2026-12-28T09:00:00")
    feed(app, SITE_REPORT, header_date(SITE_REPORT))
    feed(app, request(), header_date(request()))
    deadline = analysis(app)
    assert (deadline.state, deadline.next_action_at) == ("missed", None)
    assert sweep(app)["reminders"] == 0
    assert reminders(app) == []


def test_lateness_is_configuration(new_app: Callable[..., App]) -> None:
    app = new_app("2026-12-03T09:00:00", MAILBOT_CHASE_MAX_LATENESS="1d")
    feed(app, SITE_REPORT)
    at(app, "2026-12-04T14:00:00")
    feed(app, request())
    at(app, "2026-12-08T10:01:00")
    assert sweep(app)["reminders"] == 0


def test_a_false_positive_cancels_the_chase(app: App) -> None:
    from mailbot.deadlines.clocks import cancel_pending
    from mailbot.incidents import by_tag

    with app.db.transaction() as session:
        incident = by_tag(session, TAG)
        incident.status = "false_positive"
        cancel_pending(session, [incident.id])
    at(app, "2026-12-07T10:00:00")
    assert sweep(app)["reminders"] == 0
    assert analysis(app).state == "cancelled"


# BR-16: a contact that bounced permanently is dropped, the others still
# get every level.
def bounce_for(app: App, address: str) -> None:
    with app.db.transaction() as session:
        session.add(
            ContactFailure(
                address=address,
                permanent=True,
                status="5.1.1",
                failed_at=app.clock.now(),
            )
        )


def test_br16_a_bounced_contact_is_dropped_the_other_still_chased(app: App) -> None:
    bounce_for(app, "security@site-p.example.org")
    for when in ("2026-12-07T10:00:00", "2026-12-08T10:00:00"):
        at(app, when)
        assert sweep(app)["reminders"] == 1
    sent = reminders(app)
    assert sent[0][1] == ["admin@site-p.example.org"]
    assert sent[1][1] == ["admin@site-p.example.org", NGI_CONTACT]
    assert sent[1][2]["To"] == "admin@site-p.example.org"


def test_br16_every_site_contact_bounced(app: App) -> None:
    for address in SITE_CONTACTS:
        bounce_for(app, address)
    at(app, "2026-12-07T10:00:00")
    # Level 1 has nobody to reach; it is recorded, not sent, and logged.
    assert sweep(app)["reminders"] == 0
    with app.db.transaction() as session:
        assert session.query(Chase).one().mail_id is None
    # Level 2 goes to the NGI alone; level 3 to the CSIRT as usual.
    at(app, "2026-12-08T10:00:00")
    assert sweep(app)["reminders"] == 1
    at(app, "2026-12-09T10:00:00")
    assert sweep(app)["reminders"] == 1
    sent = reminders(app)
    assert [r for _, r, _ in sent] == [[NGI_CONTACT], [DUTY]]
    assert sent[0][2]["Cc"] is None


def test_a_resolved_incident_is_chased_for_its_closure_report(app: App) -> None:
    at(app, "2026-12-07T10:30:00")
    assert feed(app, site_reply("Mon, 07 Dec 2026 10:30:00 +0000")) == TAG
    resolution = mail(
        subject=f"Re: [{TAG}] Security incident suspected at SITE-P",
        sender="Alice <alice@csirt.example.org>",
        to=", ".join(SITE_CONTACTS),
        message_id="<resolved@csirt.example.org>",
        date="Mon, 07 Dec 2026 11:00:00 +0000",
        headers={**AUTHENTICATED, "In-Reply-To": "<reply-1@site-p.example.org>"},
        body="#resolved 2026-12-07T11:00:00Z\n#no-request\n\nThanks, all done.\n",
    )
    at(app, "2026-12-07T11:00:00")
    assert feed(app, resolution) == TAG
    assert views.show(app, TAG)["status"] == "resolved"

    # A month later, on a working day, the closure report is still owed.
    at(app, "2027-01-08T10:00:00")
    sweep(app)
    closure = [
        (rcpts, m) for p, rcpts, m in reminders(app) if p == "chase-closure_report-1"
    ]
    assert len(closure) == 1
    assert sorted(closure[0][0]) == sorted(SITE_CONTACTS)


# A fresh mail whose stated facts are old: it arrived now, the discovery it
# states is 17 days old (the containment it owes was due on 2026-11-21).
OLD_DISCOVERY = mail(
    subject="Compromised host at SITE-P",
    sender="security@site-p.example.org",
    message_id="<old-discovery@site-p.example.org>",
    date="Mon, 07 Dec 2026 08:00:00 +0000",
    body="Hello,\nwhile reviewing old logs we discovered on 2026-11-20 10:00 UTC"
    " that wn3.site-p.example.org (192.0.2.130) had been compromised.\n"
    "We are still analysing it; it is still running.\n",
)


def containment(app: App) -> Deadline:
    with app.db.transaction() as session:
        return session.query(Deadline).filter_by(rule="containment").one()


def test_a_fresh_report_of_an_old_discovery_is_chased_from_now(
    new_app: Callable[..., App],
) -> None:
    # The lateness is for mail that reaches mailbot long after the fact
    # (an old mailbox, an outage), not for a new mail telling old facts.
    app = new_app("2026-12-07T08:00:00")
    feed(app, OLD_DISCOVERY)
    deadline = containment(app)
    assert deadline.due_at == dt.datetime(2026, 11, 21, 10, tzinfo=UTC)
    assert deadline.state == "missed" and deadline.next_action_at is not None
    # Monday 09:00 in Paris: the first reminder goes at once.
    assert sweep(app)["reminders"] == 1
    assert [p for p, _, _ in reminders(app)] == ["chase-containment-1"]
    at(app, "2026-12-08T08:00:00")
    assert sweep(app)["reminders"] == 1
    at(app, "2026-12-09T08:00:00")
    assert sweep(app)["reminders"] == 1
    assert [p for p, _, _ in reminders(app)] == [
        "chase-containment-1",
        "chase-containment-2",
        "chase-containment-3",
    ]


def test_an_imported_old_report_of_an_old_discovery_is_not_chased(
    new_app: Callable[..., App],
) -> None:
    # The same mail, polled three weeks after it arrived.
    app = new_app("2026-12-28T08:00:00")
    feed(app, OLD_DISCOVERY, header_date(OLD_DISCOVERY))
    deadline = containment(app)
    assert (deadline.state, deadline.next_action_at) == ("missed", None)
    assert sweep(app)["reminders"] == 0
    assert reminders(app) == []


def test_an_imported_old_resolution_owes_no_chased_closure_report(
    new_app: Callable[..., App],
) -> None:
    # The mailbox is polled in February: the closure report owed since
    # 2027-01-07 was owed long before mailbot saw the site's mail.
    app = new_app("2027-02-20T09:00:00")
    resolved = mail(
        subject=f"Re: [{TAG}] Security incident suspected at SITE-P",
        sender="security@site-p.example.org",
        message_id="<resolved@site-p.example.org>",
        date="Mon, 07 Dec 2026 10:00:00 +0000",
        headers={"In-Reply-To": "<report@site-p.example.org>"},
        body="We consider the incident resolved.\n",
    )
    for raw in (SITE_REPORT, resolved):
        feed(app, raw, header_date(raw))
    with app.db.transaction() as session:
        clock = session.query(Deadline).filter_by(rule="closure_report").one()
        assert (clock.state, clock.next_action_at) == ("missed", None)
    assert sweep(app)["reminders"] == 0


# SITE-P closed from Christmas Eve to 2027-01-08: 16 days, more than the
# lateness of 7.
HOLIDAYS = [str(dt.date(2026, 12, 24) + dt.timedelta(days=n)) for n in range(16)]
SITES_ON_HOLIDAY = SITES.replace(
    'country = "FR"\n', f'country = "FR"\nholidays = {HOLIDAYS!r}\n'.replace("'", '"')
)
BEFORE_HOLIDAYS = mail(
    subject="Compromised host at SITE-P",
    sender="security@site-p.example.org",
    message_id="<before-holidays@site-p.example.org>",
    date="Wed, 23 Dec 2026 10:00:00 +0000",
    body="Hello, wn3.site-p.example.org (192.0.2.130) was compromised,"
    " discovered 2026-12-23 09:30 UTC. Still analysing.\n",
)


def on_holiday(tmp_path: Path, database_url: str) -> App:
    when = dt.datetime(2026, 12, 23, 10, tzinfo=UTC)
    app = make_app(tmp_path, database_url, now=when, sites=SITES_ON_HOLIDAY)
    feed(app, BEFORE_HOLIDAYS)
    return app


def test_a_miss_seen_in_time_is_chased_after_a_long_holiday(
    tmp_path: Path, database_url: str
) -> None:
    app = on_holiday(tmp_path, database_url)
    # Seen five minutes after its due time: the miss is recorded, and the
    # reminder waits for the site's first working hour after the holidays.
    at(app, "2026-12-24T09:35:00")
    result = sweep(app)
    assert (result["missed"], result["reminders"]) == (1, 0)
    when = dt.datetime(2027, 1, 11, 8, tzinfo=UTC)
    assert containment(app).next_action_at == when
    # More than the lateness after the due time, but not first seen then.
    at(app, "2027-01-11T08:00:00")
    assert sweep(app)["reminders"] == 1
    assert [p for p, _, _ in reminders(app)] == ["chase-containment-1"]


def closure_report(label: str) -> bytes:
    """SITE-P's closure report, labelled `label` in its first line."""
    return mail(
        subject=f"Re: [{TAG}] Security incident suspected at SITE-P",
        sender="security@site-p.example.org",
        message_id=f"<closure-{label or 'none'}@site-p.example.org>",
        date="Mon, 07 Dec 2026 10:00:00 +0000",
        headers={"In-Reply-To": "<report@site-p.example.org>"},
        body=(f"{label}\n\n" if label else "") + "Closure report\n\n"
        "Resolution: host reinstalled from scratch, all credentials rotated.\n"
        "Lessons learnt: keep the UI patched; monitor outgoing connections.\n",
    )


def resolved_by_member(app: App) -> None:
    at(app, "2026-12-07T11:00:00")
    resolution = mail(
        subject=f"Re: [{TAG}] Security incident suspected at SITE-P",
        sender="Alice <alice@csirt.example.org>",
        message_id="<resolved@csirt.example.org>",
        date="Mon, 07 Dec 2026 11:00:00 +0000",
        headers=AUTHENTICATED,
        body="#resolved 2026-12-07T09:00:00Z\n",
    )
    assert feed(app, resolution) == TAG


def closure_clock(app: App) -> Deadline:
    with app.db.transaction() as session:
        return session.query(Deadline).filter_by(rule="closure_report").one()


def test_a_closure_report_sent_before_the_resolution_meets_its_clock(
    app: App,
) -> None:
    # The site sends its labelled report at 10:00; the member records the
    # resolution at 11:00: the clock starts met, and nobody is chased.
    at(app, "2026-12-07T10:00:00")
    assert feed(app, closure_report("TLP:AMBER")) == TAG
    resolved_by_member(app)
    deadline = closure_clock(app)
    report_time = dt.datetime(2026, 12, 7, 10, tzinfo=UTC)
    assert (deadline.state, deadline.met_at) == ("met", report_time)
    assert deadline.next_action_at is None
    at(app, "2027-01-08T10:00:00")
    sweep(app)
    assert not [p for p, _, _ in reminders(app) if "closure" in p]


def test_an_unlabelled_closure_report_before_the_resolution_meets_nothing(
    app: App,
) -> None:
    # Unlabelled (or GREEN), it counts no more before the resolution than
    # after: the site is asked to resend it, and the clock stays owed.
    at(app, "2026-12-07T10:00:00")
    assert feed(app, closure_report("")) == TAG
    # Asked to resend it labelled, before the resolution too.
    deliver_due(app)
    with app.db.transaction() as session:
        asked = session.query(Outbox).filter_by(purpose="closure-relabel").all()
        assert [(o.state, list(o.recipients)) for o in asked] == [
            ("sent", [SITE_CONTACTS[0]])
        ]
    resolved_by_member(app)
    deadline = closure_clock(app)
    assert (deadline.state, deadline.met_at) == ("pending", None)
    at(app, "2027-01-08T10:00:00")
    sweep(app)
    assert [p for p, _, _ in reminders(app) if "closure" in p] == [
        "chase-closure_report-1"
    ]
