"""Which site mail answers a CSIRT request (the analysis clock).

The site's reply meets a request whatever order the two reach the mailbox
in and however slow the site's clock is: a reply naming the request
(In-Reply-To, References), or arriving after it, meets it. A security
contact several sites share answers the requests of all its sites in the
incident with one mail. (Breaker 2, repro-3 and repro-6.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from mailbot_env import (
    AUTHENTICATED,
    SHARED_CONTACT_SITES,
    T,
    feed,
    mail,
    opened,
    rfc,
)

from mailbot.app import App
from mailbot.db.models import Deadline, Mail, Outbox
from mailbot.deadlines.sweep import sweep

SITES = """
[[ngi]]
name = "NGI_A"
security_contacts = ["ngi-sec@ngi-a.example.org"]

[[site]]
name = "SITE-P"
ngi = "NGI_A"
timezone = "Europe/Paris"
security_contacts = ["security@site-p.example.org"]
domains = ["site-p.example.org"]
networks = ["192.0.2.128/25"]
"""


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[App]:
    yield from opened(tmp_path, database_url, SITES, "2026-11-16T08:00")


def report(app: App) -> str:
    tag = feed(
        app,
        mail(
            subject="Incident at SITE-P",
            sender="security@site-p.example.org",
            message_id="<report@site-p.example.org>",
            date=rfc("2026-11-16T08:00"),
            body="We discovered a compromise on 2026-11-16 07:00 UTC. Host isolated"
            " at 07:30 UTC, no downtime needed.\n",
        ),
        "2026-11-16T08:00",
    )
    assert tag
    return tag


def request(tag: str, written: str, to: str = "security@site-p.example.org") -> bytes:
    return mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Incident at SITE-P",
        sender="alice@csirt.example.org",
        to=to,
        message_id="<request@csirt.example.org>",
        date=rfc(written),
        headers={
            **AUTHENTICATED,
            "Cc": "abuse@csirt.example.org",
            "In-Reply-To": "<report@site-p.example.org>",
        },
        body="Please send the logs.\n",
    )


def reply(
    tag: str,
    written: str,
    sender: str = "security@site-p.example.org",
    refs: bool = True,
) -> bytes:
    headers = (
        {
            "In-Reply-To": "<request@csirt.example.org>",
            "References": "<report@site-p.example.org> <request@csirt.example.org>",
        }
        if refs
        else {}
    )
    return mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Incident at SITE-P",
        sender=sender,
        message_id=f"<reply-{written}@answer.example.org>",
        date=rfc(written),
        headers=headers,
        body="Here are the logs: nothing else found.\n",
    )


def analysis(app: App) -> list[tuple[str | None, str, dt.datetime | None]]:
    with app.db.transaction() as session:
        rows = session.query(Deadline).filter_by(rule="analysis").order_by(Deadline.id)
        return [(d.site, d.state, d.met_at) for d in rows]


def chased(app: App) -> list[str]:
    """The reminders of the request clocks queued so far."""
    with app.db.transaction() as session:
        return [
            row.purpose
            for row in session.query(Outbox).filter(
                Outbox.purpose.like("chase-analysis-%")
            )
        ]


def no_reminders(app: App, *times: str) -> None:
    for when in times:
        app.clock.set(T(when))
        sweep(app)
    assert chased(app) == []


def test_reply_recorded_before_the_request_it_names(app: App) -> None:
    """The member's copy reaches the mailbox after the site's answer to it."""
    tag = report(app)
    assert feed(app, reply(tag, "2026-11-16T10:15"), "2026-11-16T10:15") == tag
    assert feed(app, request(tag, "2026-11-16T10:00"), "2026-11-16T10:20") == tag
    assert analysis(app) == [("SITE-P", "met", T("2026-11-16T10:15"))]
    no_reminders(app, "2026-11-16T14:30", "2026-11-17T14:30")


def test_reply_recorded_first_naming_the_request_with_a_slow_clock(
    app: App,
) -> None:
    """Written (by its Date) before the request, arrived before its copy:
    only In-Reply-To says it answers it."""
    tag = report(app)
    feed(app, reply(tag, "2026-11-16T09:58"), "2026-11-16T10:05")
    feed(app, request(tag, "2026-11-16T10:00"), "2026-11-16T10:20")
    assert analysis(app) == [("SITE-P", "met", T("2026-11-16T10:05"))]


def test_reply_with_a_slow_date_arriving_after_the_request(app: App) -> None:
    tag = report(app)
    feed(app, request(tag, "2026-11-16T10:00"), "2026-11-16T10:00")
    # The site's mail server clock is 8 minutes slow; the mail names no
    # request, but reached the mailbox after it.
    feed(app, reply(tag, "2026-11-16T09:58", refs=False), "2026-11-16T10:06")
    assert analysis(app) == [("SITE-P", "met", T("2026-11-16T10:06"))]
    no_reminders(app, "2026-11-16T14:10", "2026-11-17T14:10")


def test_reply_with_a_slow_date_naming_the_request(app: App) -> None:
    tag = report(app)
    feed(app, request(tag, "2026-11-16T10:00"), "2026-11-16T10:00")
    feed(app, reply(tag, "2026-11-16T09:58"), "2026-11-16T10:06")
    assert analysis(app) == [("SITE-P", "met", T("2026-11-16T10:06"))]


def test_an_earlier_mail_does_not_answer_a_later_request(app: App) -> None:
    """A site mail written and received before the request, naming it not,
    answers nothing: the request stays owed, in either order."""
    tag = report(app)
    feed(app, reply(tag, "2026-11-16T09:30", refs=False), "2026-11-16T09:31")
    feed(app, request(tag, "2026-11-16T10:00"), "2026-11-16T10:00")
    assert analysis(app) == [("SITE-P", "pending", None)]
    app.clock.set(T("2026-11-16T14:30"))
    sweep(app)
    assert chased(app) == ["chase-analysis-1"]


SHARED = (
    """
[[ngi]]
name = "NGI_A"
security_contacts = ["ngi-sec@ngi-a.example.org"]
"""
    + SHARED_CONTACT_SITES
)
CERT = "cert@uni.example.edu"


@pytest.fixture
def shared_app(tmp_path: Path, database_url: str) -> Iterator[App]:
    yield from opened(tmp_path, database_url, SHARED, "2026-11-16T08:00")


def _merged_uni_incident(app: App) -> str:
    """A third party reports hosts of both sites; the second report is
    merged into the first: one incident, SITE-UNI1 and SITE-UNI2."""
    first = feed(
        app,
        mail(
            subject="SSH scanning from 203.0.113.10",
            message_id="<r1@cert.example.net>",
            date=rfc("2026-11-16T08:00"),
            body="Hello,\n\nSSH scanning from 203.0.113.10 observed.\n",
        ),
        "2026-11-16T08:00",
    )
    second = feed(
        app,
        mail(
            subject="SSH scanning from 203.0.113.70",
            message_id="<r2@cert.example.net>",
            date=rfc("2026-11-16T08:05"),
            body="Hello,\n\nSSH scanning from 203.0.113.70 observed.\n",
        ),
        "2026-11-16T08:05",
    )
    assert first and second and first != second
    feed(
        app,
        mail(
            subject=f"Re: [{second}] SSH scanning from 203.0.113.70",
            sender="alice@csirt.example.org",
            message_id="<merge@csirt.example.org>",
            date=rfc("2026-11-16T08:30"),
            headers={**AUTHENTICATED, "In-Reply-To": "<r2@cert.example.net>"},
            body=f"#merge {first}\n#no-request\n",
        ),
        "2026-11-16T08:30",
    )
    return first


def test_one_answer_of_a_shared_contact_meets_each_sites_request(
    shared_app: App,
) -> None:
    app = shared_app
    tag = _merged_uni_incident(app)
    feed(app, request(tag, "2026-11-16T09:00", to=CERT), "2026-11-16T09:00")
    assert sorted(analysis(app)) == [
        ("SITE-UNI1", "pending", None),
        ("SITE-UNI2", "pending", None),
    ]
    feed(app, reply(tag, "2026-11-16T10:00", sender=CERT), "2026-11-16T10:00")
    assert sorted(analysis(app)) == [
        ("SITE-UNI1", "met", T("2026-11-16T10:00")),
        ("SITE-UNI2", "met", T("2026-11-16T10:00")),
    ]
    no_reminders(app, "2026-11-16T14:10", "2026-11-17T14:10", "2026-11-18T14:10")


def test_shared_contact_answer_recorded_before_the_request(shared_app: App) -> None:
    app = shared_app
    tag = _merged_uni_incident(app)
    feed(app, reply(tag, "2026-11-16T09:10", sender=CERT), "2026-11-16T09:10")
    feed(app, request(tag, "2026-11-16T09:00", to=CERT), "2026-11-16T09:20")
    assert sorted(analysis(app)) == [
        ("SITE-UNI1", "met", T("2026-11-16T09:10")),
        ("SITE-UNI2", "met", T("2026-11-16T09:10")),
    ]


def test_shared_contact_answer_while_closed_is_each_sites(shared_app: App) -> None:
    """#reopen restarts a request clock only for a site that did not write
    meanwhile: the shared contact's answer wrote for both."""
    app = shared_app
    tag = _merged_uni_incident(app)
    feed(app, request(tag, "2026-11-16T09:00", to=CERT), "2026-11-16T09:00")

    def command(line: str, written: str, n: int) -> None:
        feed(
            app,
            mail(
                subject=f"Re: [{tag}] SSH scanning",
                sender="alice@csirt.example.org",
                message_id=f"<cmd-{n}@csirt.example.org>",
                date=rfc(written),
                headers=AUTHENTICATED,
                body=f"{line}\n",
            ),
            written,
        )

    command("#close", "2026-11-16T09:30", 1)
    feed(app, reply(tag, "2026-11-16T10:00", sender=CERT), "2026-11-16T10:00")
    command("#reopen", "2026-11-16T11:00", 2)
    owed = [a for a in analysis(app) if a[1] == "pending"]
    assert owed == []


def test_a_member_answering_for_the_site_before_the_request_is_recorded(
    tmp_path: Path, database_url: str
) -> None:
    """Bob is a CSIRT member and one of SITE-P's contacts: his answer for
    the site, recorded before Alice's copy of the request, meets it."""
    sites = SITES.replace(
        '["security@site-p.example.org"]',
        '["security@site-p.example.org", "bob@csirt.example.org"]',
    )
    for app in opened(tmp_path, database_url, sites, "2026-11-16T08:00"):
        tag = report(app)
        answer = mail(
            subject=f"Re: [{tag}] [TLP:AMBER] Incident at SITE-P",
            sender="bob@csirt.example.org",
            message_id="<bob@csirt.example.org>",
            date=rfc("2026-11-16T09:58"),
            headers={**AUTHENTICATED, "In-Reply-To": "<request@csirt.example.org>"},
            body="Logs checked on our side: nothing else found.\n",
        )
        feed(app, answer, "2026-11-16T10:05")
        feed(app, request(tag, "2026-11-16T10:00"), "2026-11-16T10:20")
        assert analysis(app) == [("SITE-P", "met", T("2026-11-16T10:05"))]


# The NGI security officer, copied on the site's second reminder, answers
# in the thread for the site (breaker F12); another NGI's officer is a
# third party; one DMARC disowns speaks for no one.
NGI_SITES = (
    SITES
    + """
[[ngi]]
name = "NGI_B"
security_contacts = ["ngi-sec@ngi-b.example.org"]

[[site]]
name = "SITE-Q"
ngi = "NGI_B"
security_contacts = ["security@site-q.example.org"]
"""
)
DMARC_FAIL = "mx.csirt.example.org; spf=fail; dmarc=fail header.from=ngi-a.example.org"


@pytest.fixture
def ngi_app(tmp_path: Path, database_url: str) -> Iterator[App]:
    yield from opened(tmp_path, database_url, NGI_SITES, "2026-11-16T08:00")


def roles_of(app: App) -> dict[str, tuple[str | None, str | None, list[str]]]:
    with app.db.transaction() as session:
        rows = session.query(Mail).filter_by(direction="in")
        return {m.from_addr: (m.role, m.site, list(m.flags or [])) for m in rows}


def test_the_sites_ngi_officer_answers_for_the_site(ngi_app: App) -> None:
    tag = report(ngi_app)
    feed(ngi_app, request(tag, "2026-11-16T09:00"), "2026-11-16T09:00")
    for when in ("2026-11-16T13:00", "2026-11-17T13:00"):
        ngi_app.clock.set(T(when))
        sweep(ngi_app)
    assert chased(ngi_app) == ["chase-analysis-1", "chase-analysis-2"]
    officer = "ngi-sec@ngi-a.example.org"
    feed(ngi_app, reply(tag, "2026-11-17T14:00", sender=officer), "2026-11-17T14:00")
    assert roles_of(ngi_app)[officer] == ("site", "SITE-P", ["ngi"])
    assert analysis(ngi_app) == [("SITE-P", "missed", T("2026-11-17T14:00"))]
    # Answered: the duty team is not told that the site is silent.
    for when in ("2026-11-18T13:00", "2026-11-19T13:00"):
        ngi_app.clock.set(T(when))
        sweep(ngi_app)
    assert chased(ngi_app) == ["chase-analysis-1", "chase-analysis-2"]


@pytest.mark.parametrize(
    ("sender", "headers"),
    [
        ("ngi-sec@ngi-b.example.org", {}),
        ("ngi-sec@ngi-a.example.org", {"Authentication-Results": DMARC_FAIL}),
    ],
)
def test_another_ngis_officer_or_a_forged_one_answers_nothing(
    ngi_app: App, sender: str, headers: dict[str, str]
) -> None:
    tag = report(ngi_app)
    feed(ngi_app, request(tag, "2026-11-16T09:00"), "2026-11-16T09:00")
    raw = reply(tag, "2026-11-16T10:00", sender=sender)
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode()
    feed(ngi_app, extra + raw, "2026-11-16T10:00")
    assert roles_of(ngi_app)[sender][0] == "reporter"
    assert analysis(ngi_app) == [("SITE-P", "pending", None)]


def test_an_ngi_officers_new_report_is_a_third_partys(ngi_app: App) -> None:
    tag = feed(
        ngi_app,
        mail(
            subject="Suspicious traffic from SITE-P",
            sender="ngi-sec@ngi-a.example.org",
            message_id="<ngi-report@ngi-a.example.org>",
            date=rfc("2026-11-16T08:00"),
            body="We saw scans from 192.0.2.140 of SITE-P.\n",
        ),
        "2026-11-16T08:00",
    )
    assert tag
    assert roles_of(ngi_app)["ngi-sec@ngi-a.example.org"] == ("reporter", "SITE-P", [])
