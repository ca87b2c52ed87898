"""`mailbot report` on a known database: text, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from mailbot_env import make_app
from opsenv import cli_env, known_database, run_cli

from mailbot.cli import main

NOW = ("--now", "2026-12-07T08:00:00Z")


def _env(tmp_path: Path, database_url: str) -> dict[str, str]:
    app = make_app(tmp_path, database_url)
    known_database(app)
    env = cli_env(app)
    app.close()
    return env


def _rules(unit: dict) -> dict[str, dict]:
    return {r["rule"]: r for r in unit["rules"]}


def test_report_formats(tmp_path: Path, database_url: str) -> None:
    env = _env(tmp_path, database_url)
    done = run_cli(env, *NOW, "report", "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["since"], data["until"]) == (None, "2026-12-07T08:00:00Z")
    sites = {s["site"]: s for s in data["sites"]}
    assert set(sites) == {"SITE-A", "SITE-C"}
    a, c = _rules(sites["SITE-A"]), _rules(sites["SITE-C"])
    assert (a["report"]["met"], a["report"]["median_hours"]) == (1, 0.0)
    assert a["containment"] == {
        "rule": "containment",
        "deadlines": 1,
        "met": 0,
        "missed": 1,
        "answered_late": 0,
        "unanswered": 1,
        "pending": 0,
        "cancelled": 0,
        "median_hours": None,
        "worst_hours": None,
    }
    assert (c["containment"]["met"], c["containment"]["worst_hours"]) == (1, 6.0)
    assert c["downtime"]["unanswered"] == 1
    assert sites["SITE-C"]["incidents_opened"] == 1
    [ngi] = data["ngis"]
    assert ngi["ngi"] == "NGI_A" and ngi["incidents_opened"] == 2
    n = _rules(ngi)
    assert (n["containment"]["met"], n["containment"]["missed"]) == (1, 1)
    assert n["report"]["deadlines"] == 2

    text = run_cli(env, *NOW, "report").stdout
    assert "SITE-A (NGI_A): 1 incident(s) opened, 0 resolved, 0 closed" in text
    block = text.split("SITE-C (NGI_A)")[1].split("NGIs:")[0]
    assert [x.split()[:6] for x in block.splitlines() if "containment" in x] == [
        ["containment", "1", "1", "0", "0", "0"]
    ]
    assert "6.0 h" in block

    rows = list(
        csv.DictReader(
            io.StringIO(run_cli(env, *NOW, "report", "--format", "csv").stdout)
        )
    )
    site_c = [r for r in rows if r["scope"] == "site" and r["name"] == "SITE-C"]
    assert site_c[0]["rule"] == "" and site_c[0]["incidents_opened"] == "1"
    containment = next(r for r in site_c if r["rule"] == "containment")
    assert (containment["met"], containment["median_hours"]) == ("1", "6.0")
    # Sums over a column count each incident once per scope.
    assert (
        sum(int(r["incidents_opened"] or 0) for r in rows if r["scope"] == "site") == 2
    )


def test_report_since(tmp_path: Path, database_url: str) -> None:
    env = _env(tmp_path, database_url)
    # From 5 December (local midnight) on, no clock started and no incident opened.
    later = json.loads(
        run_cli(env, *NOW, "report", "--since", "2026-12-05", "--format", "json").stdout
    )
    assert later["since"] == "2026-12-04T23:00:00Z"
    assert all(not s["rules"] and s["incidents_opened"] == 0 for s in later["sites"])
    # From 4 December 15:00 UTC on: only SITE-C's downtime clock (started at 16:00).
    part = json.loads(
        run_cli(
            env, *NOW, "report", "--since", "2026-12-04T15:00:00Z", "--format", "json"
        ).stdout
    )
    started = {(s["site"], r["rule"]) for s in part["sites"] for r in s["rules"]}
    assert started == {("SITE-C", "downtime")}
    bad = run_cli(env, "report", "--since", "last week")
    assert bad.returncode == 2 and "--since" in bad.stderr
    # A date as --until holds that day: 4 December alone is a period.
    day = json.loads(
        run_cli(
            env, *NOW, "report", "--since", "2026-12-04", "--until", "2026-12-04",
            "--format", "json",
        ).stdout
    )  # fmt: skip
    assert (day["since"], day["until"]) == (
        "2026-12-03T23:00:00Z",
        "2026-12-04T23:00:00Z",
    )
    assert sum(s["incidents_opened"] for s in day["sites"]) == 2
    backwards = run_cli(env, "report", "--since", "2026-12-05", "--until", "2026-12-01")
    assert backwards.returncode == 2 and "--until" in backwards.stderr


def test_report_text_names_incidents_of_no_known_site(
    tmp_path: Path, database_url: str
) -> None:
    """An incident no site was found for printed "(unknown) ((unknown))"."""
    import datetime as dt

    from mailbot_env import mail

    from mailbot import report
    from mailbot.mail import RawMail
    from mailbot.process import process_delivery

    app = make_app(tmp_path, database_url)
    known_database(app)
    raw = mail(
        subject="Scans from 203.0.113.9 against our network",
        sender="reporter@cert.example.net",
        message_id="<nosite-1@cert.example.net>",
        body="We see SSH scans from 203.0.113.9 since this morning.\n",
    )
    at = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
    assert process_delivery(app, RawMail(raw, at, "nosite")).result == "processed"
    data = report.build(app, until=dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC))
    app.close()
    assert report.UNKNOWN in {s["site"] for s in data["sites"]}
    text = report.as_text(data)
    assert "(unknown)" not in text
    assert (
        "  no site known (no NGI known; #site NAME in an incident's thread sets it):"
        " 1 incident(s) opened, 0 resolved, 0 closed"
    ) in text
    assert "  no NGI known: 1 incident(s) opened" in text
    assert "SITE-A (NGI_A): 1 incident(s) opened" in text


def test_a_period_that_cannot_be_is_refused(
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--since` after now gave a period ending before it began (exit 0,
    empty); `--since ""` was taken as from the beginning; `--format CSV` was
    refused where every other choice of a format takes any letter case."""
    for key, value in _env(tmp_path, database_url).items():
        if key.startswith("MAILBOT_"):
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    assert main([*NOW, "report", "--since", "2027-01-01"]) == 2
    assert capsys.readouterr().err == (
        "mailbot report: --since: 2027-01-01 is not before now"
        " (2026-12-07T08:00:00Z): give a --since in the past, or an --until"
        " after it\n"
    )
    # With an --until after it, a period in the future is one (empty).
    future = [*NOW, "report", "--since", "2027-01-01", "--until", "2027-01-31"]
    assert main(future) == 0
    capsys.readouterr()
    for option in ("--since", "--until"):
        with pytest.raises(SystemExit) as refused:
            main([*NOW, "report", option, ""])
        assert refused.value.code == 2
        assert f"argument {option}: is empty" in capsys.readouterr().err
    assert main([*NOW, "report", "--format", "csv"]) == 0
    lower = capsys.readouterr().out
    assert main([*NOW, "report", "--format", "CSV"]) == 0
    assert capsys.readouterr().out == lower


def test_a_site_no_longer_in_the_sites_file_is_said_so(
    tmp_path: Path, database_url: str
) -> None:
    """SITE-C taken out of the sites file: the report listed it under the
    NGI its incident stored as if it were a site of the file, in each
    format; `status` names such sites (sites_not_in_file), the report did
    not."""
    from mailbot_env import CASES_SITES

    env = _env(tmp_path, database_url)
    without = CASES_SITES.replace('name = "SITE-C"', 'name = "SITE-Z"')
    Path(env["MAILBOT_SITES_FILE"]).write_text(without, encoding="utf-8")

    data = json.loads(run_cli(env, *NOW, "report", "--format", "json").stdout)
    sites = {s["site"]: s for s in data["sites"]}
    assert (sites["SITE-C"]["ngi"], sites["SITE-C"]["in_sites_file"]) == (
        "NGI_A",
        False,
    )
    assert sites["SITE-A"]["in_sites_file"] is True
    [missing] = data["sites_not_in_file"]
    assert missing["site"] == "SITE-C" and len(missing["incidents"]) == 1

    text = run_cli(env, *NOW, "report").stdout
    assert (
        "  SITE-C (NGI_A; no longer in the sites file): 1 incident(s) opened"
    ) in text
    assert "  SITE-A (NGI_A): 1 incident(s) opened" in text

    rows = list(
        csv.DictReader(
            io.StringIO(run_cli(env, *NOW, "report", "--format", "csv").stdout)
        )
    )
    flags = {(r["scope"], r["name"]): r["in_sites_file"] for r in rows}
    assert flags == {
        ("site", "SITE-A"): "true",
        ("site", "SITE-C"): "false",
        ("ngi", "NGI_A"): "",
    }
