"""`mailbot render`: what a reminder or acknowledgement looks like now."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from pathlib import Path

import pytest
from mailbot_env import make_app
from opsenv import cli_env, known_database, run_cli
from sqlalchemy import select

from mailbot import incidents, preview
from mailbot.db.models import Deadline, Mail, Outbox
from mailbot.errors import MailbotError


def _sent_body(app, purpose: str, tag: str) -> str:  # type: ignore[no-untyped-def]
    with app.db.transaction() as session:
        raw = session.scalars(
            select(Mail.raw)
            .join(Outbox, Outbox.mail_id == Mail.id)
            .where(Outbox.purpose == purpose, Mail.subject.contains(tag))
        ).one()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    return message["Subject"], message.get_content().replace("\r\n", "\n")


def test_preview_matches_what_was_sent(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path, database_url)
    known_database(app)
    # The sweep of Monday 08:00 sent SITE-A its first containment reminder.
    shown = preview.preview(app, "reminder-1", "EGI-20261204-01")
    subject, body = _sent_body(app, "chase-containment-1", "EGI-20261204-01")
    assert (shown.subject, shown.body) == (subject, body)
    assert shown.to == ["admin@site-a.example.com", "admin-old@site-a.example.com"]
    # The acknowledgement, rendered today, says what was sent on Friday.
    app.clock.set(dt.datetime(2026, 12, 4, 16, 30, tzinfo=dt.UTC))
    ack = preview.preview(app, "acknowledgement.txt.j2", "EGI-20261204")
    assert (ack.subject, ack.body) == _sent_body(
        app, "acknowledgement", "EGI-20261204-01"
    )
    assert ack.to == ["admin@site-a.example.com"]
    app.close()


def test_render_command_sends_nothing(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path, database_url)
    known_database(app)
    with app.db.transaction() as session:
        before = len(list(session.scalars(select(Outbox.id))))
    env = cli_env(app)
    now = ("--now", "2026-12-07T09:00:00Z")
    second = run_cli(env, *now, "render", "reminder-2", "--incident", "EGI-20261204-01")
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith(
        "From: abuse@csirt.example.org\nTo: admin@site-a.example.com, "
        "admin-old@site-a.example.com\nCc: ngi-sec@ngi-a.example.org\n"
        "Subject: [EGI-20261204-01] [TLP:AMBER] "
    )
    assert "\n\nTLP:AMBER\n\n" in second.stdout
    escalation = run_cli(
        env, *now, "render", "escalation", "--incident", "EGI-20261204-01"
    )
    assert "To: duty@csirt.example.org\n" in escalation.stdout
    digest = run_cli(env, *now, "render", "digest")
    assert "EGI-20261204-02  SITE-C" in digest.stdout
    assert digest.stdout.startswith(
        "From: abuse@csirt.example.org\nTo: duty@csirt.example.org\n"
    )
    with app.db.transaction() as session:
        assert len(list(session.scalars(select(Outbox.id)))) == before
    missing = run_cli(env, "render", "reminder-1")
    assert missing.returncode == 2 and "--incident" in missing.stderr
    unknown = run_cli(env, "render", "reminder-1", "--incident", "EGI-20991231-01")
    assert unknown.returncode == 1 and "no incident 'EGI-20991231-01'" in unknown.stderr
    wrong = run_cli(env, "render", "nonsense", "--incident", "EGI-20261204-01")
    assert wrong.returncode == 2 and "reminder-1" in wrong.stderr
    assert "Security incident suspected at SITE-A" in second.stdout.split("\n")[3]
    app.close()


def test_a_reminder_of_clocks_met_is_not_shown(
    tmp_path: Path, database_url: str
) -> None:
    """`render reminder-1` of an incident whose clocks are met showed a
    reminder of the latest one, which the sweep never sends."""
    app = make_app(tmp_path, database_url)
    known_database(app)
    met = dt.datetime(2026, 12, 5, 9, 0, tzinfo=dt.UTC)
    with app.db.transaction() as session:
        incident = incidents.by_tag(session, "EGI-20261204-01")
        assert incident is not None
        for deadline in session.scalars(
            select(Deadline).where(Deadline.incident_id == incident.id)
        ):
            if deadline.met_at is None:
                deadline.met_at, deadline.state = met, "missed"
    for rule in (None, "containment"):
        with pytest.raises(MailbotError) as nothing:
            preview.preview(app, "reminder-1", "EGI-20261204-01", rule)
        said = str(nothing.value)
        assert said.startswith(
            "EGI-20261204-01: nothing is owed, the sweep sends no reminder ("
        )
        assert "containment met 2026-12-05T09:00:00Z" in said
        assert said.endswith(
            "render one for a clock not met (`mailbot deadlines` lists them)"
        )
    # A clock still owed is shown as before.
    assert preview.preview(app, "reminder-1", "EGI-20261204-02").to
    app.close()
