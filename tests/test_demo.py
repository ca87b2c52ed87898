"""`mailbot demo`, the README's main job, as a user runs it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from opsenv import run_cli


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


def test_demo_runs_the_sample_mailbox_end_to_end(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    done = run_cli(_env(), "demo", "--dir", str(target))
    assert done.returncode == 0, done.stderr
    assert "7 mails fetched, 7 processed" in done.stdout
    assert "Incidents (2):" in done.stdout and "Mails sent (2):" in done.stdout
    assert "EGI-20261130-01" in done.stdout and "EGI-20261130-02" in done.stdout
    # Its folder may be laid out again: the same result, nothing doubled.
    again = run_cli(_env(), "demo", "--dir", str(target))
    assert again.returncode == 0, again.stderr
    assert "Incidents (2):" in again.stdout and "Mails sent (2):" in again.stdout
    shown = run_cli(
        _env(), "--config", str(target / "mailbot.toml"), "show", "EGI-20261130-02"
    )
    assert shown.returncode == 0 and "SITE-BETA" in shown.stdout
    # The time the site stated for its isolation, not its mail's (08:20).
    assert "isolated:   2026-12-01T08:10:00Z" in shown.stdout


def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    # Pointed at an operator's folder, the demo would replace its database
    # and configuration: it refuses, and touches nothing.
    target = tmp_path / "production"
    target.mkdir()
    (target / "mailbot.db").write_bytes(b"precious")
    (target / "mailbot.toml").write_text("[mailbot]\n", encoding="utf-8")
    done = run_cli(_env(), "demo", "--dir", str(target))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--dir" in done.stderr
    assert "not empty" in done.stderr and "mailbot.db" in done.stderr
    assert (target / "mailbot.db").read_bytes() == b"precious"
    assert sorted(p.name for p in target.iterdir()) == ["mailbot.db", "mailbot.toml"]
    file = tmp_path / "a-file"
    file.write_text("x", encoding="utf-8")
    assert run_cli(_env(), "demo", "--dir", str(file)).returncode == 2


def test_demo_json_prints_json(tmp_path: Path) -> None:
    """`demo --json` was accepted and printed the text."""
    import json

    done = run_cli(_env(), "demo", "--dir", str(tmp_path / "demo"), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["fetched"], data["processed"], data["quarantined"]) == (7, 7, 0)
    assert [i["tag"] for i in data["incidents"]] == [
        "EGI-20261130-01",
        "EGI-20261130-02",
    ]
    assert data["incidents"][1]["site"] == "SITE-BETA"
    assert sorted(m["to"] for m in data["sent"]) == [
        "incident-desk@cert.example.net",
        "security@site-alpha.example.org",
    ]
    assert data["config"] == str(tmp_path / "demo" / "mailbot.toml")


def test_every_commands_options_are_in_the_readmes_table() -> None:
    """README's command table names each command's options (`ingest --json`
    and `demo --json` were missing)."""
    import argparse
    import re

    from mailbot.cli import _parser

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(
        encoding="utf-8"
    )
    rows = [line for line in readme.splitlines() if line.startswith("| `")]
    commands = next(
        a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)
    )
    for name, sub in commands.choices.items():
        row = [r for r in rows if re.match(rf"\| `{re.escape(name)}\b", r)]
        assert row, name
        written = row[0].split(" | ")[0]
        for action in sub._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    assert flag in written, f"{name} {flag}"
