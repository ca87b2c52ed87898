"""`mailbot render reminder-N`: the mail the sweep will really send.

SITE-P's containment and a member's request both fall due at Tuesday's
opening (test_reminders_together): the sweep sends one mail listing both.
`render reminder-1` showed the first reminder of one clock alone, a mail
that never leaves; it now shows the one mail, and says which clocks it
covers and when it leaves.
"""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest
from mailbot_env import T, make_app
from opsenv import cli_env, run_cli
from sqlalchemy import select
from test_sweep_reminders import NGI_CONTACT, SITE_CONTACTS, SITES
from test_together_env import (
    OWN_LEVEL_ONE,
    TAG,
    TUESDAY,
    third_party_report,
    with_templates,
)

from mailbot import preview
from mailbot.app import App
from mailbot.db.models import Mail, Outbox
from mailbot.deadlines.sweep import sweep

# The `site_p` fixture: SITE-P's report, and Alice's request on Monday.
pytest_plugins = ("test_together_env",)


@pytest.fixture
def app(site_p: App) -> App:
    return site_p


def queued(app: App, purpose: str) -> tuple[str, str]:
    """(subject, body) of the mail queued with `purpose`."""
    with app.db.transaction() as session:
        raw = session.scalars(
            select(Mail.raw)
            .join(Outbox, Outbox.mail_id == Mail.id)
            .where(Outbox.purpose == purpose)
        ).one()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    body = message.get_content().replace("\r\n", "\n")  # type: ignore[attr-defined]
    return str(message["Subject"]), body


def test_render_shows_the_one_mail_of_the_clocks_due_together(app: App) -> None:
    app.clock.set(T("2026-12-07T17:00:00"))
    shown = {
        rule: preview.preview(app, "reminder-1", TAG, rule)
        for rule in (None, "analysis", "containment")
    }
    # Whichever clock is asked for, it is the one mail that lists both.
    assert len({(s.subject, s.body, tuple(s.to)) for s in shown.values()}) == 1
    one = shown[None]
    said = " ".join(one.body.split())
    assert "1. answer EGI CSIRT's request" in said
    assert "2. isolate the compromised systems" in said
    assert one.covers == (
        f"{TAG}: one mail for 2 clocks of SITE-P: analysis level 1 due"
        " 2026-12-07T16:00:00Z; containment level 1 due 2026-12-07T20:00:00Z;"
        " the sweep sends it at 2026-12-08T08:00:00Z (Tue 2026-12-08 09:00 CET)"
        " with reminder-1.txt.j2"
    )
    # What the sweep sends at that time is what was shown.
    app.clock.set(T(TUESDAY))
    assert sweep(app)["reminders"] == 1
    assert queued(app, "chase-analysis+containment-1") == (one.subject, one.body)
    assert one.to == SITE_CONTACTS


def test_render_command_says_which_clocks_the_mail_covers(app: App) -> None:
    env = cli_env(app)
    now = ("--now", "2026-12-07T17:00:00Z")
    run = run_cli(env, *now, "render", "reminder-1", "--incident", TAG)
    assert run.returncode == 0, run.stderr
    # The standard output is the mail alone; the note goes to stderr.
    assert run.stdout.startswith("From: abuse@csirt.example.org\nTo: ")
    assert "one mail for 2 clocks of SITE-P" in run.stderr
    assert "containment level 1 due 2026-12-07T20:00:00Z" in run.stderr
    assert "one mail for" not in run.stdout


def test_render_shows_a_first_reminder_in_the_mail_of_a_second_one(
    tmp_path: Path, database_url: str
) -> None:
    # The 4-hour report's second reminder and containment's first fall on
    # Wednesday's opening: containment's first reminder leaves in a level-2
    # mail, the NGI in copy (test_reminders_together).
    app = make_app(tmp_path, database_url, now=T("2026-12-07T19:00:00"), sites=SITES)
    tag = third_party_report(app)
    app.clock.set(T(TUESDAY))
    assert sweep(app)["reminders"] == 1
    shown = preview.preview(app, "reminder-1", tag, "containment")
    assert shown.cc == [NGI_CONTACT]
    assert shown.covers is not None
    assert "report level 2 due" in shown.covers
    assert "containment level 1 due" in shown.covers
    assert shown.covers.endswith("with reminder-2.txt.j2")
    app.clock.set(T("2026-12-09T08:00:00"))
    assert sweep(app)["reminders"] == 1
    assert queued(app, "chase-report+containment-2") == (shown.subject, shown.body)
    app.close()


def test_a_clock_no_longer_planned_is_shown_alone(app: App) -> None:
    # Both first reminders went: rendering level 1 again shows a clock's
    # own mail, and says none is planned.
    app.clock.set(T(TUESDAY))
    sweep(app)
    shown = preview.preview(app, "reminder-1", TAG, "containment")
    assert shown.covers is not None
    assert shown.covers.startswith(f"{TAG}: one mail for 1 clock of SITE-P")
    assert "no reminder of this level is planned" in shown.covers
    assert "answer EGI CSIRT's request" not in shown.body


def test_a_rules_own_template_is_rendered_for_its_clock_alone(
    tmp_path: Path, database_url: str
) -> None:
    # reminder-1-analysis.txt.j2 is written for the request alone: the
    # sweep sends it a mail of its own, and containment's goes apart.
    files = {"reminder-1-analysis.txt.j2": OWN_LEVEL_ONE}
    app = with_templates(tmp_path, database_url, files)
    analysis = preview.preview(app, "reminder-1", TAG, "analysis")
    containment = preview.preview(app, "reminder-1", TAG, "containment")
    named = preview.preview(app, "reminder-1-analysis", TAG)
    assert analysis.body.endswith("SITE-P: analysis.\n")
    assert (named.subject, named.body) == (analysis.subject, analysis.body)
    assert named.covers is not None and named.covers.endswith(
        "shown for this clock alone with reminder-1-analysis.txt.j2"
    )
    assert containment.covers is not None
    assert containment.covers.startswith(f"{TAG}: one mail for 1 clock of SITE-P")
    assert "answer EGI CSIRT's request" not in containment.body
    app.clock.set(T(TUESDAY))
    assert sweep(app)["reminders"] == 2
    assert queued(app, "chase-analysis-1") == (analysis.subject, analysis.body)
    assert queued(app, "chase-containment-1") == (
        containment.subject,
        containment.body,
    )
    app.close()
