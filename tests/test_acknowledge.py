"""Which new incidents are acknowledged, and which are only recorded."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from pathlib import Path

import pytest
from mailbot_env import mail, make_app
from sqlalchemy import func, select

from mailbot import store, views
from mailbot.db.models import Mail, Outbox
from mailbot.mail import RawMail
from mailbot.process import process_delivery, resume_received

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)


def _deliver(app, **fields: str):  # type: ignore[no-untyped-def]
    """Process one small mail made of `fields` (mailbot_env.mail's)."""
    raw = mail(**fields)  # type: ignore[arg-type]
    return process_delivery(app, RawMail(raw, NOW, f"test:{fields['message_id']}"))


def _the_acknowledgement(app) -> bytes:  # type: ignore[no-untyped-def]
    """The raw bytes of the one mail mailbot sent."""
    with app.db.transaction() as session:
        return session.scalars(select(Mail.raw).where(Mail.direction == "out")).one()


@pytest.mark.parametrize(
    ("age_days", "acknowledged"), [(1, 1), (6, 1), (8, 0), (400, 0)]
)
def test_old_mail_opens_an_incident_without_an_answer(
    tmp_path: Path, database_url: str, age_days: int, acknowledged: int
) -> None:
    # A new database on an old mailbox: its mail is history, not a question.
    app = make_app(tmp_path, database_url, now=NOW)
    arrived = NOW - dt.timedelta(days=age_days)
    raw = mail(
        subject="Compromised host 192.0.2.45",
        message_id=f"<old-{age_days}@cert.example.net>",
        date=arrived.strftime("%a, %d %b %Y %H:%M:%S +0000"),
    )
    outcome = process_delivery(app, RawMail(raw, arrived, "test"))
    assert outcome.result == "processed" and outcome.incident
    with app.db.transaction() as session:
        queued = session.scalar(select(func.count()).select_from(Outbox))
    assert queued == acknowledged
    app.close()


def test_a_site_set_from_a_mail_is_in_the_audit_trail(
    tmp_path: Path, database_url: str
) -> None:
    app = make_app(tmp_path, database_url, now=NOW)
    report = mail(
        subject="Scanning from a host of yours?",
        message_id="<third@cert.example.net>",
        body="We see scans from a grid host; do you know whose it is?\n",
    )
    first = process_delivery(app, RawMail(report, NOW, "test:1"))
    assert first.incident and views.show(app, first.incident)["site"] is None
    reply = mail(
        subject=f"Re: [{first.incident}] Scanning from a host of yours?",
        sender="admin@site-a.example.com",
        message_id="<answer@site-a.example.com>",
        body="That is our worker node; we are looking at it.\n",
    )
    process_delivery(app, RawMail(reply, NOW, "test:2"))
    shown = views.show(app, first.incident)
    assert shown["site"] == "SITE-A"
    assert [(a["actor"], a["action"], a["message_id"]) for a in shown["audit"]] == [
        ("mailbot", "site", "<answer@site-a.example.com>")
    ]
    assert "sender's address" in shown["audit"][0]["detail"]


def test_a_huge_subject_is_cut_in_the_acknowledgement(
    tmp_path: Path, database_url: str
) -> None:
    app = make_app(tmp_path, database_url, now=NOW)
    raw = mail(
        subject="Compromised " + "X" * 200_000, message_id="<huge@cert.example.net>"
    )
    assert process_delivery(app, RawMail(raw, NOW, "test")).incident
    sent = _the_acknowledgement(app)
    assert len(sent) < 5_000
    subject = email.message_from_bytes(sent, policy=email.policy.default)["Subject"]
    assert subject.endswith("\u2026") and len(subject) < 260
    assert subject.startswith("[EGI-20261204-01] [TLP:AMBER] Compromised XXX")
    # The incident's subject too: it goes into lists and the daily digest.
    [listed] = views.incident_list(app)
    assert len(listed["subject"]) == 200 and listed["subject"].endswith("\u2026")


def test_a_copy_of_a_mail_still_being_processed_is_a_duplicate(
    tmp_path: Path, database_url: str
) -> None:
    # Another process stored this mail and is recording it (or died doing
    # so): a second copy must not record it a second time beside it.
    app = make_app(tmp_path, database_url, now=NOW)
    raw = mail(
        subject="Compromised host 192.0.2.45", message_id="<copy@cert.example.net>"
    )
    with app.db.transaction() as session:
        first = store.accept(session, RawMail(raw, NOW, "imap:first"))
    assert first.new and first.state == "received"
    copy = process_delivery(app, RawMail(raw, NOW, "mbox:second"))
    assert (copy.result, copy.mail_id) == ("duplicate", first.mail_id)
    assert views.status(app, None)["duplicates"] == 1
    with app.db.transaction() as session:
        assert session.get(Mail, first.mail_id).state == "received"  # type: ignore[union-attr]
    # Left by a crash, it is finished by the next poll's resume, once.
    [resumed] = resume_received(app)
    assert (resumed.result, resumed.mail_id) == ("processed", first.mail_id)
    status = views.status(app, None)
    assert (status["mails"], status["duplicates"]) == (1, 1)


def test_an_acknowledgement_is_plain_text_a_person_can_read_raw(
    tmp_path: Path, database_url: str
) -> None:
    # Lines within 76 characters go out as they are (7bit): no quoted-
    # printable soft breaks in the middle of a word, and compose.py writes
    # such a mail directly instead of through the email package.
    app = make_app(tmp_path, database_url, now=NOW)
    raw = mail(subject="Compromised host", message_id="<plain@site-a.example.com>")
    assert process_delivery(app, RawMail(raw, NOW, "test")).incident
    sent = _the_acknowledgement(app)
    head, _, body = sent.partition(b"\r\n\r\n")
    assert b"Content-Transfer-Encoding: 7bit" in head
    assert max(len(line) for line in body.split(b"\r\n")) <= 76
    assert b"has opened incident EGI-20261204-01\r\nfor it." in body


def test_a_red_report_s_subject_is_withheld_from_a_reply_to_that_did_not_get_it(
    tmp_path: Path, database_url: str
) -> None:
    app = make_app(tmp_path, database_url, now=NOW)
    secret = "Credentials of jdoe stolen from wn12"
    raw = mail(
        subject=f"[TLP:RED] {secret}",
        body="TLP:RED\nSee subject.\n",
        message_id="<red-reply-to@cert.example.net>",
        headers={"Reply-To": "team@cert.example.net"},
    )
    assert process_delivery(app, RawMail(raw, NOW, "test")).incident
    sent = _the_acknowledgement(app)
    message = email.message_from_bytes(sent, policy=email.policy.default)
    assert message["To"] == "team@cert.example.net"
    assert secret not in str(message)
    assert "withheld: TLP:RED" in message["Subject"]


@pytest.mark.parametrize(
    ("display", "greeted"),
    [
        ("Marie-Claire O'Neil", "Dear Marie-Claire O'Neil,"),
        ("Müller, Jörg", "Dear Müller, Jörg,"),
        (
            "EGI Security: your certificate was revoked, re-enrol at "
            "https://egi-login.evil.example/",
            "Dear colleague,",
        ),
        ("Urgent please reset your password now", "Dear colleague,"),
        ("Visit evil-bank.example.com now", "Dear colleague,"),
        ("www.evil.example", "Dear colleague,"),
        ("\u0420\u0430ypal", "Dear colleague,"),  # Cyrillic Р and а among Latin
        ("J.R.R. Tolkien", "Dear J.R.R. Tolkien,"),
        (
            "\u0414\u043c\u0438\u0442\u0440\u0438\u0439",
            "Dear \u0414\u043c\u0438\u0442\u0440\u0438\u0439,",
        ),
    ],
)
def test_only_a_plain_name_is_repeated_in_the_greeting(
    tmp_path: Path, database_url: str, display: str, greeted: str
) -> None:
    # The sender chooses its display name and its Reply-To: an
    # acknowledgement must not carry someone's text to someone else.
    app = make_app(tmp_path, database_url, now=NOW)
    assert _deliver(
        app,
        subject="Compromised host",
        sender=f'"{display}" <reporter@cert.example.net>',
        message_id="<greeting@cert.example.net>",
    ).incident
    sent = _the_acknowledgement(app)
    body = email.message_from_bytes(sent, policy=email.policy.default).get_content()
    assert greeted in body
    assert "https://" not in body


def test_a_mail_without_a_sender_opens_no_incident(
    tmp_path: Path, database_url: str
) -> None:
    app = make_app(tmp_path, database_url, now=NOW)
    junk = bytes(range(256)) * 40  # binary, no header block at all
    headerless = mail(subject="", sender="", message_id="<nobody@cert.example.net>")
    for raw in (junk, headerless):
        outcome = process_delivery(app, RawMail(raw, NOW, "test"))
        assert (outcome.result, outcome.incident) == ("processed", None)
    assert views.incident_list(app) == []
    with app.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Outbox)) == 0


@pytest.mark.parametrize(
    ("sender", "next_tag"),
    [
        # Anyone's tag names its incident, and moves no counter.
        ("reporter@cert.example.net", "EGI-20261204-01"),
        # The site's, given by hand before mailbot ran: the tags below it
        # were given too, and their mails may come.
        ("admin@site-a.example.com", "EGI-20261204-100"),
    ],
)
def test_an_adopted_tag_moves_the_counter_only_when_the_site_s(
    tmp_path: Path, database_url: str, sender: str, next_tag: str
) -> None:
    app = make_app(tmp_path, database_url, now=NOW)
    first = _deliver(
        app,
        subject="Re: [EGI-20261204-99] Compromised host",
        sender=sender,
        message_id="<adopted@cert.example.net>",
    )
    second = _deliver(app, subject="Scanning", message_id="<next@cert.example.net>")
    assert [first.incident, second.incident] == ["EGI-20261204-99", next_tag]


def test_a_tag_of_other_digits_is_no_tag_and_crashes_nothing(
    tmp_path: Path, database_url: str
) -> None:
    app = make_app(tmp_path, database_url, now=NOW)
    outcome = _deliver(
        app,
        subject="Re: [EGI-\uff12\uff10\uff12\uff16\uff11\uff12\uff10\uff14-42] scans",
        message_id="<fullwidth@cert.example.net>",
    )
    assert (outcome.result, outcome.incident) == ("processed", "EGI-20261204-01")


@pytest.mark.parametrize(
    ("sender", "asks_the_site"),
    [("admin@site-a.example.com", True), ("reporter@cert.example.net", False)],
)
def test_a_third_party_is_asked_what_it_saw_not_for_the_site_s_fields(
    tmp_path: Path, database_url: str, sender: str, asks_the_site: bool
) -> None:
    # The Analysis Guideline and "do not reboot" are the site's to follow: a
    # national CERT that reported scans is asked for its own records.
    app = make_app(tmp_path, database_url, now=NOW)
    _deliver(
        app,
        subject="Scans from 192.0.2.45",
        sender=sender,
        message_id="<who-is-asked@example.net>",
        body="We see scans from 192.0.2.45.\n",
    )
    body = email.message_from_bytes(_the_acknowledgement(app)).get_payload()
    assert ("Incident Analysis" in body and "do not" in body) is asks_the_site
    assert ("takes this up with the security team" in body) is not asks_the_site
    # Which site an address belongs to is the site's and the CSIRT's to
    # know: a third party (or anyone probing) is not told.
    assert ("Site: SITE-A" in body) is asks_the_site
    app.close()
