"""Helpers for the CSIRT tests: a mailbot on a private Dovecot and SMTP sink.

No tests here. Mail goes in through IMAP (the real server, INTERNALDATE as
arrival time) and out through SMTP; `World.sent` is what the sink got.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from mailbot_env import CASES_SITES, make_app

from mailbot import service, views
from mailbot.app import App

UTC = dt.UTC
MX = "mx.csirt.example.org"
ALICE = "alice@csirt.example.org"
ABUSE = "abuse@csirt.example.org"
SITE_A = "admin@site-a.example.com"
SITE_C = "soc@site-c.example.com"

SITES = (
    CASES_SITES
    + """
[[vo]]
name = "vo.example.org"
security_contacts = ["vo-security@vo.example.org"]

[[ca]]
name = "Example Grid CA"
security_contacts = ["ca@ca.example.org"]
"""
)

DKIM_PASS = (
    f"{MX}; dkim=pass header.d=csirt.example.org header.s=s1;"
    f" spf=pass smtp.mailfrom={ALICE}"
)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def raw_mail(
    *,
    subject: str,
    body: str,
    sender: str,
    when: dt.datetime,
    message_id: str,
    to: str = ABUSE,
    cc: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    reply_to: str | None = None,
) -> bytes:
    lines = [f"{k}: {v}" for k, v in headers or []]
    lines += [f"From: {sender}", f"To: {to}"]
    if cc:
        lines.append(f"Cc: {cc}")
    if reply_to:
        lines += [f"In-Reply-To: {reply_to}", f"References: {reply_to}"]
    lines += [
        f"Subject: {subject}",
        f"Date: {email.utils.format_datetime(when)}",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        body,
    ]
    return "\r\n".join(lines).encode()


def member_mail(
    *,
    subject: str,
    body: str,
    when: dt.datetime,
    message_id: str,
    sender: str = ALICE,
    auth: str | None = DKIM_PASS,
    to: str = ABUSE,
    cc: str | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> bytes:
    """A member's mail as our MTA delivers it: its Authentication-Results on top."""
    on_top = [("Authentication-Results", auth)] if auth else []
    return raw_mail(
        subject=subject, body=body, sender=sender, when=when, message_id=message_id,
        to=to, cc=cc, headers=[*on_top, *(headers or [])],
    )  # fmt: skip


@dataclass
class World:
    app: App
    dovecot: Any
    smtp: Any
    seen: int = field(default=0)

    def deliver(self, raw: bytes, when: dt.datetime) -> None:
        """The mail arrives at `when`; mailbot polls a minute later."""
        # Dovecot stores an APPEND dated in the future as arriving at the
        # APPEND: the mail would arrive on the machine's clock, not `when`,
        # and the test pass or fail by the hour it runs.
        assert when <= dt.datetime.now(dt.UTC), (
            f"{when} is in the future: deliver in the past"
        )
        self.dovecot.append(raw, internaldate=when)
        self.app.clock.set(when + dt.timedelta(minutes=1))
        result = service.poll(self.app)
        assert result.quarantined == 0, views.quarantine_list(self.app)

    def new_mail(self) -> list[Any]:
        """What the SMTP sink got since the last call."""
        messages = self.smtp.messages[self.seen :]
        self.seen += len(messages)
        return messages

    def show(self, tag: str) -> dict[str, Any]:
        data = views.show(self.app, tag)
        assert data is not None, tag
        return data


def world(tmp_path: Path, database_url: str, dovecot: Any, smtp: Any) -> World:
    app = make_app(
        tmp_path, database_url, dovecot=dovecot, smtp=smtp,
        now=at("2026-11-30T08:00:00"), sites=SITES,
    )  # fmt: skip
    return World(app, dovecot, smtp)


@pytest.fixture
def w(
    tmp_path: Path,
    database_url: str,
    dovecot: Any,
    smtp_sink: Any,
) -> Iterator[World]:
    """A mailbot on a private Dovecot and SMTP sink, closed after the test."""
    built = world(tmp_path, database_url, dovecot, smtp_sink)
    yield built
    built.app.close()


def body_of(message: Any) -> str:
    return str(message.message.get_payload(decode=True).decode())


def site_report(w: World, *, when: str = "2026-11-30T09:55:00") -> str:
    """SITE-A reports an incident; returns its tag."""
    w.deliver(
        raw_mail(
            subject="Security incident suspected at SITE-A [EGI-20261130] TLP: AMBER",
            body="Discovered 2026-11-30 08:10 UTC: miner on wn12.site-a.example.com"
            " (192.0.2.45).\n",
            sender=f"Pekka Admin <{SITE_A}>", when=at(when),
            message_id="<report-a@site-a.example.com>",
        ),
        at(when),
    )  # fmt: skip
    listed = views.incident_list(w.app)
    return str(listed[-1]["tag"])


def listed_mail(w: World, message_id: str) -> dict[str, Any]:
    """The mail `message_id` as `show` lists it, with its incident's tag."""
    for incident in views.incident_list(w.app, all_=True):
        for mail in w.show(incident["tag"])["messages"]:
            if mail["message_id"] == message_id:
                return {"tag": incident["tag"], **mail}
    raise AssertionError(f"{message_id} in no incident")
