"""A site writing its incident's tag in its own spelling: dots or slashes
for dashes, the date day first, no separator before the counter. Each
such reply opened a phantom incident (its own acknowledgement and clocks)
where the tag named the site's incident (fixer findings after retest9b).
A tag mailbot would never write ("-011") filed by its date carried no
flag, so no member saw that the tag was not followed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mailbot_env import CASES_SITES, feed, mail, opened, rfc
from sqlalchemy import select

from mailbot import views
from mailbot.app import App
from mailbot.db.models import Outbox
from mailbot.tags import find_tags, without_tags

SITE_A = "admin@site-a.example.com"
SITE_C = "soc@site-c.example.com"
MINE = "EGI-20261204-01"


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[App]:
    yield from opened(tmp_path, database_url, CASES_SITES, "2026-12-04T09:55")


def send(
    app: App, subject: str, when: str, n: int, sender: str = SITE_A, body: str = ""
) -> str | None:
    raw = mail(
        subject=subject, sender=sender, message_id=f"<s{n}@example.org>",
        date=rfc(when), body=body or "The miner ran as user atlas001.\n",
    )  # fmt: skip
    return feed(app, raw, when)


def report(app: App) -> str | None:
    return send(
        app, "Security incident suspected at SITE-A [EGI-20261204] TLP: AMBER",
        "2026-12-04T09:55", 0,
        body="A miner on wn12 (192.0.2.12), discovered 2026-12-04 08:10 UTC.\n",
    )  # fmt: skip


def tags(app: App) -> list[str]:
    return [str(row["tag"]) for row in views.incident_list(app, all_=True)]


def outbox(app: App, purpose: str) -> list[str]:
    """The texts of the mails queued for `purpose`."""
    with app.db.transaction() as session:
        rows = session.scalars(select(Outbox).where(Outbox.purpose == purpose))
        return [row.mail.raw.decode("utf-8", "replace") for row in rows]


def flags(app: App, tag: str, n: int) -> list[str]:
    shown = views.show(app, tag)
    assert shown is not None
    [message] = [
        m for m in shown["messages"] if m["message_id"] == f"<s{n}@example.org>"
    ]
    return list(message["flags"])


@pytest.mark.parametrize(
    "written",
    [
        "EGI.20261204.01",
        "EGI-2026120401",
        "EGI 2026120401",
        "EGI-04.12.2026-01",
        "EGI-4.12.2026-1",
        "EGI.04.12.2026.01",
        "EGI-2026.12.04-01",
        "EGI-20261204.01",
        "EGI-2026-12-04.01",
        "EGI-2026/12/04-01",
        "EGI-04/12/2026-01",
        "EGI-04-12-2026-01",
        "EGI-04122026-01",
        # Slashes after the prefix and before the counter, as in the date.
        "EGI/20261204/01",
        "EGI/2026/12/04/01",
        "EGI#20261204-01",
    ],
)
def test_a_tag_in_the_site_s_own_spelling_threads_into_its_incident(
    app: App, written: str
) -> None:
    assert report(app) == MINE
    subject = f"Re: [{written}] Security incident suspected at SITE-A"
    assert send(app, subject, "2026-12-04T13:00", 1) == MINE
    assert tags(app) == [MINE]
    assert len(outbox(app, "acknowledgement")) == 1
    # Followed where it was meant: nothing to tell.
    assert "tag_not_followed" not in flags(app, MINE, 1)


@pytest.mark.parametrize(
    "written", ["EGI.20261204.02", "EGI-04.12.2026-02", "EGI-2026120402"]
)
def test_the_spelling_names_the_counter_written(app: App, written: str) -> None:
    """The second incident of the day, not the first one of its date."""
    assert report(app) == MINE
    second = send(app, "New compromise: wn40", "2026-12-04T10:00", 1)
    assert second == "EGI-20261204-02"
    assert send(app, f"Re: [{written}] wn40", "2026-12-04T10:30", 2) == second


@pytest.mark.parametrize(
    "written", ["EGI.20261204.01", "EGI-04.12.2026-01", "EGI-2026120401"]
)
def test_another_site_s_spelling_of_a_tag_opens_no_phantom_in_it(
    app: App, written: str
) -> None:
    # SITE-C writes SITE-A's tag: its own incident, never named by the
    # spelling, and SITE-A's incident keeps SITE-A alone.
    assert report(app) == MINE
    theirs = send(app, f"Re: [{written}] scans", "2026-12-04T13:00", 1, sender=SITE_C)
    assert theirs == "EGI-20261204-02"
    assert views.show(app, MINE)["sites"] == ["SITE-A"]  # type: ignore[index]


@pytest.mark.parametrize(
    "written",
    ["EGI.20261204.07", "EGI-04.12.2026-07", "EGI-2026120407", "EGI/20261204/07"],
)
def test_a_spelling_naming_no_incident_is_never_adopted(app: App, written: str) -> None:
    # The new incident is named by the day's counter, not the one written.
    opened_by = send(app, f"[{written}] miner on wn12", "2026-12-04T10:00", 1)
    assert opened_by == "EGI-20261204-01"
    assert "tag_not_followed" in flags(app, opened_by, 1)


@pytest.mark.parametrize(
    "subject",
    [
        # Numbers near a date-only tag that are no counter of it.
        "[EGI-20261204] ticket 2026120455 miner",
        "[EGI-20261204] call +33 1 23 45 67 89",
        "[EGI-20261204] seen 04.12.2026 12:30",
        "[EGI-20261204] 12:30 UTC scans",
        "EGI-20261204 12:30 UTC scans",
        "EGI 04.12.2026 01:00 UTC scans",
        "[EGI-20261204]. 12 hosts",
        "[EGI-20261204] v2.01 of the miner",
        "Re: EGI 2026 12 04 12 hosts cleaned",
        "Re: EGI-04.12.2026 meeting at 09.30",
        # Other EGI identifiers and a date in prose.
        "EGI-SVG-2026-12 advisory, ticket 04.12.2026.01",
        "meeting on 04.12.2026-01 about EGI",
    ],
)
def test_unrelated_numbers_are_no_counter(subject: str) -> None:
    found = find_tags(subject, "EGI")
    assert found.loose == () and found.full == () and found.cut == ()


@pytest.mark.parametrize(
    ("written", "read"),
    [
        # A day past the 12th: day first, whatever the separator.
        ("EGI-13/12/2026-01", ("EGI-20261213-01",)),
        # A second number past 12: only the month-first reading is a day.
        ("EGI-12/13/2026-01", ("EGI-20261213-01",)),
        # Dots: the day comes first wherever dots are written.
        ("EGI-07.12.2026-01", ("EGI-20261207-01",)),
        # Both readings are days: both are tried, the day-first one first.
        ("EGI-07/12/2026-01", ("EGI-20261207-01", "EGI-20260712-01")),
        # Neither is a day of the calendar.
        ("EGI-31/31/2026-01", ()),
        # A tag written whole is read year first only (not 20 Dec 1120).
        ("EGI-20121120-01", ()),
    ],
)
def test_day_first_dates(written: str, read: tuple[str, ...]) -> None:
    found = find_tags(f"Re: [{written}] x", "EGI")
    assert found.loose == read
    if read:
        assert without_tags(f"Re: [{written}] x", "EGI") == "Re: [ ] x"


@pytest.mark.parametrize(
    "subject",
    [
        "Re: [EGI-20261204-011] Security incident suspected at SITE-A",
        "Ticket EGI-20261204-0142 update",
        "Re: [EGI-2026.12.04-0142] Security incident",
    ],
)
def test_a_tag_mailbot_never_writes_filed_by_its_date_is_flagged(
    app: App, subject: str
) -> None:
    assert report(app) == MINE
    before = len(outbox(app, "notice-tag"))
    assert send(app, subject, "2026-12-04T10:01", 1) == MINE
    assert "tag_not_followed" in flags(app, MINE, 1)
    notices = outbox(app, "notice-tag")
    assert len(notices) == before + 1
    text = " ".join(notices[-1].split())
    assert "filed it in EGI-20261204-01" in text
    assert "opened EGI-20261204-01" not in text
    # The tag as written is the incident's date: told once per sender.
    assert send(app, subject, "2026-12-04T10:05", 2) == MINE
    assert "tag_not_followed" in flags(app, MINE, 2)
    assert len(outbox(app, "notice-tag")) == before + 1


def test_the_day_s_tag_as_written_is_not_flagged(app: App) -> None:
    assert report(app) == MINE
    again = "Re: Security incident suspected at SITE-A [EGI-20261204] TLP: AMBER"
    assert send(app, again, "2026-12-04T10:01", 1) == MINE
    assert send(app, f"Re: [{MINE}] x", "2026-12-04T10:02", 2) == MINE
    assert "tag_not_followed" not in flags(app, MINE, 1)
    assert "tag_not_followed" not in flags(app, MINE, 2)


@pytest.mark.parametrize(
    "subject",
    [
        # The date alone in the site's spelling; the number after it is a
        # count or a time, as after "[EGI-20261204] 12:30".
        "Re: EGI 2026 12 04 12 hosts cleaned",
        "Re: EGI-04.12.2026 meeting at 09.30",
        "Re: EGI/2026/12/04 wn12",
    ],
)
def test_a_date_only_tag_in_the_site_s_spelling_is_filed_by_date(
    app: App, subject: str
) -> None:
    found = find_tags(subject, "EGI")
    assert found.date_only == ("EGI-20261204",)
    assert "2026" not in without_tags(subject, "EGI")
    assert report(app) == MINE
    assert send(app, subject, "2026-12-04T13:00", 1) == MINE
    assert tags(app) == [MINE]
    assert len(outbox(app, "acknowledgement")) == 1


def test_a_date_read_two_ways_names_no_day() -> None:
    assert find_tags("Re: EGI 07/12/2026 wn12", "EGI").date_only == ()


@pytest.mark.parametrize(
    ("subject", "date_only"),
    [
        # A slash the tag is not written with, after a date with dashes or
        # whole: "07/08" is the 7th and the 8th, no counter 08 (written
        # whole, the date was read with counter 08).
        ("Re: EGI 2026-12-07/08 scans from 203.0.113.9", "EGI-20261207"),
        ("Re: [EGI-2026-12-07/08] scans", "EGI-20261207"),
        ("EGI 07.12.2026/08 logins", "EGI-20261207"),
        ("Re: [EGI-20261207/08] scans", "EGI-20261207"),
        ("Re: EGI 20261207/08 scans", "EGI-20261207"),
        ("Re: EGI_20261207/08 scans", "EGI-20261207"),
        ("Re: EGI/2026-12-07/08 scans", "EGI-20261207"),
        # A time glued to the date by a dot is no counter either.
        ("Re: EGI-20261207.08:30 scans", "EGI-20261207"),
    ],
)
def test_a_lone_slash_the_tag_is_not_written_with_is_a_range_of_days(
    subject: str, date_only: str
) -> None:
    found = find_tags(subject, "EGI")
    assert found.loose == () and found.full == () and found.cut == (), found
    assert found.date_only == (date_only,), found


@pytest.mark.parametrize(
    "written",
    [
        # Slashes throughout.
        "EGI/20261207/08", "EGI/2026/12/07/08", "EGI-2026/12/07/08",
        # A dot writes no range of days: after any date it is a counter's
        # (after a date with dashes no tag at all was read).
        "EGI.07.12.2026.08", "EGI-20261207.08", "EGI-2026-12-07.08",
        "EGI 2026-12-07.08", "EGI_2026_12_07.08", "EGI-07-12-2026.08",
    ],
)  # fmt: skip
def test_a_lone_dot_or_the_tag_s_own_slash_is_a_counter(written: str) -> None:
    found = find_tags(f"Re: [{written}] x", "EGI")
    assert found.loose[:1] == ("EGI-20261207-08",), found
    assert found.date_only[:1] == ("EGI-20261207",), found
    assert "08" not in without_tags(f"Re: [{written}] x", "EGI")
