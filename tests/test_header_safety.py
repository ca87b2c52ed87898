"""Hostile headers: nothing of an incoming mail injects a header or a recipient.

Each hostile mail goes through the real pipeline and out through a real
SMTP server; what the server received is then read line by line.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from pathlib import Path

import mailbot_env
import pytest
from sqlalchemy import select

from mailbot import send
from mailbot.app import App
from mailbot.db.models import Mail, Outbox
from mailbot.mail import RawMail
from mailbot.parse import parse
from mailbot.process import process_delivery

make_app = mailbot_env.make_app


NOW = dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)
EVIL = "collector@evil.example"
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _raw(headers: list[str], body: str = "Scans from 203.0.113.50.\n") -> bytes:
    base = [
        "To: abuse@csirt.example.org",
        "Date: Fri, 04 Dec 2026 09:00:00 +0000",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    return ("\r\n".join([*headers, *base, "", body])).encode("utf-8")


HOSTILE = {
    "subject-encoded-crlf": _raw(
        [
            "From: reporter@cert.example.net",
            "Subject: =?utf-8?q?Phish_at_203.0.113.80=0D=0ABcc=3A_"
            "collector=40evil.example?=",
            "Message-ID: <h1@cert.example.net>",
        ]
    ),
    "subject-base64-lf": _raw(
        [
            "From: reporter@cert.example.net",
            "Subject: =?utf-8?b?UGhpc2gKQmNjOiBjb2xsZWN0b3JAZXZpbC5leGFtcGxl?=",
            "Message-ID: <h2@cert.example.net>",
        ]
    ),
    "subject-bare-cr": _raw(
        [
            "From: reporter@cert.example.net",
            "Subject: Phish\rBcc: collector@evil.example\rX-Evil: 1",
            "Message-ID: <h3@cert.example.net>",
        ]
    ),
    "display-name-crlf": _raw(
        [
            "From: =?utf-8?q?Eve=0D=0ABcc=3A_collector=40evil.example?= "
            "<reporter@cert.example.net>",
            "Subject: Scans",
            "Message-ID: <h4@cert.example.net>",
        ]
    ),
    "reply-to-name-crlf": _raw(
        [
            "From: reporter@cert.example.net",
            "Reply-To: =?utf-8?q?x=0ATo=3A_collector=40evil.example?= "
            "<soc@cert.example.net>",
            "Subject: Scans",
            "Message-ID: <h5@cert.example.net>",
        ]
    ),
    "reply-to-list": _raw(
        [
            "From: reporter@cert.example.net",
            "Reply-To: soc@cert.example.net, collector@evil.example",
            "Subject: Scans",
            "Message-ID: <h6@cert.example.net>",
        ]
    ),
    "reply-to-garbage": _raw(
        [
            "From: reporter@cert.example.net",
            'Reply-To: "x\\"<collector@evil.example>" <bad address@cert.example.net>',
            "Subject: Scans",
            "Message-ID: <h7@cert.example.net>",
        ]
    ),
    "message-id-injection": _raw(
        [
            "From: reporter@cert.example.net",
            "Subject: Scans",
            "Message-ID: <h8@cert.example.net>",
            "In-Reply-To: <a@x>\r\n\tBcc: collector@evil.example",
            "References: <b@x> =?utf-8?q?=0D=0ABcc=3A_collector=40evil.example?= <c@x>",
        ]
    ),
    "nul-and-controls": _raw(
        [
            "From: reporter@cert.example.net",
            "Subject: Scans\x00\x1b[31m\x07 from 203.0.113.50",
            "Message-ID: <h9@cert.example.net>",
        ]
    ),
    "long-subject": _raw(
        [
            "From: reporter@cert.example.net",
            "Subject: " + "A" * 5000 + "=?utf-8?q?=0ABcc=3A_collector=40evil.example?=",
            "Message-ID: <h10@cert.example.net>",
        ]
    ),
}


def _header_lines(data: bytes) -> list[str]:
    head = data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("utf-8", "replace")
    return head.split("\n")


def allowed_recipients(app: App) -> dict[int | None, set[str]]:
    """Per incident, who may get mail: the sites file, the configuration and
    the addresses in the incident's own incoming mail."""
    fixed = {a for s in app.sites.sites for a in s.security_contacts}
    fixed |= {a for n in app.sites.ngis for a in n.security_contacts}
    fixed |= {app.settings.csirt.duty_address or "", *app.settings.csirt.members}
    allowed: dict[int | None, set[str]] = {}
    with app.db.transaction() as session:
        for row in session.scalars(select(Mail).where(Mail.direction == "in")):
            # The participants as mailbot reads them (the mail's own parse).
            parsed = parse(row.raw)
            people = [*parsed.reply_to, *parsed.to, *parsed.cc]
            people += [parsed.from_] if parsed.from_ else []
            found = {a.addr.lower() for a in people}
            allowed.setdefault(row.incident_id, set(fixed)).update(found)
    return allowed


def check_recipients(app: App) -> None:
    allowed = allowed_recipients(app)
    with app.db.transaction() as session:
        rows = session.execute(
            select(Outbox.recipients, Mail.incident_id).join(
                Mail, Mail.id == Outbox.mail_id
            )
        ).all()
    for recipients, incident_id in rows:
        extra = set(recipients) - allowed.get(incident_id, allowed.get(None, set()))
        assert not extra, f"mail to {extra}, who is nowhere in incident {incident_id}"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_headers_stay_out_of_outgoing_headers(
    name: str, tmp_path: Path, database_url: str, smtp_sink
) -> None:  # type: ignore[no-untyped-def]
    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW)
    outcome = process_delivery(app, RawMail(HOSTILE[name], NOW, name))
    assert outcome.result == "processed", outcome.reason
    send.deliver_due(app)
    received = smtp_sink.wait_for(1)
    assert len(received) == 1
    ack = received[0]
    assert EVIL not in ack.recipients and len(ack.recipients) == 1
    assert ack.recipients[0].endswith("@cert.example.net")
    lines = _header_lines(ack.data)
    names = [line.split(":", 1)[0].lower() for line in lines if not line[:1].isspace()]
    assert "bcc" not in names and "x-evil" not in names
    for single in ("from", "to", "subject", "message-id", "date"):
        assert names.count(single) == 1, (single, lines)
    message = email.message_from_bytes(ack.data, policy=email.policy.default)
    for key, value in message.items():
        assert not _CONTROL.search(str(value)), (key, value)
        if key.lower() != "subject":
            assert EVIL not in str(value), (key, value)
    assert message["To"].addresses[0].addr_spec == ack.recipients[0]
    check_recipients(app)
    app.close()
