"""What makes `poll` exit 1 for a template fault: a mail set aside for it
in this run, the new ones and the ones of earlier passes retried now alike.

A mail held from an earlier pass, not retried yet, is no fault found now:
the pass exits 0. A retry that met the same fault again was only logged:
the pass exited 0 and said "0 quarantined".
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from mailbot_env import make_app
from opsenv import cli_env, run_cli
from sqlalchemy import select
from test_templates_config import ACK, NOW, _custom, _report

from mailbot.app import App
from mailbot.db.models import Mail

# A branch no sample value takes: the start-up check passes it.
BROKEN = (
    "Subject: Received\n\n{% if greeting != 'Jane Doe' %}{{ nope }}{% endif %}thanks.\n"
)


def _broken(tmp_path: Path, database_url: str) -> tuple[App, dict[str, str]]:
    """An App, and the environment of a command using the broken template."""
    app = make_app(tmp_path, database_url, now=NOW)
    folder = _custom(tmp_path, BROKEN)
    return app, cli_env(app, MAILBOT_TEMPLATES_DIRECTORY=str(folder))


def _poll(env: dict[str, str], minutes: int) -> tuple[int, str, list[str]]:
    at = (NOW + dt.timedelta(minutes=minutes)).isoformat()
    done = run_cli(env, "--now", at, "poll")
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout, done.stderr.splitlines()


def test_poll_fails_for_a_fault_met_in_its_own_run_only(
    tmp_path: Path, database_url: str
) -> None:
    app, env = _broken(tmp_path, database_url)
    folder = tmp_path / "tmpl"
    _report(tmp_path, 1)
    status, _, said = _poll(env, 1)
    assert status == 1, said
    assert said[-1].startswith("mailbot: poll: 1 of 1 mail(s) were set aside"), said

    # The mail held, its retry not due yet: nothing met the fault now.
    status, out, said = _poll(env, 2)
    assert status == 0, said
    assert "fetched: 0" in out and "quarantined: 0" in out, out

    # Its retry is due (5 minutes after the attempt): set aside again for
    # the same template, found in this run, named with what to do.
    status, _, said = _poll(env, 8)
    assert status == 1, said
    last = said[-1]
    assert last.startswith(
        "mailbot: poll: 1 mail(s) of an earlier pass, retried, were set aside"
        " again for a fault of the configuration, not of the mail: TemplateFault:"
        f" template {folder / ACK} line 3: UndefinedError: 'nope' is undefined"
    ), last
    assert "correct the template" in last
    assert "`mailbot quarantine retry ID`" in last

    # Corrected, the next due retry takes it in: exit 0.
    (folder / ACK).write_text("Subject: Received\n\nthanks.\n", encoding="utf-8")
    status, _, said = _poll(env, 30)
    assert status == 0, said
    with app.db.transaction() as session:
        states = session.scalars(select(Mail.state).where(Mail.direction == "in"))
        assert list(states) == ["processed"]
    app.close()


def test_new_and_retried_faults_are_told_together(
    tmp_path: Path, database_url: str
) -> None:
    app, env = _broken(tmp_path, database_url)
    _report(tmp_path, 1)
    assert _poll(env, 1)[0] == 1
    _report(tmp_path, 2)
    status, _, said = _poll(env, 8)
    assert status == 1, said
    assert said[-1].startswith(
        "mailbot: poll: 1 of 1 mail(s), and 1 of an earlier pass retried, were"
        " set aside for a fault of the configuration, not of the mail:"
    ), said
    app.close()
