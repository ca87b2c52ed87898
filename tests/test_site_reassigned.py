"""#site moves an incident to another site: who owes what afterwards.

A request clock is owed by the site that was asked: it never moves to the
new site (which was asked nothing), and the old site, no longer part of
the incident, is chased no more. The procedure's clocks are the
incident's: the new site owes them, chased from the first reminder.
(Breaker 2, repro-4.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mailbot_env import AUTHENTICATED, T, feed, mail, opened, rfc

from mailbot.app import App
from mailbot.db.models import Deadline, Mail, Outbox
from mailbot.deadlines.sweep import sweep

SITES = """
[[ngi]]
name = "NGI_FR"
security_contacts = ["ngi-sec@ngi-fr.example.org"]

[[ngi]]
name = "NGI_JP"
security_contacts = ["ngi-sec@ngi-jp.example.org"]

[[site]]
name = "SITE-P"
ngi = "NGI_FR"
timezone = "Europe/Paris"
security_contacts = ["security@site-p.example.org"]
domains = ["site-p.example.org"]
networks = ["192.0.2.128/25"]

[[site]]
name = "SITE-C"
ngi = "NGI_JP"
timezone = "Asia/Tokyo"
security_contacts = ["csirt@site-c.example.org"]
domains = ["site-c.example.org"]
networks = ["203.0.113.0/25"]
"""
SITE_C = "csirt@site-c.example.org"
SITE_P = "security@site-p.example.org"


def member(tag: str, written: str, body: str, to: str, n: int) -> bytes:
    return mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Scanning from 192.0.2.140",
        sender="alice@csirt.example.org",
        to=to,
        message_id=f"<member-{n}@csirt.example.org>",
        date=rfc(written),
        headers={**AUTHENTICATED, "Cc": "abuse@csirt.example.org"},
        body=body,
    )


def clocks(app: App) -> list[tuple[str, str | None, str, int]]:
    with app.db.transaction() as session:
        rows = session.query(Deadline).order_by(Deadline.id)
        return [(d.rule, d.site, d.state, d.level) for d in rows]


def reminders(app: App) -> list[tuple[str, list[str]]]:
    with app.db.transaction() as session:
        rows = session.query(Outbox).filter(Outbox.purpose.like("chase-%"))
        return [(r.purpose, list(r.recipients)) for r in rows.order_by(Outbox.id)]


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[App]:
    yield from opened(tmp_path, database_url, SITES, "2026-11-16T08:00")


def test_a_request_stays_with_the_site_asked(app: App) -> None:
    tag = feed(
        app,
        mail(
            subject="Scanning from 192.0.2.140",
            message_id="<r1@cert.example.net>",
            date=rfc("2026-11-16T08:00"),
            body="Hello,\n\nSSH scanning from 192.0.2.140.\n",
        ),
        "2026-11-16T08:00",
    )
    assert tag
    feed(app, member(tag, "2026-11-16T09:00", "Please check it.\n", SITE_P, 1),
         "2026-11-16T09:00")  # fmt: skip
    assert ("analysis", "SITE-P", "pending", 0) in clocks(app)
    # The address turns out to be SITE-C's (NAT): the incident moves.
    feed(
        app,
        member(tag, "2026-11-16T10:00", "#site SITE-C\n#no-request\n",
               "abuse@csirt.example.org", 2),
        "2026-11-16T10:00",
    )  # fmt: skip
    analysis = [c for c in clocks(app) if c[0] == "analysis"]
    assert analysis == [("analysis", "SITE-P", "cancelled", 0)]
    for when in ("2026-11-16T14:00", "2026-11-17T06:00", "2026-11-18T06:00",
                 "2026-11-19T06:00"):  # fmt: skip
        app.clock.set(T(when))
        sweep(app)
    assert [r for r in reminders(app) if "analysis" in r[0]] == []
    # One confirmation of both commands says what became of the request.
    with app.db.transaction() as session:
        done = [
            (r.purpose, r.mail.raw.decode())
            for r in session.query(Outbox).order_by(Outbox.id)
            if r.purpose.startswith("confirm")
        ]
    assert [purpose for purpose, _ in done] == ["confirm-site+no-request"]
    assert "1 request clock(s) of SITE-P cancelled" in done[0][1]
    assert "#no-request" in done[0][1]
    # A request to the new site starts its own clock.
    feed(app, member(tag, "2026-11-16T10:30", "Please check it.\n", SITE_C, 3),
         "2026-11-19T06:10")  # fmt: skip
    assert ("analysis", "SITE-C", "pending", 0) in clocks(app)


def test_a_chased_procedure_clock_starts_afresh_for_the_new_site(app: App) -> None:
    """SITE-P was reminded of containment, the NGI in copy; after #site
    SITE-C, SITE-C's first reminder is the first level, to it alone."""
    tag = feed(
        app,
        mail(
            subject="Incident at SITE-P",
            sender=SITE_P,
            message_id="<p1@site-p.example.org>",
            date=rfc("2026-11-16T08:00"),
            body="We discovered a miner on 2026-11-16 07:00 UTC.\n",
        ),
        "2026-11-16T08:00",
    )
    assert tag
    for when in ("2026-11-17T09:00", "2026-11-18T09:00"):
        app.clock.set(T(when))
        sweep(app)
    levels = [(p, r) for p, r in reminders(app) if "containment" in p]
    assert [p for p, _ in levels] == ["chase-containment-1", "chase-containment-2"]
    feed(
        app,
        member(tag, "2026-11-18T10:00", "#site SITE-C\n#no-request\n",
               "abuse@csirt.example.org", 1),
        "2026-11-18T10:00",
    )  # fmt: skip
    containment = [c for c in clocks(app) if c[0] == "containment"]
    assert containment == [
        ("containment", "SITE-P", "cancelled", 2),
        ("containment", "SITE-C", "pending", 0),
    ]
    before = len(reminders(app))
    # Inside SITE-C's working hours (Asia/Tokyo), the next day.
    app.clock.set(T("2026-11-19T01:00"))
    sweep(app)
    new = reminders(app)[before:]
    # Its report is owed too, due as long ago: one mail reminds of both.
    assert ("chase-report+containment-1", [SITE_C]) in new
    # SITE-C saw no mail of the incident: the subject SITE-P wrote (naming
    # SITE-P, saying what it reported) is not its thread's.
    with app.db.transaction() as session:
        row = (
            session.query(Outbox)
            .filter(Outbox.purpose == "chase-report+containment-1")
            .order_by(Outbox.id.desc())
            .first()
        )
        sent = session.get(Mail, row.mail_id)
        assert sent.subject == f"[{tag}] [TLP:AMBER] Security incident"
        assert b"SITE-P" not in sent.raw
    assert all(SITE_P not in rcpts for _, rcpts in new)
    assert all("ngi-sec@ngi-jp.example.org" not in rcpts for _, rcpts in new)
    # SITE-P takes no part any more: its miss is not escalated to the duty
    # team (its level 3 was due the next working day, 09:00 in Paris).
    app.clock.set(T("2026-11-19T09:30"))
    sweep(app)
    assert not [p for p, _ in reminders(app) if p.endswith("-3")]
    with app.db.transaction() as session:
        old = session.query(Deadline).filter_by(site="SITE-P", rule="containment").one()
        assert old.next_action_at is None
