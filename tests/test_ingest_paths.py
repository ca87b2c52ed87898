"""`mailbot ingest` reads mail and nothing else."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest
from mailbot_env import CASES_SITES, mail

from mailbot.cli import main


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Path:
    (tmp_path / "sites.toml").write_text(CASES_SITES, encoding="utf-8")
    path = tmp_path / "mailbot.toml"
    path.write_text(
        '[mailbot]\naddress = "abuse@csirt.example.org"\n'
        f'[database]\nurl = "{database_url}"\n'
        '[source]\nkind = "maildir"\n[maildir]\npath = "inbox"\n'
        '[smtp]\nkind = "maildir"\npath = "sent"\n',
        encoding="utf-8",
    )
    return path


def test_a_folder_yields_its_mails_and_skips_the_rest(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "report.eml").write_bytes(
        mail(subject="Compromised host", message_id="<a@cert.example.net>")
    )
    (folder / "notes.toml").write_text('[x]\npassword = "secret"\n', encoding="utf-8")
    (folder / "README.md").write_text("# Notes\n\nNothing here.\n", encoding="utf-8")
    (folder / "data.db").write_bytes(b"SQLite format 3\x00" + bytes(200))
    args = ["--config", str(config), "ingest", "--backfill", "--json", str(folder)]
    assert main(args) == 0
    counts = json.loads(capsys.readouterr().out)
    assert (counts["fetched"], counts["processed"]) == (1, 1)


def _report(tmp_path: Path, message_id: str) -> Path:
    path = tmp_path / "report.eml"
    path.write_bytes(mail(subject="Compromised host", message_id=message_id))
    return path


def test_ingest_collects_cyclic_garbage_less_often(
    tmp_path: Path, config: Path
) -> None:
    # At the default threshold the collector took 6 % of an ingest's CPU.
    path = _report(tmp_path, "<g@cert.example.net>")
    assert gc.get_threshold()[0] < 10_000
    assert main(["--config", str(config), "ingest", "--backfill", str(path)]) == 0
    assert gc.get_threshold()[0] == 10_000


def test_ingesting_a_file_again_says_it_is_stored_already(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _report(tmp_path, "<b@cert.example.net>")
    counts = []
    # The second time by another spelling of the same path.
    for spelling in (path, tmp_path / "." / ".." / tmp_path.name / "report.eml"):
        args = [
            "--config",
            str(config),
            "ingest",
            "--backfill",
            "--json",
            str(spelling),
        ]
        assert main(args) == 0
        counts.append(json.loads(capsys.readouterr().out))
    first, again = counts
    assert (first["processed"], first["already_stored"]) == (1, 0)
    # Not a second delivery (no duplicate), not lost: stored before, and said.
    assert (again["fetched"], again["processed"], again["duplicates"]) == (1, 0, 0)
    assert again["already_stored"] == 1


@pytest.mark.parametrize("name", ["notes.toml", "README.md"])
def test_a_file_that_is_no_mail_is_refused(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    path = tmp_path / name
    path.write_text("# not a mail\nkey = 1\n", encoding="utf-8")
    assert main(["--config", str(config), "ingest", str(path)]) == 2
    err = capsys.readouterr().err
    assert "PATH" in err and "neither a mail" in err


def test_a_bad_argument_is_named_as_one(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nonexistent"
    assert main(["--config", str(config), "ingest", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"mailbot ingest: PATH: {missing} does not exist"
    assert main(["--config", str(config), "--now", "yesterday", "status"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mailbot status: --now: ") and "2026-12-04T09:00:00Z" in err


def test_a_file_s_mail_arrived_at_its_date_but_never_after_the_file(
    tmp_path: Path,
) -> None:
    import datetime as dt
    import os

    from mailbot.fetch.files import iter_path

    saved = dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)
    dates = {
        "old.eml": ("Tue, 01 Dec 2026 08:00:00 +0000", dt.datetime(2026, 12, 1, 8, 0)),
        # corpus raw_email_bad_time.eml: a Date in the year 3609
        "far.eml": ("Sat, 30 Jun 3609 10:00:00 +0000", None),
        "none.eml": (None, None),
    }
    for name, (date, _) in dates.items():
        raw = mail(subject="Scan", message_id=f"<{name}@cert.example.net>")
        if date is None:
            raw = b"\r\n".join(
                line for line in raw.split(b"\r\n") if not line.startswith(b"Date:")
            )
        else:
            raw = raw.replace(b"Fri, 04 Dec 2026 08:40:00 +0000", date.encode())
        path = tmp_path / name
        path.write_bytes(raw)
        os.utime(path, (saved.timestamp(), saved.timestamp()))
    for name, (_, expected) in dates.items():
        [found] = list(iter_path(tmp_path / name))
        want = expected.replace(tzinfo=dt.UTC) if expected else saved
        assert found.arrived_at == want, name


def test_ingest_stores_a_folders_mails_whatever_their_dates(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Breaker finding F2: a Date that overflowed in UTC made ingest exit 1
    # there. Sorted by name: the bad files first and last, a good one between.
    folder = tmp_path / "export"
    folder.mkdir()
    dates = {
        "a-bad.eml": "31 Dec 9999 22:00 EST",
        "b-good.eml": "Fri, 04 Dec 2026 08:40:00 +0000",
        "c-bad.eml": "31 Dec 9999 23:59:59 -0100",
    }
    for name, date in dates.items():
        raw = mail(
            subject=f"Scans from 203.0.113.{len(name)}",
            message_id=f"<{name}@cert.example.net>",
            date=date,
        )
        (folder / name).write_bytes(raw)
    base = ["--config", str(config)]
    assert main([*base, "ingest", "--backfill", "--json", str(folder)]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert (counts["fetched"], counts["processed"], counts["quarantined"]) == (3, 3, 0)
    # Unhealthy (exit 1): never polled, which says nothing of the mails.
    main([*base, "status", "--json"])
    status = json.loads(capsys.readouterr().out)
    assert (status["mails"], status["unattached"], status["quarantined"]) == (3, 0, 0)
    assert main([*base, "incidents", "--all", "--json"]) == 0
    stored = set()
    for incident in json.loads(capsys.readouterr().out):
        assert main([*base, "show", "--json", incident["tag"]]) == 0
        messages = json.loads(capsys.readouterr().out)["messages"]
        stored |= {(m["message_id"], m["from"]) for m in messages}
    assert stored == {
        (f"<{name}@cert.example.net>", "reporter@cert.example.net") for name in dates
    }
