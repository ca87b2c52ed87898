"""The handed cases of ../shared/cases, each as a test of its kind of fault.

The state the cases assume (cases/README.md) is built by running it through
mailbot: the reporter's mail opens EGI-20261204-01 and is acknowledged (.1),
mailbot notifies the site (.2) and a request clock starts, the sweep sends
the reminder (.3). mailbot's real Message-IDs then replace the cases'
`<mb.EGI-20261204-01.N@csirt.example.org>` before a case is fed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mailbot_env import mail, make_app

from mailbot import respond, service, views
from mailbot.app import App
from mailbot.db.models import ContactFailure, Mail
from mailbot.deadlines import clocks
from mailbot.deadlines.sweep import sweep
from mailbot.fetch.files import header_date
from mailbot.incidents import by_tag
from mailbot.mail import RawMail
from mailbot.process import process_delivery
from mailbot.send import deliver_due

UTC = dt.UTC
TAG = "EGI-20261204-01"
REPORT = mail(
    subject="Compromised host 192.0.2.45",
    sender="reporter@cert.example.net",
    message_id="<cert-report-1@cert.example.net>",
    date="Fri, 04 Dec 2026 08:40:00 +0000",
    body="Host wn12.site-a.example.com (192.0.2.45) is sending spam since 07:00 UTC.\n",
)


@dataclass
class State:
    app: App
    ids: dict[int, str]
    sent: Path


def _at(app: App, when: str) -> None:
    app.clock.set(dt.datetime.fromisoformat(when).replace(tzinfo=UTC))


def _feed(app: App, raw: bytes, origin: str = "test") -> str | None:
    arrived = header_date(raw) or app.clock.now()
    outcome = process_delivery(app, RawMail(raw, arrived, origin))
    assert outcome.result != "quarantined", outcome.reason
    return outcome.incident


@pytest.fixture
def state(tmp_path: Path, database_url: str) -> Iterator[State]:
    app = make_app(
        tmp_path, database_url, now=dt.datetime(2026, 12, 4, 8, 40, tzinfo=UTC)
    )
    assert _feed(app, REPORT) == TAG
    _at(app, "2026-12-04T09:00:00")
    with app.db.transaction() as session:
        incident = by_tag(session, TAG)
        assert incident is not None and incident.site == "SITE-A"
        respond.send_in_thread(
            app,
            session,
            incident,
            None,
            ["admin@site-a.example.com", "admin-old@site-a.example.com"],
            "Compromised host 192.0.2.45 - action required",
            "Please isolate the host and report.\n",
            "notification",
        )
        notification = (
            session.query(Mail)
            .filter_by(direction="out")
            .order_by(Mail.id.desc())
            .first()
        )
        clocks.start(
            app,
            session,
            incident,
            "request",
            "SITE-A",
            app.clock.now(),
            notification.id,
        )
    # SITE-A works in Europe/Helsinki: 11:00-15:00 local is 09:00-13:00 UTC.
    _at(app, "2026-12-04T13:00:00")
    assert sweep(app)["reminders"] == 1
    deliver_due(app)
    with app.db.transaction() as session:
        ids = [
            m
            for (m,) in session.query(Mail.message_id)
            .filter_by(direction="out")
            .order_by(Mail.id)
        ]
    assert len(ids) == 3
    yield State(app, dict(enumerate(ids, start=1)), tmp_path / "sent")
    # Pooled connections left open would be reported when collected.
    app.close()


def _case(cases_dir: Path, name: str, state: State) -> bytes:
    raw = (cases_dir / name).read_bytes()
    for number, message_id in state.ids.items():
        raw = raw.replace(
            f"<mb.{TAG}.{number}@csirt.example.org>".encode(), message_id.encode()
        )
    return raw


def _messages(app: App) -> dict[str, dict]:
    shown = views.show(app, TAG)
    assert shown is not None
    return {m["message_id"]: m for m in shown["messages"]}


def test_br01_prefix_stack_threads_by_tag(cases_dir: Path, state: State) -> None:
    _at(state.app, "2026-12-04T13:05:11")
    assert _feed(state.app, _case(cases_dir, "BR-01.eml", state)) == TAG
    mail_ = _messages(state.app)[
        "<AM0PR07MB5511C3E1A2F0@AM0PR07MB5511.eurprd07.site-a.example.com>"
    ]
    assert (mail_["thread_reason"], mail_["role"]) == ("tag", "site")
    assert len(views.incident_list(state.app)) == 1


def test_br01_passing_the_mail_on_is_not_who_detected(
    cases_dir: Path, state: State
) -> None:
    _at(state.app, "2026-12-04T13:05:11")
    _feed(state.app, _case(cases_dir, "BR-01.eml", state))
    shown = views.show(state.app, TAG)
    assert shown is not None
    # "Pekka forwarded your mail to me, I am handling it now": how the mail
    # went round the site, not how the incident was detected.
    assert "detected_by" in shown["missing"], shown["fields"]["detected_by"]
    assert any("disconnected" in v for v in shown["fields"]["actions_taken"])


def test_br07_exchange_message_id_threads_by_reference(
    cases_dir: Path, state: State
) -> None:
    _at(state.app, "2026-12-04T15:41:07")
    assert _feed(state.app, _case(cases_dir, "BR-07.eml", state)) == TAG
    verbatim = "<[5e0b9c1d7a3f4e2b8c6d0a1f2e3b4c5d@EXCH02.site-a.example.com]>"
    assert _messages(state.app)[verbatim]["thread_reason"] == "reference"
    # The human reply meets the request: the chase chain stops.
    analysis = [
        d for d in views.show(state.app, TAG)["deadlines"] if d["rule"] == "analysis"
    ]
    assert analysis[0]["met_at"] == "2026-12-04T15:41:05Z"
    _at(state.app, "2026-12-07T12:00:00")
    assert sweep(state.app)["reminders"] == 0
    later = mail(
        subject="Re: follow-up",
        sender="admin@site-a.example.com",
        message_id="<later@site-a.example.com>",
        date="Fri, 04 Dec 2026 16:00:00 +0000",
        headers={"In-Reply-To": verbatim},
    )
    assert _feed(state.app, later) == TAG


def test_br10_encoded_linefeed_never_reaches_a_header(
    cases_dir: Path, state: State
) -> None:
    import email
    import mailbox

    _at(state.app, "2026-12-04T11:15:00")
    tag = _feed(state.app, (cases_dir / "BR-10.eml").read_bytes())
    assert tag is not None and tag != TAG
    shown = views.show(state.app, tag)
    assert shown["messages"][0]["subject"] == (
        "Phishing kit hosted on 203.0.113.80 Bcc: collector@example.com"
    )
    deliver_due(state.app)
    box = mailbox.Maildir(state.sent, create=False)
    raws = [box.get_bytes(k) for k in box.iterkeys()]
    ack = next(r for r in raws if tag.encode() in r)
    head = ack.replace(b"\r\n", b"\n").split(b"\n\n")[0].lower().split(b"\n")
    assert sum(line.startswith(b"subject:") for line in head) == 1
    assert not any(line.startswith(b"bcc:") for line in head)
    message = email.message_from_bytes(ack)
    assert message["Bcc"] is None
    assert message["To"] == "reporter@cert.example.net"
    assert "X-Envelope-To: reporter@cert.example.net" in message.as_string()
    assert not any(b"collector@example.com" in r.split(b"\n")[0] for r in raws)


def test_br13_unknown_charset_and_8bit_header(cases_dir: Path, state: State) -> None:
    _at(state.app, "2026-12-04T07:30:00")
    tag = _feed(state.app, (cases_dir / "BR-13.eml").read_bytes())
    assert tag is not None and tag != TAG
    shown = views.show(state.app, tag)
    assert shown["site"] == "SITE-C"
    assert shown["messages"][0]["state"] == "processed"


def test_br16_bounce_flags_contact_and_answers_nobody(
    cases_dir: Path, state: State
) -> None:
    before = len(state.ids)
    _at(state.app, "2026-12-04T15:20:02")
    assert _feed(state.app, _case(cases_dir, "BR-16.eml", state)) == TAG
    bounce = _messages(state.app)["<20261204152001.7F3A21C04@mx.site-a.example.com>"]
    assert bounce["role"] == "bounce"
    with state.app.db.transaction() as session:
        failure = session.get(ContactFailure, "admin-old@site-a.example.com")
        assert failure is not None and failure.permanent and failure.status == "5.1.1"
        assert session.get(ContactFailure, "admin@site-a.example.com") is None
        outgoing = (
            session.query(Mail).filter_by(direction="out").order_by(Mail.id).all()
        )
    # Nothing answers the bounce; the only new mail tells the CSIRT duty address.
    assert len(outgoing) == before + 1
    assert outgoing[-1].recipients == ["duty@csirt.example.org"]
    # The next level goes to the contact that still works, NGI in copy.
    _at(state.app, "2026-12-07T13:00:00")
    assert sweep(state.app)["reminders"] == 1
    with state.app.db.transaction() as session:
        last = (
            session.query(Mail)
            .filter_by(direction="out")
            .order_by(Mail.id.desc())
            .first()
        )
        assert last.recipients == [
            "admin@site-a.example.com",
            "ngi-sec@ngi-a.example.org",
        ]
    fields = views.show(state.app, TAG)["fields"]
    flat = {v for values in fields.values() for v in values}
    assert "192.0.2.250" not in flat and "198.51.100.23" not in flat


def test_br19_reused_message_id_is_not_a_duplicate(
    cases_dir: Path, state: State
) -> None:
    _at(state.app, "2026-11-27T03:00:00")
    first = _feed(state.app, (cases_dir / "BR-19-pre.eml").read_bytes())
    _at(state.app, "2026-12-04T03:00:00")
    second = _feed(state.app, (cases_dir / "BR-19.eml").read_bytes())
    assert first and second and first != second
    raw = (cases_dir / "BR-19.eml").read_bytes()
    outcome = process_delivery(state.app, RawMail(raw, state.app.clock.now(), "again"))
    assert outcome.result == "duplicate"
    status = views.status(state.app, service.last_poll(state.app))
    assert status["duplicates"] == 1


def test_br11_odd_attachments_are_listed_and_read(
    cases_dir: Path, state: State
) -> None:
    # An RFC 2231 name undecodable as its declared us-ascii, an attachment
    # without a name, an encoded-word inside a quoted parameter: the mail
    # opens its own incident, and `show` lists the three attachments it
    # carries and the values read from them.
    _at(state.app, "2026-12-04T10:20:00")
    tag = _feed(state.app, _case(cases_dir, "BR-11.eml", state))
    assert tag is not None and tag != TAG
    shown = views.show(state.app, tag)
    assert shown is not None
    (message,) = [m for m in shown["messages"] if m["direction"] == "in"]
    listed = [(a["name"], a["content_type"]) for a in message["attachments"]]
    assert len(listed) == 3, listed
    assert "Netzbl" in listed[0][0] and listed[0][0].endswith("cke Liste.csv")
    assert listed[0][1] == "text/csv"
    assert listed[1] == ("attachment-2.bin", "application/octet-stream")
    assert listed[2] == ("Bericht über Vorfall.txt", "text/plain")
    values = {v for values in shown["fields"].values() for v in values}
    assert {
        "192.0.2.5", "198.51.100.17", "203.0.113.10", "2001:db8:4a::25",
        "CVE-2026-31337", "2026-12-04T10:00:00Z", "2026-12-04T10:02:13Z",
        "2026-12-04T10:05:00Z",
    } <= values  # fmt: skip
    from mailbot import summary

    text = summary.summary_text(shown)
    assert "attachment: Bericht über Vorfall.txt (text/plain," in text
