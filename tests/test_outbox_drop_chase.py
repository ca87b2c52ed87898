"""A reminder dropped unsent (`outbox drop`) reached no one: its level is
not counted as chased, the next sweep asks that level again, and no later
mail cites the dropped one (DOMAIN.md: chase the site, then again with the
NGI in copy, then tell the duty team; each step follows a reminder the site
got)."""

from __future__ import annotations

import test_sweep_reminders as chased
from test_sweep_reminders import NGI_CONTACT, SITE_CONTACTS, analysis, at, reminders

from mailbot import views
from mailbot.app import App
from mailbot.db.models import Chase, Outbox
from mailbot.deadlines.sweep import sweep
from mailbot.outbox_admin import settle

# The fixtures of test_sweep_reminders: the site's report, a member's request
# on Friday 2026-12-04, its analysis clock due on Monday 10:00 UTC.
new_app = chased.new_app
app = chased.app


def _row(app: App, purpose: str) -> int:
    with app.db.transaction() as session:
        rows = session.query(Outbox).filter_by(purpose=purpose, state="pending")
        return rows.one().id


def test_a_dropped_reminder_is_asked_again_and_never_cited(app: App) -> None:
    at(app, "2026-12-07T10:00:00")
    assert sweep(app)["reminders"] == 1
    [(_, _, dropped)] = reminders(app)
    at(app, "2026-12-07T10:30:00")
    assert settle(app, _row(app, "chase-analysis-1"), "drop", "wrong text") == (
        "dropped"
    )
    # Not counted as sent: the clock is back at level 0, looked at now.
    clock = analysis(app)
    assert (clock.level, clock.next_action_at) == (0, app.clock.now())
    with app.db.transaction() as session:
        assert session.query(Chase).count() == 0
    audit = views.show(app, "EGI-20261203-01")["audit"]
    [entry] = [a for a in audit if a["action"] == "outbox_drop"]
    assert (
        "wrong text; reached no one: clock analysis level 1 asked again"
        in (entry["detail"])
    )
    # The next sweep asks level 1 again, to the site alone, citing nothing
    # the site never got.
    at(app, "2026-12-07T10:45:00")
    assert sweep(app)["reminders"] == 1
    (_, rcpts, again) = reminders(app)[-1]
    assert again["Message-ID"] != dropped["Message-ID"]
    assert rcpts == SITE_CONTACTS
    assert again["In-Reply-To"] == "<request-1@csirt.example.org>"
    assert dropped["Message-ID"] not in again["References"]
    # One working day after it, level 2: the NGI in copy, citing the first
    # reminder the site got, not the dropped one.
    at(app, "2026-12-08T10:00:00")
    assert sweep(app)["reminders"] == 0
    at(app, "2026-12-08T10:45:00")
    assert sweep(app)["reminders"] == 1
    (purpose, rcpts, second) = reminders(app)[-1]
    assert (purpose, rcpts) == ("chase-analysis-2", [*SITE_CONTACTS, NGI_CONTACT])
    assert second["In-Reply-To"] == again["Message-ID"]
    assert dropped["Message-ID"] not in second["References"]


def test_a_dropped_reminder_of_a_met_clock_asks_nothing(app: App) -> None:
    at(app, "2026-12-07T10:00:00")
    assert sweep(app)["reminders"] == 1
    with app.db.transaction() as session:
        session.query(type(analysis(app))).filter_by(rule="analysis").update(
            {"met_at": app.clock.now(), "state": "met", "next_action_at": None}
        )
    settle(app, _row(app, "chase-analysis-1"), "drop")
    assert analysis(app).next_action_at is None
    at(app, "2026-12-08T10:00:00")
    assert sweep(app)["reminders"] == 0
