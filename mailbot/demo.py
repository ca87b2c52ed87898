"""`mailbot demo`: the main job end to end on the embedded default.

The shipped sample mailbox (invented sites and mails) is copied into a
working folder and run through the real pipeline: Maildir in, SQLite, and
outgoing mail delivered into a Maildir. Then the incidents and the mails
mailbot sent are printed.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import mailbox
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from mailbot import service, summary, views
from mailbot.app import open_app
from mailbot.cli import print_json
from mailbot.clock import Clock, parse_instant
from mailbot.config import load_settings
from mailbot.errors import UsageError

# The demo's clock: the afternoon after the last sample mail arrived.
DEMO_NOW = "2026-12-01T15:00:00Z"

CONFIG = """\
[mailbot]
address = "abuse@egi.example"
timezone = "Europe/Amsterdam"

[database]
url = "sqlite:///{dir}/mailbot.db"

[source]
kind = "maildir"

[maildir]
path = "{dir}/inbox"

[smtp]
kind = "maildir"
path = "{dir}/sent"

[csirt]
members = ["alice@egi.example"]
authserv_ids = ["mx.egi.example"]
duty_address = "duty@egi.example"

[sites]
file = "{dir}/sites.toml"
"""


# Written into a demo's folder: a later demo may lay that folder out again.
MARKER = ".mailbot-demo"


def _check_target(target: Path) -> None:
    """Refuse a folder that holds anything but an earlier demo's files.

    The demo replaces mailbot.db, mailbot.toml and sites.toml: pointed at an
    operator's folder, it would destroy the installation.
    """
    if target.exists() and not target.is_dir():
        raise UsageError("--dir", f"{target} is a file; give a new or empty folder")
    if not target.exists() or (target / MARKER).exists():
        return
    held = sorted(p.name for p in target.iterdir())
    if held:
        shown = ", ".join(held[:5]) + (", ..." if len(held) > 5 else "")
        raise UsageError(
            "--dir",
            f"{target} is not empty and no demo made it (it holds {shown}); the"
            " demo would replace its files: give a new or empty folder",
        )


def prepare(target: Path) -> Path:
    """Lay out the demo's files in `target`; returns the config file."""
    _check_target(target)
    sample = resources.files("mailbot") / "sample"
    target.mkdir(parents=True, exist_ok=True)
    (target / MARKER).write_text(
        "Made by `mailbot demo`: a later demo may replace everything here.\n",
        encoding="utf-8",
    )
    inbox = target / "inbox"
    if inbox.exists():
        shutil.rmtree(inbox)
    for sub in ("cur", "new", "tmp"):
        (inbox / sub).mkdir(parents=True)
    for item in (sample / "mailbox" / "cur").iterdir():
        (inbox / "cur" / item.name).write_bytes(item.read_bytes())
    (target / "sites.toml").write_bytes((sample / "sites.toml").read_bytes())
    for stale in ("mailbot.db", "mailbot.db-wal", "mailbot.db-shm", "sent"):
        path = target / stale
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    config = target / "mailbot.toml"
    config.write_text(CONFIG.format(dir=target.resolve().as_posix()), encoding="utf-8")
    return config


def demo_command(args: argparse.Namespace) -> int:
    target = (
        Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="mailbot-demo-"))
    )
    config = prepare(target)
    app = open_app(load_settings(config, environ={}), Clock(parse_instant(DEMO_NOW)))
    try:
        result = service.poll(app)
        incidents = [
            views.show(app, row["tag"]) or {}
            for row in views.incident_list(app, all_=True)
        ]
    finally:
        app.close()
    sent = _sent(target / "sent")
    if getattr(args, "json", False):
        # What the text says, for a script: the same figures and rows as
        # `show --json`, the mails sent, and where the demo's files are.
        print_json(
            {
                "dir": str(target),
                "config": str(config),
                "fetched": result.fetched,
                "processed": result.processed,
                "duplicates": result.duplicates,
                "quarantined": result.quarantined,
                "incidents": incidents,
                "sent": sent,
            }
        )
        return 0
    print(
        f"Sample mailbox: {result.fetched} mails fetched, {result.processed} "
        f"processed, {result.duplicates} duplicates, {result.quarantined} "
        "quarantined.\n"
    )
    _print_incidents(incidents)
    _print_sent(sent)
    print(f"\nEverything is in {target} (config: {config}).")
    print(f"Try: mailbot --config {config} show EGI-20261130-01")
    return 0


def _print_incidents(incidents: list[dict[str, Any]]) -> None:
    print(f"Incidents ({len(incidents)}):")
    for data in incidents:
        site = data["site"] or "unknown"
        print(
            f"  {data['tag']}  TLP:{data['tlp']:<6} site {site:<11} "
            f"{len(data.get('messages', []))} mails  {data['subject']}"
        )
        for field, values in data.get("fields", {}).items():
            if field == "evidence":
                values = summary.dated(values, data.get("provenance") or [])
                print(f"      {field}:")
                for value in values:
                    print(f"        - {value}")
                continue
            print(f"      {field}: {', '.join(values)}")
        if data.get("missing"):
            print(f"      missing: {', '.join(data['missing'])}")


def _sent(path: Path) -> list[dict[str, str | None]]:
    """The mails the demo sent (delivered into its Maildir), oldest first."""
    if not path.exists():
        return []
    box = mailbox.Maildir(path, create=False)
    messages = sorted(
        (
            email.message_from_bytes(box.get_bytes(k), policy=email.policy.default)
            for k in box.iterkeys()
        ),
        key=lambda m: str(m["Date"]),
    )
    box.close()
    return [
        {
            "to": str(m["To"]),
            "subject": str(m["Subject"]),
            "in_reply_to": str(m["In-Reply-To"]) if m["In-Reply-To"] else None,
        }
        for m in messages
    ]


def _print_sent(sent: list[dict[str, str | None]]) -> None:
    if not sent:
        print("\nMails sent: none")
        return
    print(f"\nMails sent ({len(sent)}):")
    for mail in sent:
        print(f"  To: {mail['to']}")
        print(f"  Subject: {mail['subject']}")
        print(f"  In-Reply-To: {mail['in_reply_to']}")
