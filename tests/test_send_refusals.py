"""What the SMTP server refuses, and whose fault it is (mailbot/send/).

A refused login or a relay refusing every mail for now is the server's (or
the configuration's) condition: the mail waits, untried, and `status` says
what to fix. A recipient refused for now gets the mail later; one refused
for good at RCPT is marked like a bounce. Through a real SMTP server on
loopback.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from mailbot_env import mail, make_app
from servers import SmtpSink
from sqlalchemy import select

from mailbot import compose, health, outbox, send
from mailbot.app import App
from mailbot.db.models import ContactFailure, Incident, Outbox
from mailbot.mail import RawMail
from mailbot.process import process_delivery
from mailbot.send.batch import OUTAGE_WAIT_MAX

NOW = dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)


def _report(n: int) -> bytes:
    return mail(
        subject=f"Scans from 203.0.113.{n}",
        sender=f"reporter{n}@cert{n}.example.net",
        message_id=f"<refusal-{n}@cert.example.net>",
        body=f"Scans from 203.0.113.{n}.\n",
    )


def _queue_to(app: App, *to: str) -> None:
    """An incident whose acknowledgement went, then one mail to `to`."""
    _queue(app, 1)
    assert send.deliver_due(app).sent == 1
    with app.db.transaction() as session:
        incident = session.scalars(select(Incident)).one()
        outgoing = compose.compose(
            sender="abuse@csirt.example.org",
            to=to,
            subject=f"[{incident.tag}] Scans",
            body="Please check.\n",
            tlp_label="AMBER",
            message_id=f"<two-{len(to)}@csirt.example.org>",
            date=app.clock.now(),
        )
        outbox.queue(
            session, outgoing, purpose="reply", incident_id=incident.id,
            now=app.clock.now(),
        )  # fmt: skip


def _queue(app: App, *numbers: int) -> None:
    for n in numbers:
        outcome = process_delivery(app, RawMail(_report(n), app.clock.now(), f"t{n}"))
        assert outcome.result == "processed"


def _rows(app: App) -> list[tuple[str, int, list[str]]]:
    with app.db.transaction() as session:
        return [
            (r.state, r.attempts, list(r.recipients))
            for r in session.scalars(select(Outbox).order_by(Outbox.id))
        ]


def _status(app: App) -> dict:  # type: ignore[type-arg]
    return health.status(app, app.clock.now())


def test_a_refused_login_keeps_the_mail_and_makes_status_unhealthy(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with SmtpSink(credentials=("mailbot", "right")) as sink:
        extra = {"MAILBOT_SMTP_USERNAME": "mailbot", "MAILBOT_SMTP_PASSWORD": "wrong"}
        app = make_app(tmp_path, database_url, smtp=sink, now=NOW, extra=extra)
        _queue(app, 1, 2, 3)
        for _ in range(3):
            counts = send.deliver_due(app)
            assert (counts.sent, counts.failed) == (0, 0)
        # Untried: no attempt spent, nothing failed.
        assert [(s, a) for s, a, _ in _rows(app)] == [("pending", 0)] * 3
        [line] = [r for r in caplog.records if "login" in r.getMessage()]
        assert line.levelno == logging.ERROR
        assert "check [smtp] username and password" in line.getMessage()
        # Said as refused, not as a server "not taking mail".
        assert line.getMessage().startswith("SMTP server refused mailbot's login,")
        data = _status(app)
        assert not data["healthy"]
        assert any("[smtp] username and password" in p for p in data["problems"])
        app.close()

        # The operator fixes the password: every mail goes by itself.
        extra["MAILBOT_SMTP_PASSWORD"] = "right"
        app = make_app(tmp_path, database_url, smtp=sink, now=NOW, extra=extra)
        assert send.deliver_due(app).sent == 3
        assert len(sink.messages) == 3
        assert _status(app)["healthy"]
        app.close()


def test_a_relay_refusing_every_mail_for_hours_spends_no_attempts(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink
) -> None:
    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW)
    smtp_sink.reject("RCPT", 451, "4.3.1 Insufficient system storage")
    _queue(app, 1, 2)
    # Three hours of ticks: far more than max_attempts (8) retries' worth.
    end = NOW + dt.timedelta(hours=3)
    while app.clock.now() < end:
        send.deliver_due(app)
        app.clock.advance(dt.timedelta(minutes=1))
    assert [(s, a) for s, a, _ in _rows(app)] == [("pending", 0)] * 2
    assert not _status(app)["healthy"]  # the outbox does not drain
    # The relay is fixed: the mail leaves within the outage's wait.
    smtp_sink.accept()
    app.clock.advance(OUTAGE_WAIT_MAX)
    assert send.deliver_due(app).sent == 2
    app.close()


def test_a_mail_refused_for_now_while_others_go_spends_its_attempts(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink
) -> None:
    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW)
    # Only reporter1's mail is refused; reporter2's goes in the same batch.
    smtp_sink.reject("RCPT", 452, "4.2.2 Mailbox full", ["reporter1@cert1.example.net"])
    _queue(app, 1, 2)
    counts = send.deliver_due(app)
    assert (counts.sent, counts.retried) == (1, 1)
    assert [(s, a) for s, a, _ in _rows(app)] == [("pending", 1), ("sent", 1)]


def test_a_recipient_refused_for_now_gets_the_mail_later(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink
) -> None:
    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW)
    grey = "cc-person@cert1.example.net"
    smtp_sink.reject("RCPT", 451, "4.7.1 Greylisted, try again in 5 minutes", [grey])
    _queue_to(app, "reporter1@cert1.example.net", grey)
    assert send.deliver_due(app).sent == 1
    first = smtp_sink.messages[1]
    assert first.recipients == ("reporter1@cert1.example.net",)
    # Kept for the refused one alone, retried after the backoff.
    assert _rows(app)[1] == ("pending", 1, [grey])
    smtp_sink.accept()
    app.clock.advance(dt.timedelta(minutes=5))
    send.deliver_due(app)
    second = smtp_sink.messages[2]
    assert second.recipients == (grey,)
    assert second.message["Message-ID"] == first.message["Message-ID"]
    assert _rows(app)[1][0] == "sent"
    app.close()


def _hours_of_retries(app: App) -> None:
    for _ in range(4):
        send.deliver_due(app)
        app.clock.advance(dt.timedelta(hours=1))


def test_a_recipient_refused_for_now_until_the_end_is_reported(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink
) -> None:
    extra = {"MAILBOT_SMTP_MAX_ATTEMPTS": "2"}
    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW, extra=extra)
    grey = "cc-person@cert1.example.net"
    smtp_sink.reject("RCPT", 451, "4.7.1 Greylisted", [grey])
    _queue_to(app, "reporter1@cert1.example.net", grey)
    _hours_of_retries(app)
    (state, _, recipients) = _rows(app)[1]
    assert (state, recipients) == ("failed", [grey])
    data = _status(app)
    assert any("failed for good" in w for w in data["warnings"])
    app.close()


def test_a_recipient_refused_for_good_at_rcpt_is_marked_like_a_bounce(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink
) -> None:
    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW)
    dead = "cc-person@cert1.example.net"
    smtp_sink.reject("RCPT", 550, "5.1.1 User unknown", [dead])
    _queue_to(app, "reporter1@cert1.example.net", dead)
    assert send.deliver_due(app).sent == 2  # the mail, and the duty's notice
    assert smtp_sink.messages[1].recipients == ("reporter1@cert1.example.net",)
    notice = smtp_sink.messages[2]
    assert notice.recipients == ("duty@csirt.example.org",)
    assert dead in notice.headline
    with app.db.transaction() as session:
        row = session.get(ContactFailure, dead)
        assert row is not None and row.permanent
        assert row.status == "5.1.1"
    data = _status(app)
    assert data["bouncing_contacts"] == [dead]
    assert any(dead in w for w in data["warnings"])
    app.close()


def test_a_full_mailbox_spends_the_attempts_of_its_mail_alone(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink
) -> None:
    extra = {"MAILBOT_SMTP_MAX_ATTEMPTS": "3"}
    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW, extra=extra)
    # The only mail of its batches: 4.2.2 says the mailbox, not the relay.
    smtp_sink.reject("RCPT", 452, "4.2.2 Mailbox full")
    _queue(app, 1)
    _hours_of_retries(app)
    assert [(s, a) for s, a, _ in _rows(app)] == [("failed", 3)]
    assert any("failed for good" in w for w in _status(app)["warnings"])
    app.close()


@pytest.mark.parametrize(
    "answer",
    [(554, "5.7.1 Relay access denied"), (550, "5.7.1 Sender address rejected"),
     (550, "Relaying not permitted")],
)  # fmt: skip
def test_a_relay_refusing_every_recipient_marks_no_contact_dead(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink, answer: tuple[int, str]
) -> None:
    """The relay's policy refused mailbot for every recipient: each address
    was recorded as bouncing for good, so no reminder ever reached the site
    again and the duty team heard it "could not be reached" (retester)."""
    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW)
    smtp_sink.reject("RCPT", *answer)
    _queue(app, 1)
    send.deliver_due(app)
    with app.db.transaction() as session:
        assert session.scalars(select(ContactFailure)).all() == []
    assert [state for state, _, _ in _rows(app)] == ["pending"]
    smtp_sink.accept()  # the relay is fixed
    app.clock.set(NOW + dt.timedelta(hours=1))
    assert send.deliver_due(app).sent == 1
    app.close()


def test_a_contact_marked_bouncing_is_cleared_by_the_operator(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink
) -> None:
    """Once marked as failing for good, an address stayed marked for ever:
    reminders skipped it and `status` warned of it after the site had
    fixed its mailbox (opsfix7)."""
    from opsenv import cli_env, run_cli

    from mailbot import views
    from mailbot.deadlines.chase import bouncing

    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW)
    dead = "cc-person@cert1.example.net"
    smtp_sink.reject("RCPT", 550, "5.1.1 User unknown", [dead])
    _queue_to(app, "reporter1@cert1.example.net", dead)
    assert send.deliver_due(app).sent == 2  # the mail, and the duty's notice
    notice = smtp_sink.messages[2]
    text = notice.message.get_payload(decode=True).decode()
    assert f"mailbot bounces clear {dead}" in text
    env, now = cli_env(app), NOW.isoformat()
    listed = run_cli(env, "--now", now, "bounces")
    assert listed.returncode == 0
    header, line = listed.stdout.splitlines()
    assert header.split() == ["ADDRESS", "STATUS", "FAILED", "SINCE", "DIAGNOSTIC"]
    assert line.startswith(f"{dead}  5.1.1")
    # Only a marked address: all or nothing, the error names it.
    done = run_cli(env, "--now", now, "bounces", "clear", dead, "x@y.example")
    assert done.returncode == 1 and "not marked as bouncing: x@y.example" in (
        done.stderr
    )
    assert _status(app)["bouncing_contacts"] == [dead]
    done = run_cli(
        env, "--now", now, "bounces", "clear", dead.upper(),
        "--reason", "mailbox restored",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = _status(app)
    assert data["bouncing_contacts"] == []
    assert not any(dead in w for w in data["warnings"])
    with app.db.transaction() as session:
        assert dead not in bouncing(session)
    assert "no address is marked" in run_cli(env, "bounces").stdout
    with app.db.transaction() as session:
        tag = session.scalars(select(Incident.tag)).one()
    shown = views.show(app, tag)
    assert shown is not None
    [entry] = [a for a in shown["audit"] if a["action"] == "bounce_cleared"]
    assert entry["actor"].startswith("operator ")
    assert "mailbox restored" in entry["detail"]
    # Refused for good again: marked again, and the duty team told again.
    with app.db.transaction() as session:
        incident = session.scalars(select(Incident)).one()
        outgoing = compose.compose(
            sender="abuse@csirt.example.org", to=[dead],
            subject=f"[{incident.tag}] Scans", body="Please check.\n",
            tlp_label="AMBER", message_id="<again@csirt.example.org>",
            date=app.clock.now(),
        )  # fmt: skip
        outbox.queue(
            session, outgoing, purpose="reply", incident_id=incident.id,
            now=app.clock.now(),
        )  # fmt: skip
    send.deliver_due(app)
    assert _status(app)["bouncing_contacts"] == [dead]
    notices = [
        m for m in smtp_sink.messages if m.recipients == ("duty@csirt.example.org",)
    ]
    assert len(notices) == 2
    app.close()


def test_a_relay_refusing_every_mail_at_data_keeps_them_queued(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink, caplog
) -> None:  # type: ignore[no-untyped-def]
    """A relay answering 554 at the end of DATA to every mail (a blocked
    sender, a quota) failed each mail for good, one after another (opsfix7)."""
    caplog.set_level(logging.INFO)
    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW)
    smtp_sink.reject("DATA", 554, "5.7.1 Service unavailable; client host blocked")
    _queue(app, 1, 2, 3)
    counts = send.deliver_due(app)
    assert (counts.sent, counts.failed) == (0, 0)
    # An hour of passes, one mail at a time too: nothing fails, no attempt.
    for n in (4, 5):
        app.clock.advance(dt.timedelta(minutes=30))
        _queue(app, n)
        send.deliver_due(app)
    assert [(s, a) for s, a, _ in _rows(app)] == [("pending", 0)] * 5
    assert len(smtp_sink.rejected) >= 5
    outage = [r for r in caplog.records if "SMTP server not taking mail" in r.message]
    assert len(outage) == 1 and "5.7.1 Service unavailable" in outage[0].message
    data = _status(app)
    assert not data["healthy"]
    [problem] = [p for p in data["problems"] if "refuses every mail" in p]
    assert "554 5.7.1" in problem and "mailbot outbox drop" in problem
    # The relay is fixed: every mail leaves, status is healthy again.
    smtp_sink.accept()
    app.clock.advance(OUTAGE_WAIT_MAX)
    assert send.deliver_due(app).sent == 5
    assert not any("refuses every mail" in p for p in _status(app)["problems"])
    app.close()


def test_mails_refused_at_data_one_at_a_time_alike_are_the_relays(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink
) -> None:
    """A lone mail refused for good at DATA fails (BR-37); the next one
    refused with the same answer, the server having taken none since, shows
    the relay refusing everything: both wait, the first queued again."""
    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW)
    smtp_sink.reject("DATA", 554, "5.7.1 [q1] client host blocked")
    _queue(app, 1)
    assert send.deliver_due(app).failed == 1
    assert _rows(app)[0][0] == "failed"
    app.clock.advance(dt.timedelta(hours=2))
    smtp_sink.reject("DATA", 554, "5.7.1 [q2] client host blocked")
    _queue(app, 2)
    assert send.deliver_due(app).failed == 0
    assert [(s, a) for s, a, _ in _rows(app)] == [("pending", 0)] * 2
    assert any("refuses every mail" in p for p in _status(app)["problems"])
    smtp_sink.accept()
    app.clock.advance(OUTAGE_WAIT_MAX)
    assert send.deliver_due(app).sent == 2
    # Taken again: a later lone refusal is that mail's own once more.
    smtp_sink.reject("DATA", 554, "5.7.1 [q3] client host blocked")
    _queue(app, 3)
    assert send.deliver_due(app).failed == 1
    app.close()


@pytest.mark.parametrize("refused_first", [True, False])
def test_a_mail_refused_at_data_while_others_go_fails_for_good(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink, refused_first: bool
) -> None:
    """The server judges each mail: the one it refuses is refused for good."""
    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW)
    smtp_sink.reject(
        "DATA", 554, "5.6.0 Content rejected", ["reporter1@cert1.example.net"]
    )
    _queue(app, *((1, 2) if refused_first else (2, 1)))
    counts = send.deliver_due(app)
    assert (counts.sent, counts.failed) == (1, 1)
    states = {tuple(r): s for s, _, r in _rows(app)}
    assert states[("reporter1@cert1.example.net",)] == "failed"
    assert states[("reporter2@cert2.example.net",)] == "sent"
    data = _status(app)
    assert not any("refuses every mail" in p for p in data["problems"])
    assert any("failed for good" in w for w in data["warnings"])
    app.close()


def test_refusals_at_data_are_compared_without_what_differs_per_mail() -> None:
    from mailbot.send.batch import refusal_kind

    # One relay's answer to every mail, with a queue id or score of its own.
    assert refusal_kind("end of DATA: 554 5.7.1 [id 17] blocked") == refusal_kind(
        "end of DATA: 554 5.7.1 [id 18] blocked"
    )
    assert refusal_kind("end of DATA: 554 rejected (score 9)") == refusal_kind(
        "end of DATA: 554 rejected (score 12)"
    )
    assert refusal_kind("end of DATA: 552 5.3.4 too big") != refusal_kind(
        "end of DATA: 554 5.6.0 content rejected"
    )


def test_a_mail_refused_for_all_keeps_its_recipients_for_a_retry(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink
) -> None:
    """Every recipient refused for good at RCPT: the row lost them all, its
    error named the refusals twice, and `outbox retry` refused it for good
    even after `bounces clear` (brk11 F8)."""
    from mailbot import bounces
    from mailbot.errors import MailbotError
    from mailbot.outbox_admin import settle

    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW)
    dead = "reporter1@cert1.example.net"
    smtp_sink.reject("RCPT", 550, "5.1.1 User unknown")
    _queue(app, 1)
    send.deliver_due(app)
    # The acknowledgement, and the duty team's notice (refused alike).
    (state, _, recipients) = _rows(app)[0]
    assert (state, recipients) == ("failed", [dead])
    with app.db.transaction() as session:
        row_id, error = session.execute(
            select(Outbox.id, Outbox.last_error).order_by(Outbox.id)
        ).first()  # type: ignore[misc]
    assert error.count("5.1.1 User unknown") == 1, error
    with pytest.raises(MailbotError, match="bounces clear ADDRESS"):
        settle(app, row_id, "retry")
    smtp_sink.accept()  # the mailbox works again
    assert bounces.clear(app, [dead]) == [dead]
    assert settle(app, row_id, "retry") == "pending"
    assert send.deliver_due(app).sent == 1
    assert smtp_sink.messages[-1].recipients == (dead,)
    app.close()


@pytest.mark.parametrize(
    ("own", "setting"),
    [("duty@csirt.example.org", "[csirt] duty_address"),
     ("alice@csirt.example.org", "[csirt] members")],
)  # fmt: skip
def test_mailbots_own_address_refused_is_no_sites_contact(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink, caplog, own, setting
) -> None:  # type: ignore[no-untyped-def]
    """The duty address refused at RCPT was listed as a bouncing contact,
    with "correct the sites file" (it is in the configuration)."""
    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW)
    smtp_sink.reject("RCPT", 550, "5.1.1 User unknown", [own])
    with caplog.at_level(logging.WARNING, logger="mailbot.bounces"):
        _queue_to(app, own)
        send.deliver_due(app)
    data = _status(app)
    assert data["bouncing_contacts"] == []
    assert data["own_addresses_refused"] == [f"{own} ({setting})"]
    [warning] = [w for w in data["warnings"] if own in w]
    assert "sites file" not in warning and "configuration" in warning
    [line] = [r.getMessage() for r in caplog.records if "marked like" in r.getMessage()]
    assert "sites file" not in line and setting in line
    # The duty team is told of a member's address (not of its own), and
    # that what to correct is the configuration.
    notices = [m for m in smtp_sink.messages if own in m.headline]
    if own.startswith("duty"):
        assert notices == []
    else:
        [notice] = notices
        text = notice.message.get_payload(decode=True).decode()
        assert "sites file" not in text and f"mailbot's own ({setting})" in text
    app.close()


@pytest.mark.parametrize(
    ("stage", "answer", "said"),
    [("RCPT", "5.7.1 Relay access denied", "relay refuses every recipient"),
     ("MAIL", "5.7.1 Sender address rejected", "relay refuses mailbot's sender")],
)  # fmt: skip
def test_a_relay_refusing_mailbot_makes_status_unhealthy_at_once(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink, stage, answer, said
) -> None:  # type: ignore[no-untyped-def]
    """README: status flags the relay refusing every mail with one permanent
    answer at once; refused at RCPT for its policy, status said nothing
    until the outbox was stuck half an hour later (brk11 F20)."""
    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW)
    smtp_sink.reject(stage, 554, answer)
    _queue(app, 1)
    send.deliver_due(app)
    assert [state for state, _, _ in _rows(app)] == ["pending"]
    data = _status(app)
    assert not data["healthy"]
    assert answer in data["smtp_refuses_every_mail"]["problem"]
    assert any(said in p for p in data["problems"])
    smtp_sink.accept()
    app.clock.set(NOW + dt.timedelta(hours=1))
    assert send.deliver_due(app).sent == 1
    data = _status(app)
    assert data["smtp_refuses_every_mail"] is None and data["healthy"]
    app.close()
