"""`mailbot show TAG` for a person, on a known database."""

from __future__ import annotations

from pathlib import Path

import pytest
from mailbot_env import make_app
from opsenv import cli_env, known_database, run_cli

from mailbot import views
from mailbot.cli import main


def test_show_reads_like_a_summary(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path, database_url)
    known_database(app)
    env = cli_env(app)
    app.close()
    done = run_cli(env, "--now", "2026-12-07T09:00:00Z", "show", "EGI-20261204")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    head = text.splitlines()[:3]
    assert head == [
        "EGI-20261204-01  [open]  TLP:AMBER",
        "  Security incident suspected at SITE-A",
        "  also known as EGI-20261204",
    ]
    sections = [line for line in text.splitlines() if line and not line.startswith(" ")]
    assert sections[1:] == [
        "Who:",
        "When:",
        "What (Analysis Guideline fields):",
        "Due next:",
        "Deadlines:",
        "Mails (3):",
        "Audit trail: empty",
    ]
    assert "  site:           SITE-A (NGI NGI_A)" in text
    assert "  from site:      admin@site-a.example.com" in text
    assert "  opened:     2026-12-04T09:55:00Z" in text
    assert "  affected_hosts: wn12.site-a.example.com, 192.0.2.45" in text
    assert "  still missing: " in text
    assert (
        "  containment     SITE-A         due 2026-12-05T09:55:00Z "
        "(OVERDUE by 1 d 23 h), 1 reminder(s) sent"
    ) in text
    assert "report          SITE-A         due 2026-12-04T13:55:00Z met" in text
    # Each mail with the id that log lines ("mail N: ...") and
    # `quarantine retry ID` use.
    mails = text.split("Mails (3):", 1)[1].split("Audit trail", 1)[0]
    assert "<- site       admin@site-a.example.com  (mail 1)" in mails

    other = run_cli(env, "--now", "2026-12-04T12:00:00Z", "show", "EGI-20261204-02")
    assert "  from site:      soc@site-c.example.com" in other.stdout
    # As seen at noon on Friday: the downtime clock falls due on Saturday.
    assert "due 2026-12-05T16:00:00Z (in 1 d 4 h)" in other.stdout


def test_incidents_list_has_a_header_and_fits_the_terminal(
    tmp_path: Path, database_url: str
) -> None:
    app = make_app(tmp_path, database_url)
    known_database(app)
    env = cli_env(app, COLUMNS="100")
    app.close()
    done = run_cli(env, "--now", "2026-12-07T09:00:00Z", "incidents")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["TAG", "STATUS", "TLP", "SITE", "SUBJECT"]
    assert [line.split()[0] for line in lines[1:]] == [
        "EGI-20261204-01",
        "EGI-20261204-02",
    ]
    assert all(len(line) <= 100 for line in lines)
    # Cut to the width, with a mark that it was cut; --json keeps it whole.
    assert lines[1].endswith("\u2026")
    assert (
        "Security incident suspected at SITE-A"
        in run_cli(env, "--now", "2026-12-07T09:00:00Z", "incidents", "--json").stdout
    )


def test_incidents_piped_without_columns_print_whole_subjects(
    tmp_path: Path, database_url: str
) -> None:
    app = make_app(tmp_path, database_url)
    known_database(app)
    env = cli_env(app)
    env.pop("COLUMNS", None)
    app.close()
    done = run_cli(env, "--now", "2026-12-07T09:00:00Z", "incidents")
    assert done.returncode == 0, done.stderr
    assert "Security incident suspected at SITE-A" in done.stdout
    assert "\u2026" not in done.stdout


def test_a_wide_subject_is_cut_by_terminal_columns() -> None:
    from mailbot.commands import _fit

    assert _fit("abcdef", 4) == "abc\u2026"
    assert _fit("abc", 4) == "abc"
    # Each of these takes two columns: three and the ellipsis fill seven.
    assert _fit("\u4e2d\u6587\u4e3b\u9898\u884c", 7) == "\u4e2d\u6587\u4e3b\u2026"


def test_requests_due_together_are_one_line_of_due_next() -> None:
    import datetime as dt

    from mailbot import summary

    def deadline(rule: str, started: str, due: str, chases: int = 0) -> dict:
        return {
            "rule": rule, "site": "SITE-A", "started_at": started, "due_at": due,
            "state": "pending", "met_at": None, "chases": [{}] * chases,
        }  # fmt: skip

    monday = "2026-12-07T12:00:00Z"
    lines = summary._due_next(
        [
            deadline("analysis", "2026-12-04T18:00:00Z", monday, chases=1),
            deadline("analysis", "2026-12-04T19:00:00Z", monday),
            # Asked on Monday: due 40 minutes later, reminded of by a mail
            # of its own, so a line of its own.
            deadline("analysis", "2026-12-07T08:40:00Z", "2026-12-07T12:40:00Z"),
            deadline("downtime", "2026-12-04T18:00:00Z", "2026-12-05T18:00:00Z"),
        ],
        dt.datetime(2026, 12, 4, 21, 0, tzinfo=dt.UTC),
    )
    assert lines[2:] == [
        "  downtime        SITE-A         due 2026-12-05T18:00:00Z (in 21 h 00 min)",
        "  analysis        SITE-A         due 2026-12-07T12:00:00Z (in 2 d 15 h), "
        "2 requests, 1 reminder(s) sent",
        "  analysis        SITE-A         due 2026-12-07T12:40:00Z (in 2 d 15 h)",
    ]


def test_fields_read_as_lists_not_one_long_line() -> None:
    from mailbot import summary

    hosts = [f"10.9.0.{n}" for n in range(1, 31)]
    evidence = ["2026-12-03T15:13:02Z", "Accepted publickey for pilot27 " + "x" * 400]
    evidence += [f"log line {n}" for n in range(30)]
    lines = summary._what(
        {
            "fields": {
                "affected_hosts": hosts,
                "x509_dns": ["/DC=org/DC=example/CN=Jane Doe"],
                "evidence": evidence,
            },
            "missing": ["detected_by"],
        }
    )
    assert all(len(line) <= 78 for line in lines if "10.9.0." in line)
    assert " ".join(lines).count("10.9.0.") == 30
    assert "  x509_dns:" in lines and "    - /DC=org/DC=example/CN=Jane Doe" in lines
    start = lines.index("  evidence:")
    assert lines[start + 1] == "    - 2026-12-03T15:13:02Z"
    assert lines[start + 2].endswith("\u2026") and len(lines[start + 2]) == 6 + 300
    assert lines[start + 21] == "    ... 12 more (show --json lists all)"
    assert lines[-1] == "  still missing: detected_by"


def test_a_mail_s_huge_subject_is_cut_in_show() -> None:
    from mailbot import summary

    lines = summary._mails(
        [
            {
                "id": 1, "date": "2026-12-04T09:55:00Z", "direction": "in",
                "role": "reporter", "from": "x@cert.example.net",
                "subject": "Compromised " + "X" * 200_000, "flags": [],
            }
        ]
    )  # fmt: skip
    assert len(lines[-1]) == 6 + 200 and lines[-1].endswith("\u2026")


def test_evidence_shows_each_item_with_its_times() -> None:
    from mailbot import summary

    def at(line: int, kind: str, value: str, mail: str = "<a@x>") -> dict:
        return {
            "field": "evidence", "value": value, "kind": kind,
            "message_id": mail, "part": "1", "line": line,
        }  # fmt: skip

    provenance = [
        at(3, "timestamp", "2026-11-30T08:02:11Z"),
        at(3, "text", "2026-11-30 09:02:11 CET sshd accepted password for jdoe"),
        at(4, "timestamp", "2026-11-30T08:05:40Z"),
        at(4, "timestamp", "2026-11-30T08:06:00Z"),
        at(4, "text", "scan ran 08:05:40 to 08:06:00 UTC"),
        # The same time on a line of its own in another mail stays an item.
        at(9, "timestamp", "2026-11-30T08:06:00Z", "<b@x>"),
        at(10, "timestamp", "2026-11-30T07:00:00Z", "<b@x>"),
    ]
    values = list(dict.fromkeys(p["value"] for p in provenance))
    lines = summary._what(
        {"fields": {"evidence": values}, "missing": [], "provenance": provenance}
    )
    assert lines[lines.index("  evidence:") + 1 :][:4] == [
        "    - [2026-11-30T08:02:11Z] 2026-11-30 09:02:11 CET sshd accepted password"
        " for jdoe",
        "    - 2026-11-30T08:06:00Z",
        "    - [2026-11-30T08:05:40Z, 2026-11-30T08:06:00Z] scan ran 08:05:40 to"
        " 08:06:00 UTC",
        "    - 2026-11-30T07:00:00Z",
    ]


def test_a_time_on_a_wrapped_line_goes_with_its_item() -> None:
    from mailbot import summary

    wrapped = "our sensors observed mining traffic from 192.0.2.140 to the pool" + (
        " 203.0.113.200:3333 between 06:00 and 09:00 UTC."
    )
    provenance = [
        {"field": "evidence", "value": v, "kind": k, "message_id": "<m>",
         "part": "1", "line": line}
        for line, k, v in [
            (3, "text", wrapped),
            (4, "timestamp", "2026-11-30T06:00:00Z"),
            (6, "timestamp", "2026-12-01T08:10:00Z"),
        ]
    ]  # fmt: skip
    values = [p["value"] for p in provenance]
    assert summary.dated(values, provenance) == [
        f"[2026-11-30T06:00:00Z] {wrapped}",
        "2026-12-01T08:10:00Z",
    ]


def test_show_takes_the_spellings_threading_follows(
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A tag with spaces around it (pasted) or with the counter cut to one
    digit, which threading follows, named no incident, and the error did
    not quote it (a space before or after it went unseen)."""
    app = make_app(tmp_path, database_url)
    known_database(app)
    for given, tag in [
        (" EGI-20261204-01", "EGI-20261204-01"),
        ("EGI-20261204-02 ", "EGI-20261204-02"),
        ("EGI-20261204-1", "EGI-20261204-01"),
        ("egi_20261204_02", "EGI-20261204-02"),
        ("EGI-2026-12-04-02", "EGI-20261204-02"),
        (" EGI-20261204\t", "EGI-20261204-01"),
    ]:
        data = views.show(app, given)
        assert data is not None and data["tag"] == tag, given
    # A cut counter naming no incident is not taken as its date.
    assert views.show(app, "EGI-20261204-7") is None
    for key, value in cli_env(app).items():
        if key.startswith("MAILBOT_"):
            monkeypatch.setenv(key, value)
    app.close()
    monkeypatch.chdir(tmp_path)
    assert main(["show", "EGI-20991231-01 "]) == 1
    assert capsys.readouterr().err == (
        "mailbot: no incident 'EGI-20991231-01 ': `mailbot incidents --all`"
        " lists them\n"
    )
