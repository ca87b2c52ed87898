"""`mailbot deadlines`: the forecast says what the sweep then does.

The scenario is the silent site of test_sweep_reminders (a CSIRT request
on Friday 2026-12-04 14:00 UTC to a site in Europe/Paris, due Monday 10:00
UTC). The strongest check is the first: the sweep, run at each forecast
time, sends exactly the forecast mails to exactly the forecast people.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_rechase import command
from test_sweep_reminders import (
    DUTY,
    NGI_CONTACT,
    OLD_DISCOVERY,
    SITE_CONTACTS,
    TAG,
    App,
    Callable,
    analysis,
    at,
    bounce_for,
    containment,
    feed,
    new_app,  # noqa: F401 - a fixture the `app` fixture uses
    on_holiday,
    reminders,
    request,
)
from test_sweep_reminders import app as app  # noqa: F401 - the scenario fixture

from mailbot.cli import main
from mailbot.db.models import Deadline
from mailbot.deadlines.forecast import Planned, forecast, forecast_text
from mailbot.deadlines.sweep import sweep

UTC = dt.UTC


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_forecast_is_what_the_sweep_then_does(app: App) -> None:
    at(app, "2026-12-04T14:05:00")
    planned = forecast(app)
    assert [(p.at, p.level, p.action) for p in planned] == [
        (utc("2026-12-07T10:00:00"), 1, "reminder"),
        (utc("2026-12-08T10:00:00"), 2, "reminder"),
        (utc("2026-12-09T10:00:00"), 3, "escalation"),
    ]
    assert [(p.tag, p.rule, p.site) for p in planned] == [
        (TAG, "analysis", "SITE-P")
    ] * 3
    assert [(list(p.to), list(p.cc)) for p in planned] == [
        (SITE_CONTACTS, []),
        (SITE_CONTACTS, [NGI_CONTACT]),
        ([DUTY], []),
    ]
    # Sweeping at each forecast time sends that mail, to those people.
    for step in planned:
        app.clock.set(step.at - dt.timedelta(seconds=1))
        assert sweep(app)["reminders"] == 0
        app.clock.set(step.at)
        assert sweep(app)["reminders"] == 1
    sent = reminders(app)
    assert [r for _, r, _ in sent] == [[*p.to, *p.cc] for p in planned]
    assert forecast(app) == []


def test_requests_due_together_are_one_mail_in_forecast_and_sweep(app: App) -> None:
    # A second member asks too, in the same second: both requests fall due
    # together, and one mail reminds of both.
    feed(app, request("Fri, 04 Dec 2026 14:00:00 +0000", n=2))
    planned = forecast(app)
    assert [(p.at, p.level, p.deadlines) for p in planned] == [
        (utc("2026-12-07T10:00:00"), 1, 2),
        (utc("2026-12-08T10:00:00"), 2, 2),
        (utc("2026-12-09T10:00:00"), 3, 2),
    ]
    assert "level 1 reminder for 2 deadlines" in forecast_text(planned)
    for step in planned:
        app.clock.set(step.at)
        assert sweep(app)["reminders"] == 1
    assert [p for p, _, _ in reminders(app)] == [
        "chase-analysis-1", "chase-analysis-2", "chase-analysis-3",
    ]  # fmt: skip
    with app.db.transaction() as session:
        levels = [d.level for d in session.query(Deadline).filter_by(rule="analysis")]
    assert levels == [3, 3]
    assert forecast(app) == []


def test_a_request_due_seconds_later_is_its_own_mail(app: App) -> None:
    # A second member asks 40 s later: the mail of the first request, sent
    # before the second is due, does not name it, so the second is reminded
    # in a mail of its own when it falls due, as the forecast says.
    at(app, "2026-12-04T14:00:40")
    feed(app, request("Fri, 04 Dec 2026 14:00:40 +0000", n=2))
    planned = forecast(app)
    assert [(p.at, p.level, p.deadlines) for p in planned] == [
        (utc("2026-12-07T10:00:00"), 1, 1),
        (utc("2026-12-07T10:00:40"), 1, 1),
        (utc("2026-12-08T10:00:00"), 2, 1),
        (utc("2026-12-08T10:00:40"), 2, 1),
        (utc("2026-12-09T10:00:00"), 3, 1),
        (utc("2026-12-09T10:00:40"), 3, 1),
    ]
    # The daemon sweeps every minute: each mail goes when forecast.
    for step in planned:
        app.clock.set(step.at)
        assert sweep(app)["reminders"] == 1
    assert len(reminders(app)) == 6
    assert forecast(app) == []


def test_the_forecast_counts_from_the_reminders_already_sent(app: App) -> None:
    at(app, "2026-12-07T10:00:00")
    sweep(app)
    at(app, "2026-12-07T12:00:00")
    assert [(p.at, p.level) for p in forecast(app)] == [
        (utc("2026-12-08T10:00:00"), 2),
        (utc("2026-12-09T10:00:00"), 3),
    ]


def test_the_forecast_window(app: App) -> None:
    at(app, "2026-12-04T14:05:00")
    assert [p.level for p in forecast(app, utc("2026-12-07T10:00:00"))] == [1]
    assert forecast(app, utc("2026-12-07T09:59:59")) == []


def test_a_bounced_contact_is_left_out_of_the_forecast(app: App) -> None:
    bounce_for(app, "security@site-p.example.org")
    at(app, "2026-12-04T14:05:00")
    assert [list(p.to) for p in forecast(app)][:2] == [["admin@site-p.example.org"]] * 2


def test_a_deadline_past_the_lateness_shows_as_recorded_missed(app: App) -> None:
    at(app, "2026-12-15T09:00:00")
    [planned] = forecast(app)
    assert (planned.action, planned.to, planned.at) == ("too_late", (), app.clock.now())
    assert "recorded missed, nothing sent" in forecast_text([planned])
    sweep(app)
    assert (analysis(app).state, forecast(app)) == ("missed", [])


def test_a_miss_seen_in_time_is_forecast_as_chased_after_a_long_holiday(
    tmp_path: Path, database_url: str
) -> None:
    # Due on 2026-12-24, the first of 16 holidays of the site: the sweep
    # records the miss then, and the reminders follow the holidays.
    app = on_holiday(tmp_path, database_url)
    chased = [
        (utc("2027-01-11T08:00:00"), 1, "reminder"),
        (utc("2027-01-12T08:00:00"), 2, "reminder"),
        (utc("2027-01-13T08:00:00"), 3, "escalation"),
    ]
    at(app, "2026-12-23T10:01:00")
    assert [(p.at, p.level, p.action) for p in forecast(app)] == chased
    at(app, "2026-12-24T09:35:00")
    sweep(app)
    at(app, "2026-12-24T09:36:00")
    planned = forecast(app)
    assert [(p.at, p.level, p.action) for p in planned] == chased
    for step in planned:
        app.clock.set(step.at)
        assert sweep(app)["reminders"] == 1
    assert forecast(app) == []


def test_a_fresh_report_of_an_old_discovery_is_forecast_as_chased(
    new_app: Callable[..., App],  # noqa: F811 - the fixture
) -> None:
    app = new_app("2026-12-07T08:00:00")
    feed(app, OLD_DISCOVERY)
    at(app, "2026-12-07T08:01:00")
    planned = forecast(app)
    assert [(p.at, p.rule, p.level, p.action) for p in planned] == [
        (utc("2026-12-07T08:01:00"), "containment", 1, "reminder"),
        (utc("2026-12-08T08:01:00"), "containment", 2, "reminder"),
        (utc("2026-12-09T08:01:00"), "containment", 3, "escalation"),
    ]
    for step in planned:
        app.clock.set(step.at)
        assert sweep(app)["reminders"] == 1
    assert containment(app).level == 3


def test_a_level_nobody_can_receive_is_shown(app: App) -> None:
    for address in SITE_CONTACTS:
        bounce_for(app, address)
    at(app, "2026-12-04T14:05:00")
    first = forecast(app)[0]
    assert (first.action, first.to) == ("unsent", ())
    assert "NO reachable recipient" in forecast_text([first])


def test_a_met_clock_forecasts_nothing(app: App) -> None:
    at(app, "2026-12-04T15:00:00")
    feed(
        app,
        __import__("test_sweep_reminders").site_reply(
            "Fri, 04 Dec 2026 15:00:00 +0000"
        ),
    )
    assert forecast(app) == []


def test_text_lines() -> None:
    planned = Planned(
        at=utc("2026-12-08T10:00:00"),
        tag=TAG,
        rule="analysis",
        site="SITE-P",
        level=2,
        action="reminder",
        to=("a@site-p.example.org",),
        cc=(NGI_CONTACT,),
        due_at=utc("2026-12-07T10:00:00"),
        local_time="Tue 2026-12-08 11:00 CET",
    )
    assert forecast_text([planned]).splitlines() == [
        f"2026-12-08T10:00:00Z (Tue 2026-12-08 11:00 CET)  {TAG}  analysis  SITE-P  "
        "level 2 reminder",
        f"    to a@site-p.example.org  cc {NGI_CONTACT}  (due 2026-12-07T10:00:00Z)",
    ]
    assert forecast_text([]) == "nothing will be sent"


@pytest.fixture
def own_logging() -> Iterator[None]:
    """main() logs to the captured stderr; take its handler away afterwards.

    Left in place, it would outlive the capture, and the SMTP server threads
    of later tests would log into a closed file.
    """
    root = logging.getLogger()
    level = root.level
    yield
    # pytest's own handlers are subclasses; mailbot's is a plain StreamHandler.
    root.handlers[:] = [
        h for h in root.handlers if type(h) is not logging.StreamHandler
    ]
    root.setLevel(level)


def write_config(app: App, tmp_path: Path) -> Path:
    s = app.settings
    path = tmp_path / "cli.toml"
    path.write_text(
        f"""
[mailbot]
address = "{s.mailbot.address}"
[database]
url = "{s.database.url}"
[source]
kind = "maildir"
[maildir]
path = "{tmp_path / "inbox"}"
[smtp]
kind = "maildir"
path = "{tmp_path / "sent"}"
[csirt]
duty_address = "{DUTY}"
[sites]
file = "{s.sites.file}"
""",
        encoding="utf-8",
    )
    return path


def test_the_command(
    app: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(app, tmp_path))
    now = ["--config", config, "--now", "2026-12-04T14:05:00Z", "deadlines"]
    assert main([*now, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["at"], r["level"], r["to"], r["cc"]) for r in rows] == [
        ("2026-12-07T10:00:00Z", 1, SITE_CONTACTS, []),
        ("2026-12-08T10:00:00Z", 2, SITE_CONTACTS, [NGI_CONTACT]),
        ("2026-12-09T10:00:00Z", 3, [DUTY], []),
    ]
    assert set(rows[0]) == {
        "at", "tag", "rule", "rules", "site", "level", "action", "to", "cc",
        "due_at", "site_local_time", "deadlines", "cap", "reason", "clocks",
    }  # fmt: skip
    assert rows[0]["rules"] == ["analysis"]
    # Each deadline the mail chases: its rule, level and due time.
    assert rows[0]["clocks"] == [
        {"rule": "analysis", "level": 1, "due_at": "2026-12-07T10:00:00Z"}
    ]
    assert (rows[0]["deadlines"], rows[0]["cap"], rows[0]["reason"]) == (1, None, None)
    assert main([*now, "--due-within", "4 days", "--json"]) == 0
    assert [r["level"] for r in json.loads(capsys.readouterr().out)] == [1, 2]
    assert main(now) == 0
    assert "level 3 notice to the CSIRT" in capsys.readouterr().out


@pytest.mark.usefixtures("own_logging")
def test_a_bad_window_names_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The argument is checked before any configuration or database is read.
    assert main(["--config", str(tmp_path / "none.toml"), "deadlines",
                 "--due-within", "soon"]) == 2  # fmt: skip
    error = capsys.readouterr().err
    assert "--due-within" in error and "'soon' is not a duration" in error


def test_after_an_extend_the_forecast_is_what_the_sweep_then_does(app: App) -> None:
    # A breaker's repro-13: after level 1 and #extend, the forecast showed
    # level 2 and 3 before the new due time; the sweep sends them after it.
    at(app, "2026-12-07T10:00:00")
    assert sweep(app)["reminders"] == 1
    at(app, "2026-12-07T11:00:00")
    command(app, "#extend analysis 2026-12-10T12:00:00Z", 1)
    planned = forecast(app)
    assert [(p.at, p.level) for p in planned] == [
        (utc("2026-12-10T12:00:00"), 2),
        (utc("2026-12-11T12:00:00"), 3),
    ]
    for step in planned:
        app.clock.set(step.at - dt.timedelta(seconds=1))
        assert sweep(app)["reminders"] == 0
        app.clock.set(step.at)
        assert sweep(app)["reminders"] == 1
    assert forecast(app) == []
