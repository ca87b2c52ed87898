"""`mailbot deadlines --json`: one rule per field, the mail's rules grouped.

A mail reminding SITE-P of its request and its containment at once had
`"rule": "analysis+containment"`, a name no rule has: a reader matching
`rule` against the configured rules found none. `rule` is now the rule of
the clock the mail is addressed and worded by, `rules` lists every rule
of the mail, and each entry of `clocks` keeps its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mailbot_env import T, make_app
from opsenv import cli_env, run_cli
from test_sweep_reminders import SITES
from test_together_env import TAG, third_party_report

from mailbot.app import App
from mailbot.deadlines import DEFAULT_RULES

# The `site_p` fixture: SITE-P's report, and Alice's request on Monday.
pytest_plugins = ("test_together_env",)


@pytest.fixture
def app(site_p: App) -> App:
    return site_p


def planned(app: App, now: str) -> list[dict[str, object]]:
    run = run_cli(cli_env(app), "--now", now, "deadlines", "--json")
    assert run.returncode == 0, run.stderr
    return list(json.loads(run.stdout))


def test_each_field_names_one_rule(app: App) -> None:
    mails = planned(app, "2026-12-07T17:00:00Z")
    assert [m["rule"] for m in mails] == ["analysis", "analysis", "analysis"]
    for mail in mails:
        assert mail["rules"] == ["analysis", "containment"]
        assert mail["deadlines"] == 2
        assert [c["rule"] for c in mail["clocks"]] == ["analysis", "containment"]
        assert mail["tag"] == TAG
    known = {rule.name for rule in DEFAULT_RULES}
    for mail in mails:
        names = [mail["rule"], *mail["rules"], *(c["rule"] for c in mail["clocks"])]
        assert set(names) <= known, names


def test_rule_is_the_clock_the_mail_is_worded_by(
    tmp_path: Path, database_url: str
) -> None:
    # Wednesday: the report's second reminder with containment's first,
    # worded and addressed as level 2 (the NGI in copy): its rule is the
    # report's.
    other = make_app(tmp_path, database_url, now=T("2026-12-07T19:00:00"), sites=SITES)
    tag = third_party_report(other)
    [wednesday] = [
        m for m in planned(other, "2026-12-07T19:30:00Z")
        if m["at"] == "2026-12-09T08:00:00Z"
    ]  # fmt: skip
    assert (wednesday["tag"], wednesday["level"]) == (tag, 2)
    assert wednesday["rule"] == "report"
    assert wednesday["rules"] == ["report", "containment"]
    assert [(c["rule"], c["level"]) for c in wednesday["clocks"]] == [
        ("report", 2),
        ("containment", 1),
    ]
    other.close()
