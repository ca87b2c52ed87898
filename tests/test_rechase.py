"""A clock moved to a later due time is chased afresh (a breaker's
repro-10 and repro-13): the site is reminded for the real due time before
the CSIRT is told it stayed silent, and `mailbot deadlines` says what the
sweep will do."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from mailbot_env import mail, make_app
from test_site_wording import REPORT
from test_sweep_reminders import AUTHENTICATED, SITES, TAG, at, feed, reminders

from mailbot.app import App
from mailbot.db.models import Deadline
from mailbot.deadlines.forecast import forecast
from mailbot.deadlines.sweep import sweep

UTC = dt.UTC


def command(app: App, text: str, n: int) -> None:
    """A CSIRT member's command mail, to the mailbox only (no request)."""
    now = app.clock.now().strftime("%a, %d %b %Y %H:%M:%S +0000")
    raw = mail(
        subject=f"Re: [{TAG}] Security incident suspected at SITE-P",
        sender="Alice <alice@csirt.example.org>",
        message_id=f"<command-{n}@csirt.example.org>",
        date=now,
        headers={**AUTHENTICATED, "In-Reply-To": "<report@site-p.example.org>"},
        body=text + "\n",
    )
    assert feed(app, raw) == TAG


def when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[App]:
    made = make_app(tmp_path, database_url, now=when("2026-12-03T09:00"), sites=SITES)
    # SITE-P reports a miner and says nothing of isolation or a downtime.
    assert feed(made, REPORT) == TAG
    yield made
    made.close()


def purposes(app: App, rule: str) -> list[str]:
    return [p for p, _, _ in reminders(app) if p.startswith(f"chase-{rule}-")]


def closure(app: App) -> list[Deadline]:
    with app.db.transaction() as session:
        query = session.query(Deadline).filter_by(rule="closure_report")
        return list(query.order_by(Deadline.id))


def test_a_resolution_moved_later_chases_the_closure_report_afresh(
    app: App,
) -> None:
    at(app, "2026-12-03T10:00")
    command(app, "#resolved 2026-12-03T10:00:00Z", 1)
    at(app, "2027-01-04T09:00")
    sweep(app)
    at(app, "2027-01-05T09:00")
    sweep(app)
    assert purposes(app, "closure_report") == [
        "chase-closure_report-1",
        "chase-closure_report-2",
    ]
    # The real resolution, recorded late: the report is due a month on.
    at(app, "2027-01-05T10:00")
    command(app, "#resolved 2027-01-05T09:30:00Z", 2)
    old, new = closure(app)
    assert (old.state, old.level) == ("cancelled", 2)
    assert (new.state, new.level) == ("pending", 0)
    assert new.due_at == when("2027-02-05T09:30")
    # Forecast and sweep agree: level 1 to the site at the new due time,
    # nothing before it.
    planned = [(p.at, p.level) for p in forecast(app)]
    assert planned[0] == (when("2027-02-05T09:30"), 1)
    for moment in ("2027-01-05T11:00", "2027-01-07T10:00", "2027-02-05T09:29"):
        at(app, moment)
        sweep(app)
    assert len(purposes(app, "closure_report")) == 2
    at(app, "2027-02-05T09:30")
    sweep(app)
    assert purposes(app, "closure_report")[2:] == ["chase-closure_report-1"]


def test_a_discovery_moved_later_chases_containment_afresh(app: App) -> None:
    at(app, "2026-12-04T09:00")
    sweep(app)
    assert purposes(app, "containment") == ["chase-containment-1"]
    # The discovery was a day later than the site wrote.
    at(app, "2026-12-04T10:00")
    command(app, "#discovered 2026-12-04T09:50:00Z", 1)
    with app.db.transaction() as session:
        rows = session.query(Deadline).filter_by(rule="containment")
        found = [(d.state, d.level, d.due_at) for d in rows.order_by(Deadline.id)]
    assert found[0][:2] == ("cancelled", 1)
    assert found[1] == ("pending", 0, when("2026-12-05T09:50"))
    # Saturday: the first reminder waits for the site's working hours.
    at(app, "2026-12-07T09:00")
    sweep(app)
    assert purposes(app, "containment") == ["chase-containment-1"] * 2


def test_a_discovery_a_member_moves_past_the_lateness_is_chased_from_now(
    app: App,
) -> None:
    # On Monday a member learns that the discovery was 17 days before: the
    # containment, due 16 days ago, is missed, first seen in a mail of now,
    # so chased (the lateness is for mail that reaches mailbot late).
    at(app, "2026-12-07T09:00")
    command(app, "#discovered 2026-11-20T10:00:00Z", 1)
    with app.db.transaction() as session:
        [deadline] = session.query(Deadline).filter_by(rule="containment").all()
        assert deadline.due_at == when("2026-11-21T10:00")
        assert deadline.state == "missed" and deadline.next_action_at is not None
    [planned] = [p for p in forecast(app) if p.rule == "containment"][:1]
    assert (planned.at, planned.level) == (when("2026-12-07T09:00"), 1)
    sweep(app)
    assert purposes(app, "containment") == ["chase-containment-1"]
