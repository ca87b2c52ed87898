"""No robot gets an answer, and no robot meets a deadline.

Each kind of automatic mail is fed twice through the real pipeline: once
opening nothing (no tag, no reference), once in the thread of an incident
whose analysis clock is pending, written from the site's own contact. Either
way nothing is queued for sending and the clock stays pending. Then the
caps and the brake that stop whatever slips through.
"""

from __future__ import annotations

import datetime as dt
import mailbox
from pathlib import Path

import mailbot_env
import pytest
from mailbot_env import mail

from mailbot import brake, respond, send, service, views
from mailbot.app import App
from mailbot.classify import classify
from mailbot.db.models import Deadline, Mail, Outbox
from mailbot.deadlines import clocks
from mailbot.incidents import by_tag
from mailbot.mail import RawMail
from mailbot.out_of_office import is_out_of_office_subject
from mailbot.parse import parse
from mailbot.process import process_delivery
from mailbot.robot_address import is_robot_address

UTC = dt.UTC
make_app = mailbot_env.make_app


NOW = dt.datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
TAG = "EGI-20261204-01"
SITE = "admin@site-a.example.com"

AUTO_HEADERS = [
    {"Auto-Submitted": "auto-replied"},
    {"Auto-Submitted": "auto-generated"},
    {"Auto-Submitted": "auto-notified; owner-email=x@example.org"},
    {"X-Autoreply": "yes"},
    {"X-Autorespond": "vacation"},
    {"Precedence": "bulk"},
    {"Precedence": "junk"},
    {"Precedence": "list"},
    {"X-Auto-Response-Suppress": "All"},
    {"List-Id": "<security.lists.example.org>"},
    {"Return-Path": "<>"},
]
OOO_SUBJECTS = [
    "Out of Office: Security incident",
    "Automatic reply: [EGI-20261204-01] action required",
    "Abwesenheitsnotiz: Ihre Nachricht",
    "Automatische Antwort: Sicherheitsvorfall",
    "Réponse automatique : incident",
    "Absent du bureau",
    "Automatisch antwoord: incident",
    "Afwezigheidsbericht",
    "Respuesta automática: incidente",
    "Fuera de la oficina",
    "Risposta automatica: incidente",
    "Fuori ufficio",
    "Resposta automática: incidente",
    "Odpowiedź automatyczna: incydent",
    "Automatická odpověď: incident",
    "Automatiskt svar: incident",
    "Autosvar: hendelse",
    "Automaattinen vastaus: tapaus",
    "Αυτόματη απάντηση: περιστατικό",
    "Automatikus válasz: incidens",
    "Răspuns automat: incident",
    "Jane Doe is out of the office",
]
ROBOT_SENDERS = [
    "MAILER-DAEMON@site-a.example.com",
    "Mail Delivery System <mailer-daemon@mx.site-a.example.com>",
    "postmaster@site-a.example.com",
    "noreply@site-a.example.com",
    "no-reply@site-a.example.com",
    "No_Reply@site-a.example.com",
    "donotreply@site-a.example.com",
    "do-not-reply@site-a.example.com",
    "DoNotReply.Alerts@site-a.example.com",
    "bounce@site-a.example.com",
    "bounces+abc=example.org@site-a.example.com",
    "noreply-tickets@site-a.example.com",
]
HUMANS = [
    "admin@site-a.example.com",
    "knoreplyer@site-a.example.com",
    "bouncer.jo@x.org",
]


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> App:
    return make_app(tmp_path, database_url, now=NOW)


def _feed(app: App, raw: bytes, origin: str = "test") -> str:
    outcome = process_delivery(app, RawMail(raw, app.clock.now(), origin))
    assert outcome.result in ("processed", "duplicate"), outcome.reason
    return outcome.result


def _incident_with_pending_clock(app: App) -> None:
    report = mail(
        subject="Security incident suspected at SITE-A",
        sender=SITE,
        message_id="<report@site-a.example.com>",
        date="Fri, 04 Dec 2026 09:55:00 +0000",
        body="A miner on wn12.site-a.example.com, discovered 09:10 UTC.\n",
    )
    _feed(app, report)
    with app.db.transaction() as session:
        incident = by_tag(session, TAG)
        assert incident is not None
        clocks.start(app, session, incident, "request", "SITE-A", NOW, None)


def _outbox_count(app: App) -> int:
    with app.db.transaction() as session:
        return session.query(Outbox).count()


def _analysis_states(app: App) -> list[str | None]:
    with app.db.transaction() as session:
        rows = session.query(Deadline).filter_by(rule="analysis").all()
        return [(d.state, d.met_at) for d in rows]


def _robot_cases() -> list[tuple[str, dict[str, str], str]]:
    cases = [(SITE, h, "Re: [EGI-20261204-01] details") for h in AUTO_HEADERS]
    cases += [(SITE, {}, subject) for subject in OOO_SUBJECTS]
    cases += [(s, {}, "Re: [EGI-20261204-01] details") for s in ROBOT_SENDERS]
    return cases


@pytest.mark.parametrize(("sender", "headers", "subject"), _robot_cases())
def test_robot_mail_is_classified_as_robot(sender, headers, subject) -> None:  # type: ignore[no-untyped-def]
    raw = mail(subject=subject, sender=sender, message_id="<r@x.org>", headers=headers)
    parsed = parse(raw)
    assert parsed.message is not None
    assert classify(parsed.message).kind in ("auto_reply", "bounce")


@pytest.mark.parametrize("sender", HUMANS)
def test_people_are_not_robots(sender: str) -> None:
    raw = mail(
        subject="Re: [EGI-20261204-01] details", sender=sender, message_id="<h@x.org>"
    )
    assert classify(parse(raw).message).kind == "human"  # type: ignore[arg-type]
    assert not is_out_of_office_subject("Logins out of office hours from 203.0.113.5")


def test_robot_local_parts_of_interface(tmp_path: Path) -> None:
    for local in (
        "noreply",
        "no-reply",
        "donotreply",
        "do-not-reply",
        "bounce",
        "bounces",
        "mailer-daemon",
        "postmaster",
        "NOREPLY",
        "no.reply",
        "bounces-123",
        "postmaster+x",
        "reply.no.reply",
        "autoreports",
        "auto-reply",
    ):
        assert is_robot_address(f"{local}@example.org"), local
    assert not is_robot_address("replyto@example.org")


def test_robots_in_a_thread_get_nothing_and_meet_nothing(app: App) -> None:
    _incident_with_pending_clock(app)
    queued = _outbox_count(app)
    assert _analysis_states(app) == [("pending", None)]
    for number, (sender, headers, subject) in enumerate(_robot_cases()):
        raw = mail(
            subject=subject,
            sender=sender,
            headers=headers,
            message_id=f"<robot-{number}@site-a.example.com>",
            date="Fri, 04 Dec 2026 10:30:00 +0000",
            body=f"I am away. Host isolated.\nIn-thread robot {number}\n",
        )
        _feed(app, raw)
    assert _outbox_count(app) == queued
    assert _analysis_states(app) == [("pending", None)]
    roles = {m["role"] for m in views.show(app, TAG)["messages"][1:]}
    assert roles <= {"auto_reply", "bounce", "mailbot"}
    # A person's reply then meets the clock: the robots only did not.
    _feed(
        app,
        mail(
            subject="Re: [EGI-20261204-01] details",
            sender=SITE,
            message_id="<human@site-a.example.com>",
            date="Fri, 04 Dec 2026 10:40:00 +0000",
            body="Isolated.\n",
        ),
    )
    assert _analysis_states(app)[0][0] == "met"


def test_robots_outside_any_thread_open_nothing(app: App) -> None:
    for number, (sender, headers, subject) in enumerate(_robot_cases()):
        subject = subject.replace("[EGI-20261204-01]", "")
        raw = mail(
            subject=subject,
            sender=sender,
            headers=headers,
            message_id=f"<stray-{number}@x.org>",
            body=f"stray {number}\n",
        )
        _feed(app, raw)
    assert views.incident_list(app) == []
    assert _outbox_count(app) == 0
    status = views.status(app, None)
    assert status["unattached"] == len(_robot_cases()) == status["mails"]


def test_own_mail_coming_back_is_never_answered(app: App) -> None:
    _feed(
        app,
        mail(
            subject="Compromised host 192.0.2.45",
            sender="reporter@cert.example.net",
            message_id="<r1@cert.example.net>",
        ),
    )
    with app.db.transaction() as session:
        ack = session.query(Mail).filter_by(direction="out").one()
        raw, message_id = ack.raw, ack.message_id
    queued = _outbox_count(app)
    # Byte for byte (a list expanding to abuse@ itself): recognised as stored.
    assert _feed(app, raw, "looped") == "duplicate"
    # Changed on the way (a list footer): ours by its Message-ID.
    _feed(app, raw + b"\r\n-- \r\nsecurity list footer\r\n", "looped-footer")
    # Through a list that rewrites From (DMARC): ours by its Message-ID alone.
    munged = raw.replace(
        b"From: abuse@csirt.example.org",
        b"From: Security list <list@lists.example.net>",
    )
    assert munged != raw
    _feed(app, munged + b"\r\n-- \r\nvia the list\r\n", "looped-munged")
    # From our own address, with a new Message-ID and no tag: not a report.
    _feed(
        app,
        mail(
            subject="Hello",
            sender="abuse@csirt.example.org",
            message_id="<forged@x.org>",
        ),
    )
    _feed(
        app,
        mail(
            subject="Hello",
            sender="Abuse <csirt@csirt.example.org>",
            message_id="<alias@x.org>",
        ),
    )
    assert _outbox_count(app) == queued
    with app.db.transaction() as session:
        roles = [
            m.role
            for m in session.query(Mail).filter(
                Mail.message_id.in_([message_id, "<forged@x.org>", "<alias@x.org>"]),
                Mail.direction == "in",
            )
        ]
    assert roles == ["mailbot", "mailbot", "mailbot", "mailbot"]
    assert len(views.incident_list(app)) == 1


def _report(number: int, sender: str | None = None) -> bytes:
    return mail(
        subject=f"Scanning from 203.0.113.{number}",
        sender=sender or f"reporter{number}@cert{number}.example.net",
        message_id=f"<scan-{number}@cert.example.net>",
        body=f"Scans from 203.0.113.{number}.\n",
    )


def _states(app: App) -> list[str]:
    with app.db.transaction() as session:
        return [r.state for r in session.query(Outbox).order_by(Outbox.id)]


def test_cap_per_recipient_holds_the_extra_mail(
    tmp_path: Path, database_url: str
) -> None:
    app = make_app(
        tmp_path,
        database_url,
        now=NOW,
        extra={"MAILBOT_BRAKE_MAX_PER_RECIPIENT_PER_DAY": "2"},
    )
    for number in range(3):
        _feed(app, _report(number, sender="chatty@cert.example.net"))
    assert _states(app) == ["pending", "pending", "held"]
    held = brake.state(app)["held"]
    assert "brake.max_per_recipient_per_day" in held[0]["reason"]  # type: ignore[index]
    # A day later the window has moved on: the next mail goes.
    app.clock.advance(dt.timedelta(days=1, minutes=1))
    _feed(app, _report(9, sender="chatty@cert.example.net"))
    assert _states(app)[-1] == "pending"


def test_cap_per_incident_holds_the_extra_mail(
    tmp_path: Path, database_url: str
) -> None:
    app = make_app(
        tmp_path,
        database_url,
        now=NOW,
        extra={"MAILBOT_BRAKE_MAX_PER_INCIDENT_PER_DAY": "2"},
    )
    _feed(app, _report(1))
    with app.db.transaction() as session:
        incident = by_tag(session, TAG)
        for n in range(2):
            respond.send_in_thread(
                app,
                session,
                incident,
                None,
                [f"p{n}@site-a.example.com"],
                "More",
                "Text\n",
                "notification",
            )
    assert _states(app) == ["pending", "pending", "held"]


def test_brake_stops_automatic_mail_and_alerts_once(
    tmp_path: Path, database_url: str
) -> None:
    app = make_app(
        tmp_path, database_url, now=NOW, extra={"MAILBOT_BRAKE_MAX_PER_HOUR": "3"}
    )
    for number in range(6):
        _feed(app, _report(number))
    with app.db.transaction() as session:
        rows = [
            (r.state, r.purpose, r.recipients)
            for r in session.query(Outbox).order_by(Outbox.id)
        ]
    acks = [r for r in rows if r[1] == "acknowledgement"]
    alerts = [r for r in rows if r[1] == "alert-brake"]
    assert [r[0] for r in acks] == ["pending"] * 3 + ["held"] * 3
    assert alerts == [("pending", "alert-brake", ["duty@csirt.example.org"])]
    status = views.status(app, None)
    assert status["outbox_held"] == 3 and not status["healthy"]
    assert brake.state(app)["engaged_at"] is not None
    send.deliver_due(app)
    sent = mailbox.Maildir(tmp_path / "sent", create=False)
    assert len(sent) == 4  # three acknowledgements and the one alert
    assert sum(b"brake engaged" in sent.get_bytes(k) for k in sent.iterkeys()) == 1
    # The operator looks, then lets the held mail go.
    assert brake.release(app) == (3, 0)
    send.deliver_due(app)
    assert len(sent) == 7
    assert brake.state(app) == {"engaged_at": None, "held": []}
    _feed(app, _report(7))
    assert _states(app)[-1] == "pending"


def test_brake_command_lists_and_releases(tmp_path: Path, database_url: str) -> None:
    import subprocess
    import sys

    app = make_app(
        tmp_path, database_url, now=NOW, extra={"MAILBOT_BRAKE_MAX_PER_HOUR": "1"}
    )
    for number in range(3):
        _feed(app, _report(number))
    app.close()
    config = tmp_path / "mailbot.toml"
    config.write_text(
        f'[mailbot]\naddress = "abuse@csirt.example.org"\n'
        f'[database]\nurl = "{database_url}"\n'
        f'[source]\nkind = "maildir"\n[maildir]\npath = "{tmp_path / "inbox"}"\n'
        f'[smtp]\nkind = "maildir"\npath = "{tmp_path / "sent"}"\n'
        f'[sites]\nfile = "{tmp_path / "sites.toml"}"\n',
        encoding="utf-8",
    )
    run = lambda *a: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "mailbot", "--config", str(config), *a],
        capture_output=True,
        text=True,
        timeout=60,
    )
    shown = run("brake")
    assert shown.returncode == 0, shown.stderr
    assert "brake engaged since" in shown.stdout and "acknowledgement" in shown.stdout
    # The held mails have a header, as `outbox` and `incidents` have.
    header, first = shown.stdout.splitlines()[1:3]
    assert header.split() == ["ID", "PURPOSE", "TO:", "REASON", "HELD"]
    assert first.index("acknowledgement") == header.index("PURPOSE")
    released = run("brake", "release")
    assert "released 2 held mail(s)" in released.stdout, released.stderr
    assert service.get_state(make_app(tmp_path, database_url), brake.ENGAGED_KEY) == ""


# What Request Tracker puts on every mail it sends, what a person types into
# it included (sites' and NRENs' security teams often answer through it).
RT_HEADERS = {
    "Precedence": "bulk",
    "RT-Ticket": "site-a.example.com #9001",
    "X-RT-Loop-Prevention": "site-a.example.com",
    "RT-Originator": "bob@site-a.example.com",
}


def test_a_site_s_mail_through_a_ticket_system_is_the_site_s(app: App) -> None:
    # "Precedence: bulk" made it a robot's: the report opened no incident
    # (kept unattached, unsaid), and an answer met no clock, so the site
    # that had answered was chased up to its NGI and the duty team.
    _feed(
        app,
        mail(
            subject="[site-a.example.com #9001] Security incident at SITE-A",
            sender=SITE,
            headers=RT_HEADERS,
            message_id="<rt-report@site-a.example.com>",
            date="Fri, 04 Dec 2026 09:55:00 +0000",
            body="A miner on wn12.site-a.example.com, discovered 09:10 UTC.\n",
        ),
    )
    [incident] = views.incident_list(app)
    assert incident["tag"] == TAG and incident["site"] == "SITE-A"
    # Not answered: it asks for no automatic answer (RFC 3834).
    assert _outbox_count(app) == 0
    with app.db.transaction() as session:
        found = by_tag(session, TAG)
        assert found is not None
        clocks.start(app, session, found, "request", "SITE-A", NOW, None)
    _feed(
        app,
        mail(
            subject=f"Re: [{TAG}] [site-a.example.com #9001] details",
            sender=SITE,
            headers=RT_HEADERS,
            message_id="<rt-answer@site-a.example.com>",
            date="Fri, 04 Dec 2026 10:30:00 +0000",
            body="The host is isolated; the analysis follows.\n",
        ),
    )
    assert _analysis_states(app)[0][0] == "met"
    roles = [(m["role"], m["flags"]) for m in views.show(app, TAG)["messages"]]
    assert roles[0] == ("site", ["no_auto_answer"])


@pytest.mark.parametrize(
    ("sender", "more", "subject"),
    [
        # Not a contact's: anyone can send such headers.
        ("someone@elsewhere.example.net", {}, "Security incident at SITE-A"),
        # The ticket system's own receipt.
        (SITE, {}, "AutoReply: Security incident at SITE-A"),
        # A list's copy, and a robot's address, through a ticket system.
        (SITE, {"List-Id": "<sec.lists.example.org>"}, "Security incident"),
        ("noreply@site-a.example.com", {}, "Security incident at SITE-A"),
        # RT's receipt of our own mail, in the site's own words: RT names
        # mailbot, a member or the duty address as whose mail it answers.
        (SITE, {"RT-Originator": "abuse@csirt.example.org"}, "Security incident"),
        (SITE, {"RT-Originator": "Alice <alice@csirt.example.org>"}, "Your request"),
        (SITE, {"RT-Originator": "duty@csirt.example.org"}, "Security incident"),
        # Whose words RT passes on is not said.
        (SITE, {"RT-Originator": ""}, "Security incident at SITE-A"),
    ],
)
def test_a_ticket_system_s_robots_open_nothing(
    app: App, sender: str, more: dict[str, str], subject: str
) -> None:
    _feed(
        app,
        mail(
            subject=subject,
            sender=sender,
            headers={**RT_HEADERS, **more},
            message_id="<rt-robot@site-a.example.com>",
            body="This message has been automatically generated.\n",
        ),
    )
    assert views.incident_list(app) == []
    assert _outbox_count(app) == 0


def test_a_ticket_system_s_receipt_of_a_request_meets_nothing(app: App) -> None:
    # "We have registered your request under ticket 9010": the site's own
    # wording of RT's receipt, answering a member's request, met the
    # analysis clock the request started (retester).
    _incident_with_pending_clock(app)
    _feed(
        app,
        mail(
            subject=f"[site-a.example.com #9010] Re: [{TAG}] details",
            sender=SITE,
            headers={**RT_HEADERS, "RT-Originator": "alice@csirt.example.org"},
            message_id="<rt-receipt@site-a.example.com>",
            date="Fri, 04 Dec 2026 10:01:00 +0000",
            body=(
                "Thank you for contacting the SITE-A CERT. We have registered"
                " your request under ticket 9010 and will get back to you.\n"
            ),
        ),
    )
    assert _analysis_states(app) == [("pending", None)]
    assert views.show(app, TAG)["messages"][-1]["role"] == "auto_reply"
