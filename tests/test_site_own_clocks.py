"""Each site of an incident owes its own clocks, from its own facts.

A member asks a second site about an attacker host in its network; the
site answers with a new mail under the full tag and joins the incident.
Its clocks start and are met from its own mails, never from the first
site's discovery or isolation (breaker 7, sM and sM2): its report and
containment clocks start when it was asked, its containment is met by its
own isolation only, its downtime clock starts at that isolation. Its
isolation is not the incident's, and meets none of the first site's clocks;
a merge does not hand one site's isolation to the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mailbot_env import AUTHENTICATED, T, feed, mail, opened, rfc
from sqlalchemy import select

from mailbot import incidents
from mailbot.app import App
from mailbot.db.models import Deadline, Incident

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
networks = ["192.0.2.0/25"]

[[site]]
name = "SITE-D"
ngi = "NGI_A"
timezone = "Europe/Berlin"
security_contacts = ["sec@site-d.example.de"]
domains = ["site-d.example.de"]
networks = ["203.0.113.0/26"]
"""
P_REPORT = (
    "Miner on wn1 (192.0.2.9), discovered 2026-11-24 07:30 UTC, isolated"
    " 07:50 UTC, downtime declared.\nSSH logins came from 203.0.113.5.\n"
)


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[App]:
    yield from opened(tmp_path, database_url, SITES, "2026-11-24T08:00")


def tagged(app: App, raw: bytes, arrived: str) -> str:
    tag = feed(app, raw, arrived)
    assert tag
    return tag


def site_p(app: App, body: str = P_REPORT, n: int = 0, tag: str = "") -> str:
    subject = f"Re: [{tag}] Incident at SITE-P" if tag else "Incident at SITE-P"
    written = f"2026-11-24T{8 + 3 * n:02d}:00"
    return tagged(
        app,
        mail(
            subject=subject,
            sender="security@site-p.example.org",
            message_id=f"<p{n}@site-p.example.org>",
            date=rfc(written),
            body=body,
        ),
        written,
    )


def ask_d(app: App, tag: str) -> None:
    feed(
        app,
        mail(
            subject=f"[{tag}] [TLP:AMBER] SSH logins from 203.0.113.5 (your network)",
            sender="alice@csirt.example.org",
            to="sec@site-d.example.de",
            message_id="<q@csirt.example.org>",
            date=rfc("2026-11-24T09:00"),
            headers={**AUTHENTICATED, "Cc": "abuse@csirt.example.org"},
            body="Dear SITE-D,\n\nhost 203.0.113.5 of yours was used to log in"
            " to another site. Is it compromised?\n\nAlice\n",
        ),
        "2026-11-24T09:00",
    )


def d_answers(app: App, tag: str, body: str) -> None:
    # A new mail under the full tag, naming no earlier one.
    feed(
        app,
        mail(
            subject=f"[{tag}] answer from SITE-D",
            sender="Klaus <sec@site-d.example.de>",
            message_id="<d@site-d.example.de>",
            date=rfc("2026-11-24T10:00"),
            body=f"Hello,\n\n{body}\n\nKlaus\n",
        ),
        "2026-11-24T10:00",
    )


def clocks(app: App, site: str) -> dict[str, Deadline]:
    with app.db.session() as session:
        rows = session.scalars(
            select(Deadline).where(Deadline.site == site, Deadline.state != "cancelled")
        )
        return {d.rule: d for d in rows}


def test_second_site_clocks_start_and_are_met_from_its_own_facts(app: App) -> None:
    tag = site_p(app)
    ask_d(app, tag)
    d_answers(
        app,
        tag,
        "yes, 203.0.113.5 (ui.site-d.example.de) was compromised,"
        " isolated at 09:55 UTC.",
    )
    d = clocks(app, "SITE-D")
    # Its report is owed from when it was asked, not SITE-P's discovery.
    assert d["report"].started_at == T("2026-11-24T09:00")
    assert (d["report"].state, d["report"].met_at) == ("met", T("2026-11-24T10:00"))
    assert d["containment"].started_at == T("2026-11-24T09:00")
    assert d["containment"].met_at == T("2026-11-24T09:55")
    # Its downtime is owed from its own isolation, not SITE-P's at 07:50.
    assert d["downtime"].started_at == T("2026-11-24T09:55")
    assert d["downtime"].state == "pending"
    assert d["downtime"].due_at == T("2026-11-25T09:55")
    p = clocks(app, "SITE-P")
    assert p["report"].started_at == T("2026-11-24T07:30")
    assert p["containment"].met_at == T("2026-11-24T07:50")
    assert p["downtime"].started_at == T("2026-11-24T07:50")


def test_second_site_that_isolated_nothing_still_owes_containment(app: App) -> None:
    tag = site_p(app)
    ask_d(app, tag)
    d_answers(
        app,
        tag,
        "yes, 203.0.113.5 (ui.site-d.example.de) was compromised;"
        " we are still investigating it.",
    )
    d = clocks(app, "SITE-D")
    assert d["containment"].state == "pending"
    assert d["containment"].met_at is None
    assert d["containment"].due_at == T("2026-11-25T09:00")
    # No isolation of its own: no downtime is owed yet.
    assert "downtime" not in d


def test_second_site_isolation_is_not_the_first_sites(app: App) -> None:
    tag = site_p(
        app,
        "Miner on wn1 (192.0.2.9), discovered 2026-11-24 07:30 UTC; we are"
        " still looking at it.\nSSH logins came from 203.0.113.5.\n",
    )
    ask_d(app, tag)
    d_answers(
        app,
        tag,
        "yes, 203.0.113.5 (ui.site-d.example.de) was compromised,"
        " isolated at 09:55 UTC.",
    )
    site_p(app, "We are still investigating.\n", n=1, tag=tag)
    p = clocks(app, "SITE-P")
    assert p["containment"].state == "pending"
    assert "downtime" not in p
    with app.db.session() as session:
        incident = session.scalars(select(Incident).where(Incident.tag == tag)).one()
        assert incident.isolated_at is None
    assert clocks(app, "SITE-D")["containment"].met_at == T("2026-11-24T09:55")


def test_second_site_stated_discovery_after_it_was_asked(app: App) -> None:
    tag = site_p(app)
    ask_d(app, tag)
    d_answers(
        app,
        tag,
        "yes, 203.0.113.5 was compromised, discovered 2026-11-24 09:30 UTC"
        " after your mail.",
    )
    assert clocks(app, "SITE-D")["report"].started_at == T("2026-11-24T09:30")


def test_merge_hands_no_site_isolation_to_the_other(app: App) -> None:
    first = site_p(
        app,
        "Miner on wn1 (192.0.2.9), discovered 2026-11-24 07:30 UTC; we are"
        " still looking at it.\n",
    )
    second = tagged(
        app,
        mail(
            subject="Incident at SITE-D",
            sender="sec@site-d.example.de",
            message_id="<d-report@site-d.example.de>",
            date=rfc("2026-11-24T09:00"),
            body="ui.site-d.example.de was compromised, isolated at 08:55 UTC.\n",
        ),
        "2026-11-24T09:00",
    )
    assert second != first
    feed(
        app,
        mail(
            subject=f"Re: [{second}] Incident at SITE-D",
            sender="alice@csirt.example.org",
            message_id="<merge@csirt.example.org>",
            date=rfc("2026-11-24T10:00"),
            headers=AUTHENTICATED,
            body=f"#merge {first}\n#no-request\n",
        ),
        "2026-11-24T10:00",
    )
    site_p(app, "We are still investigating.\n", n=1, tag=first)
    p = clocks(app, "SITE-P")
    assert p["containment"].state == "pending"
    assert "downtime" not in p
    d = clocks(app, "SITE-D")
    # Met when its clocks started (its report at 09:00: no discovery time).
    assert d["containment"].met_at == T("2026-11-24T09:00")
    with app.db.session() as session:
        incident = session.scalars(select(Incident).where(Incident.tag == first)).one()
        assert incident.isolated_at is None


def ask_in_p_thread(app: App, tag: str, to: str, cc: str) -> None:
    """A member's reply in SITE-P's thread (its subject names SITE-P)."""
    feed(
        app,
        mail(
            subject=f"Re: [{tag}] [TLP:AMBER] Incident at SITE-P",
            sender="alice@csirt.example.org",
            to=to,
            message_id="<joint@csirt.example.org>",
            date=rfc("2026-11-24T09:00"),
            headers={
                **AUTHENTICATED,
                "Cc": cc,
                "In-Reply-To": "<p0@site-p.example.org>",
            },
            body="Dear colleagues,\n\nP: which account was used? D: can you"
            " check your host?\n\nAlice\n",
        ),
        "2026-11-24T09:00",
    )


@pytest.mark.parametrize(
    ("to", "cc", "asked"),
    [
        # Both sites in To, the second in Cc, the second alone.
        (
            "security@site-p.example.org, sec@site-d.example.de",
            "abuse@csirt.example.org",
            {"SITE-P", "SITE-D"},
        ),
        (
            "security@site-p.example.org",
            "abuse@csirt.example.org, sec@site-d.example.de",
            {"SITE-P", "SITE-D"},
        ),
        ("sec@site-d.example.de", "abuse@csirt.example.org", {"SITE-D"}),
    ],
)
def test_member_asks_the_sites_addressed_whatever_the_subject_names(
    app: App, to: str, cc: str, asked: set[str]
) -> None:
    tag = site_p(app)
    ask_in_p_thread(app, tag, to, cc)
    with app.db.session() as session:
        incident = session.scalars(select(Incident).where(Incident.tag == tag)).one()
        assert set(incidents.site_names(session, incident)) == {"SITE-P", "SITE-D"}
    for site in ("SITE-P", "SITE-D"):
        analysis = clocks(app, site).get("analysis")
        assert (analysis is not None) == (site in asked), site
    assert clocks(app, "SITE-D")["analysis"].started_at == T("2026-11-24T09:00")


def test_site_asked_jointly_owes_its_report_from_the_request(app: App) -> None:
    tag = site_p(app)
    ask_in_p_thread(
        app,
        tag,
        "security@site-p.example.org, sec@site-d.example.de",
        "abuse@csirt.example.org",
    )
    d_answers(app, tag, "yes, 203.0.113.5 was compromised; we are looking at it.")
    d = clocks(app, "SITE-D")
    # Asked at 09:00 with SITE-P: its report is owed from then, as if asked alone.
    assert d["report"].started_at == T("2026-11-24T09:00")
    assert d["analysis"].met_at == T("2026-11-24T10:00")
