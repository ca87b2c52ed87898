"""#answered: a member records that the site answered a request another way.

The site phoned the CSIRT, or its answer reached a member directly and the
member forwards it: no mail of the site in the thread meets the request
clock, so the site was reminded, then escalated, for an answer given. The
members worked around it with #isolated or #extend, which record something
else. `#answered [SITE] [TIME]` meets the open request clocks of the site
asked (or the site named), at the time given or the mail's, and the trail
keeps who said so and when.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from collections.abc import Iterator
from pathlib import Path

import pytest
from mailbot_env import AUTHENTICATED, T, mail, make_app, rfc
from sqlalchemy import select
from test_sweep_reminders import SITE_CONTACTS, SITE_REPORT, SITES

from mailbot import views
from mailbot.app import App
from mailbot.csirt.commands import read_commands, usage
from mailbot.db.models import Deadline, Mail, Outbox
from mailbot.deadlines.sweep import sweep
from mailbot.mail import RawMail
from mailbot.process import process_delivery

TAG = "EGI-20261203-01"
SITE_Q_CONTACT = "cert@site-q.example.org"
TWO_SITES = (
    SITES
    + """
[[site]]
name = "SITE-Q"
ngi = "NGI_FR"
timezone = "Europe/Paris"
country = "FR"
security_contacts = ["cert@site-q.example.org"]
domains = ["site-q.example.org"]
networks = ["198.51.100.0/25"]
"""
)
REPORT = SITE_REPORT


def feed(app: App, raw: bytes, when: str) -> None:
    app.clock.set(T(when))
    outcome = process_delivery(app, RawMail(raw, T(when), "test"))
    assert outcome.result == "processed", outcome.reason


def member(
    body: str,
    when: str,
    n: int,
    *,
    to: str = "abuse@csirt.example.org",
    headers: dict[str, str] | None = None,
) -> bytes:
    return mail(
        subject=f"Re: [{TAG}] Security incident suspected at SITE-P",
        sender="Alice <alice@csirt.example.org>",
        to=to,
        message_id=f"<member-{n}@csirt.example.org>",
        date=rfc(when),
        headers={"In-Reply-To": "<report@site-p.example.org>"}
        | (AUTHENTICATED if headers is None else headers),
        body=body,
    )


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[App]:
    """SITE-P reported; Alice asked it a question on Friday at 14:00 UTC,
    due Monday 10:00 UTC (DOMAIN.md scenario 2)."""
    made = make_app(tmp_path, database_url, now=T("2026-12-03T09:00:00"), sites=SITES)
    feed(made, REPORT, "2026-12-03T09:00:00")
    feed(
        made,
        member(
            "Which account was used?\n", "2026-12-04T14:00:00", 1, to=SITE_CONTACTS[0]
        ),
        "2026-12-04T14:00:00",
    )
    yield made
    made.close()


def requests(app: App) -> list[tuple[str | None, str, dt.datetime | None]]:
    with app.db.transaction() as session:
        rows = session.scalars(
            select(Deadline).where(Deadline.rule == "analysis").order_by(Deadline.id)
        )
        return [(d.site, d.state, d.met_at) for d in rows]


def replies_to_alice(app: App) -> list[str]:
    """The bodies of the mails to Alice (confirmations, errors), in order."""
    with app.db.transaction() as session:
        raws = session.scalars(
            select(Mail.raw)
            .join(Outbox, Outbox.mail_id == Mail.id)
            .where(
                Outbox.purpose.like("confirm-%") | (Outbox.purpose == "command-error")
            )
            .order_by(Outbox.id)
        ).all()
    policy = email.policy.default
    return [
        " ".join(email.message_from_bytes(raw, policy=policy).get_content().split())  # type: ignore[attr-defined]
        for raw in raws
    ]


def chase_mails(app: App) -> int:
    with app.db.transaction() as session:
        return len(
            session.scalars(
                select(Outbox.id).where(Outbox.purpose.like("chase-%"))
            ).all()
        )


def test_the_site_phoned_and_the_member_says_so(app: App) -> None:
    body = "#answered\n\nSITE-P phoned: the account was 'ops', from 203.0.113.7.\n"
    feed(app, member(body, "2026-12-07T09:00:00", 2), "2026-12-07T09:00:00")
    assert requests(app) == [("SITE-P", "met", T("2026-12-07T09:00:00"))]
    # Recorded: who said so, when, with which mail.
    [entry] = [a for a in views.show(app, TAG)["audit"] if a["action"] == "answered"]
    assert entry["actor"] == "alice@csirt.example.org"
    assert entry["at"] == "2026-12-07T09:00:00Z"
    assert entry["message_id"] == "<member-2@csirt.example.org>"
    assert entry["detail"].startswith(
        "#answered: SITE-P answered at 2026-12-07T09:00:00Z"
    )
    assert "1 request clock(s) met" in entry["detail"]
    [confirmation] = replies_to_alice(app)
    assert "#answered SITE-P answered at 2026-12-07T09:00:00Z" in confirmation
    # Nobody is chased for the answer given.
    for when in ("2026-12-07T10:00:00", "2026-12-09T10:00:00"):
        app.clock.set(T(when))
        assert sweep(app)["reminders"] == 0
    assert chase_mails(app) == 0


def test_a_stated_time_and_a_late_answer(app: App) -> None:
    # Monday 11:00 the site was reminded; the member says it called at 10:30.
    app.clock.set(T("2026-12-07T10:00:00"))
    assert sweep(app)["reminders"] == 1
    feed(
        app,
        member("#answered SITE-P 2026-12-07T10:30:00Z\n", "2026-12-07T11:00:00", 2),
        "2026-12-07T11:00:00",
    )
    assert requests(app) == [("SITE-P", "missed", T("2026-12-07T10:30:00"))]
    assert "1 request clock(s) met, 1 late" in replies_to_alice(app)[-1]
    app.clock.set(T("2026-12-08T10:00:00"))
    assert sweep(app)["reminders"] == 0


def test_several_sites_asked_must_be_named(tmp_path: Path, database_url: str) -> None:
    app = make_app(
        tmp_path, database_url, now=T("2026-12-03T09:00:00"), sites=TWO_SITES
    )
    feed(app, REPORT, "2026-12-03T09:00:00")
    to_both = f"{SITE_CONTACTS[0]}, {SITE_Q_CONTACT}"
    feed(
        app,
        member("Did you see 203.0.113.7 too?\n", "2026-12-04T14:00:00", 1, to=to_both),
        "2026-12-04T14:00:00",
    )
    assert sorted(s for s, _, _ in requests(app)) == ["SITE-P", "SITE-Q"]
    # Which site answered? The member must say.
    feed(app, member("#answered\n", "2026-12-07T09:00:00", 2), "2026-12-07T09:00:00")
    assert {state for _, state, _ in requests(app)} == {"pending"}
    refused = replies_to_alice(app)[-1]
    assert "2 sites were asked (SITE-P, SITE-Q): name the one that answered" in refused
    # A site that takes no part is refused; the one named is met alone.
    feed(
        app,
        member("#answered SITE-X\n", "2026-12-07T09:10:00", 3),
        "2026-12-07T09:10:00",
    )
    assert "'SITE-X' takes no part in" in replies_to_alice(app)[-1]
    feed(
        app,
        member("#answered site-q\n", "2026-12-07T09:20:00", 4),
        "2026-12-07T09:20:00",
    )
    assert sorted(requests(app)) == [
        ("SITE-P", "pending", None),
        ("SITE-Q", "met", T("2026-12-07T09:20:00")),
    ]
    # SITE-P alone is still chased.
    app.clock.set(T("2026-12-07T10:00:00"))
    assert sweep(app)["reminders"] == 1
    with app.db.transaction() as session:
        [rcpts] = session.scalars(
            select(Outbox.recipients).where(Outbox.purpose.like("chase-%"))
        ).all()
    assert SITE_Q_CONTACT not in rcpts
    app.close()


def test_nothing_to_answer_is_refused(app: App) -> None:
    # Before the question was asked, the site answered nothing.
    feed(
        app,
        member("#answered 2026-12-04T13:00:00Z\n", "2026-12-07T09:00:00", 2),
        "2026-12-07T09:00:00",
    )
    assert requests(app) == [("SITE-P", "pending", None)]
    assert "the open ones were asked later" in replies_to_alice(app)[-1]
    feed(app, member("#answered\n", "2026-12-07T09:10:00", 3), "2026-12-07T09:10:00")
    feed(app, member("#answered\n", "2026-12-07T09:20:00", 4), "2026-12-07T09:20:00")
    assert "SITE-P owes no answer to a request" in replies_to_alice(app)[-1]


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        # A mail claiming Alice's address without our MTA's word for it.
        ("#answered\n", {}),
        # Alice quoting a command, or writing it after her text.
        ("Thanks.\n\n> #answered\n", None),
        ("Thanks, we will see.\n#answered\n", None),
    ],
)
def test_forged_quoted_and_late_lines_meet_nothing(
    app: App, body: str, headers: dict[str, str] | None
) -> None:
    feed(
        app,
        member(body, "2026-12-07T09:00:00", 2, headers=headers),
        "2026-12-07T09:00:00",
    )
    assert requests(app) == [("SITE-P", "pending", None)]
    assert "answered" not in {a["action"] for a in views.show(app, TAG)["audit"]}
    app.clock.set(T("2026-12-07T10:00:00"))
    assert sweep(app)["reminders"] == 1


def test_the_grammar_and_the_help() -> None:
    good, bad = read_commands(
        "#answered\n#answered SITE-A\n#answered 2026-12-04T11:00Z\n"
        "#answered SITE-A 2026-12-04T11:00:00+01:00\n#answered SITE-A tomorrow\n"
    )
    assert [(c.argument, c.when) for c in good] == [
        ("", None),
        ("SITE-A", None),
        ("", T("2026-12-04T11:00:00")),
        ("SITE-A", T("2026-12-04T10:00:00")),
    ]
    [wrong] = bad
    assert wrong.line == "#answered SITE-A tomorrow"
    assert "#answered [SITE] [TIME]" in wrong.problem
    assert any(line.startswith("#answered [SITE] [TIME]  - ") for line in usage())
