"""A tag damaged on its way (other separators, a counter retyped, a date long
past) or surviving only in the text of a reply: breaker findings brk9 F1 and
F6, where each such reply of a site opened a phantom incident with its own
acknowledgement and containment chase, and where `-011` or `-0142` was
adopted as a new incident's name (the next one of the day `-143`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mailbot_env import AUTHENTICATED, CASES_SITES, feed, mail, opened, rfc
from sqlalchemy import select

from mailbot import views
from mailbot.app import App
from mailbot.db.models import Outbox

SITE_A = "admin@site-a.example.com"
SITE_C = "soc@site-c.example.com"
REPORTER = "cert@cert.example.net"
HEADING = "Security incident suspected at SITE-A [EGI-20261204] TLP: AMBER"
MINE = "EGI-20261204-01"


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[App]:
    yield from opened(tmp_path, database_url, CASES_SITES, "2026-12-04T09:55")


def send(
    app: App,
    subject: str,
    when: str,
    n: int,
    sender: str = SITE_A,
    body: str = "The miner ran as user atlas001.\n",
    **headers: str,
) -> str | None:
    raw = mail(
        subject=subject, sender=sender, message_id=f"<m{n}@example.org>",
        date=rfc(when), body=body, headers=headers,
    )  # fmt: skip
    return feed(app, raw, when)


def report(app: App) -> str | None:
    body = "A miner on wn12 (192.0.2.12), discovered 2026-12-04 08:10 UTC.\n"
    return send(app, HEADING, "2026-12-04T09:55", 0, body=body)


def tags(app: App) -> list[str]:
    return [str(row["tag"]) for row in views.incident_list(app, all_=True)]


def acknowledgements(app: App) -> int:
    with app.db.transaction() as session:
        rows = session.scalars(
            select(Outbox.id).where(Outbox.purpose == "acknowledgement")
        )
        return len(list(rows))


def shown(app: App, n: int) -> dict[str, Any]:
    """Mail `n` as `show` lists it, with its incident's tag."""
    for row in views.incident_list(app, all_=True):
        listed = views.show(app, str(row["tag"]))
        assert listed is not None
        for message in listed["messages"]:
            if message["message_id"] == f"<m{n}@example.org>":
                return {"tag": row["tag"], **message}
    raise AssertionError(f"mail {n} in no incident")


@pytest.mark.parametrize(
    "subject",
    [
        "Re: [EGI 20261204-01] Security incident suspected at SITE-A",
        "Re: [EGI_20261204_01] Security incident suspected at SITE-A",
        "Re: [EGI-2026-12-04-01] Security incident suspected at SITE-A",
        "AW: [EXT] [EGI\u201320261204\u201301] Security incident suspected",
        "Re: [egi 2026_12_04-1] Security incident suspected at SITE-A",
    ],
)
def test_a_damaged_tag_of_the_site_s_incident_threads_into_it(
    app: App, subject: str
) -> None:
    assert report(app) == MINE
    assert send(app, subject, "2026-12-04T13:00", 1) == MINE
    assert tags(app) == [MINE]
    assert acknowledgements(app) == 1


@pytest.mark.parametrize(
    ("subject", "headers"),
    [
        # The subject cut by a mail client, the tag only in the text.
        ("Re: Security incident suspected", {}),
        ("SV: [EXTERNAL] miner update", {}),
        # No reply prefix, but an answer to a mail mailbot never saw (a
        # member's own mail, sent outside mailbot).
        ("miner update", {"In-Reply-To": "<elsewhere@csirt.example.org>"}),
    ],
)
def test_a_reply_whose_tag_survives_in_its_text_threads_into_it(
    app: App, subject: str, headers: dict[str, str]
) -> None:
    assert report(app) == MINE
    body = (
        "Hello,\nabout incident EGI-20261204-01: the miner ran as atlas001.\n\n"
        "On Fri, 4 Dec 2026, abuse@csirt.example.org wrote:\n"
        "> [EGI-20261204-01] [TLP:AMBER] Security incident suspected at SITE-A\n"
    )
    assert send(app, subject, "2026-12-04T13:00", 1, body=body, **headers) == MINE
    assert shown(app, 1)["thread_reason"] == "body_tag"
    assert tags(app) == [MINE]
    assert acknowledgements(app) == 1


def test_the_tag_quoted_under_a_reply_threads_it(app: App) -> None:
    assert report(app) == MINE
    body = (
        "The host is isolated now.\n\n"
        "> From: abuse@csirt.example.org\n"
        "> Subject: [EGI-20261204-01] [TLP:AMBER] Security incident suspected\n"
        "> thank you for your report.\n"
    )
    assert send(app, "Re: Security incident", "2026-12-04T13:00", 1, body=body) == MINE


def test_a_new_report_mentioning_an_older_incident_opens_its_own(app: App) -> None:
    assert report(app) == MINE
    body = "Another miner, on wn14: similar to EGI-20261204-01.\n"
    new = send(app, "Miner on wn14 at SITE-A", "2026-12-04T13:00", 1, body=body)
    assert new == "EGI-20261204-02"
    assert acknowledgements(app) == 2


def test_a_reply_naming_another_site_s_incident_stays_out_of_it(app: App) -> None:
    assert report(app) == MINE
    body = "We see the same miner: see EGI-20261204-01.\n"
    theirs = send(app, "Re: miner", "2026-12-04T13:00", 1, sender=SITE_C, body=body)
    assert theirs == "EGI-20261204-02"
    assert views.show(app, MINE)["sites"] == ["SITE-A"]  # type: ignore[index]


def test_a_reporter_s_reply_naming_its_incident_threads_into_it(app: App) -> None:
    first = send(
        app, "Scans from 198.51.100.200", "2026-12-04T10:00", 0, sender=REPORTER,
        body="Scans from 198.51.100.200 at 09:00 UTC.\n",
    )  # fmt: skip
    body = f"More scans today, as reported in {first}.\n"
    later = send(app, "Re: scans", "2026-12-04T14:00", 1, sender=REPORTER, body=body)
    assert later == first
    # Someone else's reply naming it is a mention only.
    other = send(
        app, "Re: scans", "2026-12-04T15:00", 2, sender="x@other.example.net", body=body
    )
    assert other != first


def test_a_member_s_reply_follows_the_tag_in_its_text(app: App) -> None:
    assert report(app) == MINE
    body = "Dear SITE-A,\nregarding EGI-20261204-01: which account ran it?\n"
    member = send(
        app, "Re: your mail", "2026-12-04T13:00", 1, sender="alice@csirt.example.org",
        body=body, **AUTHENTICATED,
    )  # fmt: skip
    assert member == MINE


def test_a_reply_naming_a_closed_incident_opens_a_new_one(app: App) -> None:
    assert report(app) == MINE
    send(
        app, f"Re: [{MINE}] x", "2026-12-04T11:00", 1, sender="alice@csirt.example.org",
        body="#close\n", **AUTHENTICATED,
    )  # fmt: skip
    assert views.show(app, MINE)["status"] == "closed"  # type: ignore[index]
    body = "It is back, like in EGI-20261204-01.\n"
    assert send(app, "Re: miner", "2026-12-04T13:00", 2, body=body) != MINE


@pytest.mark.parametrize(
    "subject",
    [
        "Re: [EGI-20261204-011] Security incident suspected at SITE-A",
        "Ticket EGI-20261204-0142 update",
    ],
)
def test_a_retyped_counter_is_read_as_its_date(app: App, subject: str) -> None:
    assert report(app) == MINE
    assert send(app, subject, "2026-12-04T10:01", 1) == MINE
    # The day's counter stays at two digits.
    other = send(app, "Another incident", "2026-12-04T10:02", 2, sender=SITE_C)
    assert other == "EGI-20261204-02"


def test_a_retyped_counter_is_never_adopted(app: App) -> None:
    opened_by = send(app, "Re: [EGI-20261204-0142] miner", "2026-12-04T10:01", 1)
    assert opened_by == "EGI-20261204-01"
    assert "tag_not_followed" in shown(app, 1)["flags"]
    # The same tag again is the same incident (its date, kept as alias).
    again = send(app, "Re: [EGI-20261204-0142] miner", "2026-12-04T11:01", 2)
    assert again == opened_by
    assert send(app, "Scans", "2026-12-04T10:02", 3, sender=SITE_C) == (
        "EGI-20261204-02"
    )


def test_a_date_long_past_names_no_new_incident(app: App) -> None:
    subject = "Security incident suspected at SITE-A [EGI-20200101] TLP: AMBER"
    first = send(app, subject, "2026-12-04T10:00", 1)
    assert first == "EGI-20261204-01"
    assert "tag_not_followed" in shown(app, 1)["flags"]
    # The site writes the same heading again: its incident.
    assert send(app, subject, "2026-12-04T15:00", 2) == first
    full = send(app, "Re: [EGI-20200101-05] x", "2026-12-04T10:00", 3, sender=SITE_C)
    assert full == "EGI-20261204-02"


def test_a_three_digit_counter_is_adopted_past_the_day_s_99th(app: App) -> None:
    # The site's tag given by hand before mailbot ran moves the counter.
    assert send(app, "Re: [EGI-20261204-99] a", "2026-12-04T10:00", 1) == (
        "EGI-20261204-99"
    )
    third = send(app, "Re: [EGI-20261204-123] b", "2026-12-04T10:01", 2, sender=SITE_C)
    assert third == "EGI-20261204-123"


@pytest.mark.parametrize("counter", ["002", "0002"])
def test_a_zero_padded_counter_names_its_incident(app: App, counter: str) -> None:
    """ "Re: [EGI-20261204-002] ..." from a site with two incidents that day
    was read as its date only and went to the day's first incident: the
    other incident's isolation met its containment (retest9b). Zeros
    before a counter are padding: -002 is -02 when -02 exists."""
    assert report(app) == MINE
    second = send(app, "New compromise: wn40", "2026-12-04T10:00", 1)
    assert second == "EGI-20261204-02"
    subject = f"Re: [EGI-20261204-{counter}] New compromise: wn40"
    assert send(app, subject, "2026-12-04T10:30", 2) == second
