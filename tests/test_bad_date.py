"""A Date no instant can stand for costs nothing but the Date: breaker
finding F2, where `31 Dec 9999 22:00 EST` overflowed in UTC, the parse
stage lost From, Message-ID and Subject with it, a site's report opened no
incident, a member's #close was dropped and `ingest` died on the file."""

from __future__ import annotations

import pytest
import test_csirt_env as env
from mailbot_env import mail
from test_csirt_env import ALICE, SITE_A, World, at

from mailbot import views
from mailbot.fetch.files import header_date
from mailbot.parse import parse

pytest_plugins = ("test_csirt_env",)

# Past datetime.max in UTC (the first five), before 1900, or in no zone.
BAD_DATES = [
    "31 Dec 9999 22:00 EST",
    "31 Dec 9999 23:59:59 -0001",
    "Fri, 31 Dec 9999 23:59:59 -0100",
    "31 Dec 9999 23:59:59 -2359",
    "Fri Dec 31 23:00:00 9999 -0500",
    "Mon, 01 Jan 0001 00:00:00 +0100",
    "Mon, 30 Nov 2026 09:00:00 +2300",
    "Mon, 30 Nov 2026 09:00:00 -9959",
]


@pytest.mark.parametrize("date", BAD_DATES)
def test_a_bad_date_costs_only_the_date(date: str) -> None:
    raw = mail(
        subject="Compromised host",
        sender="CERT <reporter@cert.example.net>",
        message_id="<bad-date@cert.example.net>",
        date=date,
        headers={"In-Reply-To": "<earlier@cert.example.net>"},
    )
    parsed = parse(raw)
    assert parsed.from_ is not None
    assert parsed.from_.addr == "reporter@cert.example.net"
    assert parsed.message_id == "<bad-date@cert.example.net>"
    assert parsed.subject == "Compromised host"
    assert parsed.in_reply_to == ("<earlier@cert.example.net>",)
    assert parsed.date is None
    assert any(d.startswith("Date implausible") for d in parsed.defects)
    # A file's arrival time reads the Date the same way: no Date at all.
    assert header_date(raw) is None


@pytest.mark.parametrize(
    ("date", "instant"),
    [
        ("Mon, 30 Nov 2026 09:00:00 +1400", "2026-11-29T19:00:00+00:00"),
        ("Mon, 30 Nov 2026 09:00:00 -1200", "2026-11-30T21:00:00+00:00"),
        ("Mon, 30 Nov 2026 09:00:00 +0545", "2026-11-30T03:15:00+00:00"),
        ("Mon Nov 30 09:00:00 2026", "2026-11-30T09:00:00+00:00"),
        ("Fri, 31 Dec 9999 23:00:00 +0000", "9999-12-31T23:00:00+00:00"),
    ],
)
def test_a_date_in_range_is_read(date: str, instant: str) -> None:
    raw = mail(subject="Scan", message_id="<ok@cert.example.net>", date=date)
    parsed = parse(raw)
    assert parsed.date is not None and parsed.date.isoformat() == instant
    assert header_date(raw) == parsed.date


def _dated(raw: bytes, date: str) -> bytes:
    line = next(x for x in raw.split(b"\r\n") if x.startswith(b"Date: "))
    return raw.replace(line, b"Date: " + date.encode())


def _site_report(w: World, date: str, n: int) -> str:
    when = at("2026-11-30T09:55:00")
    raw = env.raw_mail(
        subject="Security incident suspected at SITE-A",
        body="Miner on wn12.site-a.example.com (192.0.2.45), seen yesterday"
        " 08:10 and on 29 Nov at 23:00.\n",
        sender=f"Pekka Admin <{SITE_A}>", when=when,
        message_id=f"<report-{n}@site-a.example.com>",
    )  # fmt: skip
    w.deliver(_dated(raw, date), when)
    [incident] = views.incident_list(w.app)
    return str(incident["tag"])


@pytest.mark.parametrize(
    "date",
    # Overflows in UTC; the second is in range but overflowed in the site's
    # zone when the body's "yesterday" was read from it (quarantined).
    ["31 Dec 9999 22:00 EST", "Fri, 31 Dec 9999 23:00:00 +0000"],
)
def test_a_sites_report_with_a_bad_date_opens_its_incident(w: World, date: str) -> None:
    tag = _site_report(w, date, 1)
    shown = w.show(tag)
    assert shown["sites"] == ["SITE-A"]
    report = shown["messages"][0]
    assert report["message_id"] == "<report-1@site-a.example.com>"
    assert report["from"] == SITE_A
    # The Date yields to the arrival time (DOMAIN.md).
    assert report["date"] == "2026-11-30T09:55:00Z"
    [ack] = w.new_mail()
    assert list(ack.recipients) == [SITE_A]
    assert ack.message["Subject"].startswith(f"[{tag}] ")
    assert ack.message["In-Reply-To"] == "<report-1@site-a.example.com>"


def test_a_members_close_with_a_bad_date_is_applied(w: World) -> None:
    tag = _site_report(w, "Mon, 30 Nov 2026 09:55:00 +0000", 2)
    w.new_mail()
    when = at("2026-11-30T10:30:00")
    raw = env.member_mail(
        subject=f"Re: [{tag}] Security incident suspected at SITE-A",
        body="#close\n", when=when, message_id="<close@csirt.example.org>",
    )  # fmt: skip
    w.deliver(_dated(raw, "31 Dec 9999 23:59:59 -2359"), when)
    shown = w.show(tag)
    assert shown["status"] == "closed"
    stored = {m["message_id"]: m for m in shown["messages"]}
    assert stored["<close@csirt.example.org>"]["from"] == ALICE
    [done] = w.new_mail()
    assert list(done.recipients) == [ALICE]
    assert "#close" in env.body_of(done)
