"""`mailbot ingest` reads mail and nothing else."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def test_under_now_a_file_s_date_is_bounded_by_the_clock_not_the_file(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--now` replays mail on a clock of its own; a file written today is
    of the real clock. A report dated 2027-01-11 and ingested at --now
    2027-01-11 took the file's time instead (today), was named after today,
    left unacknowledged as too old, its containment missed at once (brkx8
    F14, brk9 F5). Under --now the clock bounds a Date, not the file."""
    path = tmp_path / "replay.eml"
    path.write_bytes(
        mail(
            subject="Scans from 203.0.113.9", message_id="<replay@cert.example.net>"
        ).replace(
            b"Fri, 04 Dec 2026 08:40:00 +0000", b"Mon, 11 Jan 2027 09:00:00 +0000"
        )
    )
    far = tmp_path / "far.eml"  # a Date after the clock: the clock's time
    far.write_bytes(
        mail(
            subject="Probes from 203.0.113.10", message_id="<far@cert.example.net>"
        ).replace(
            b"Fri, 04 Dec 2026 08:40:00 +0000", b"Sat, 30 Jun 3609 10:00:00 +0000"
        )
    )
    now = ["--config", str(config), "--now", "2027-01-11T09:05:00Z"]
    assert main([*now, "ingest", "--json", str(path), str(far)]) == 0
    assert json.loads(capsys.readouterr().out)["processed"] == 2
    assert main([*now, "incidents", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    tags = sorted(i["tag"] for i in listed)
    assert tags == ["EGI-20270111-01", "EGI-20270111-02"], tags
    sent = sorted((tmp_path / "sent" / "new").iterdir())
    assert len(sent) == 2  # both acknowledged


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


@pytest.fixture
def refuse(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """refuse(*names): reading those files fails with EACCES, as chmod 000
    makes it for any user but root (the tests may run as root)."""
    real_open, real_read = Path.open, Path.read_bytes

    def apply(*names: str) -> None:
        def check(path: Path) -> None:
            if path.name in names:
                raise PermissionError(13, "Permission denied", str(path))

        def fake_open(self: Path, *args: Any, **kwargs: Any) -> Any:
            check(self)
            return real_open(self, *args, **kwargs)

        def fake_read(self: Path) -> bytes:
            check(self)
            return real_read(self)

        monkeypatch.setattr(Path, "open", fake_open)
        monkeypatch.setattr(Path, "read_bytes", fake_read)

    return apply


@pytest.fixture
def ingest(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    """ingest(*paths, json=True): (exit status, stdout, stderr) of
    `mailbot ingest --backfill PATH...`."""

    def run(*paths: Path, json: bool = True) -> tuple[int, str, str]:
        args = ["--config", str(config), "ingest", "--backfill"]
        status = main([*args, *(["--json"] if json else []), *map(str, paths)])
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return run


def _reports(folder: Path, names: list[str], first: int = 0) -> None:
    for n, name in enumerate(names, first):
        (folder / name).write_bytes(
            mail(subject=f"Compromised host {n}", message_id=f"<u{n}@cert.example.net>")
        )


def _unreadable(out: str) -> dict[str, str]:
    return {Path(u["path"]).name: u["reason"] for u in json.loads(out)["unreadable"]}


def test_a_folder_with_files_that_cannot_be_read_is_ingested_but_them(
    tmp_path: Path, ingest: Any, refuse: Any
) -> None:
    # The first file that could not be read (permission denied) ended the
    # ingest with "PermissionError: ..." and nothing after it was read; a
    # broken link was skipped unsaid.
    folder = tmp_path / "export"
    folder.mkdir()
    _reports(folder, ["a.eml", "b-secret.eml", "c.eml"])
    (folder / "d-gone.eml").symlink_to(tmp_path / "nowhere.eml")
    os.mkfifo(folder / "e-pipe")
    (folder / "sub").mkdir()
    (folder / "f-linked").symlink_to(folder / "sub")
    (folder / "b-secret.eml").chmod(0)
    refuse("b-secret.eml")
    status, out, err = ingest(folder)
    assert status == 1
    counts = json.loads(out)
    assert (counts["fetched"], counts["processed"]) == (2, 2)
    reasons = _unreadable(out)
    assert set(reasons) == {"b-secret.eml", "d-gone.eml", "e-pipe", "f-linked"}
    assert "Permission denied" in reasons["b-secret.eml"]
    assert "make it readable by the user mailbot runs as" in reasons["b-secret.eml"]
    assert "nowhere.eml, which does not exist" in reasons["d-gone.eml"]
    assert "not a regular file" in reasons["e-pipe"]
    lines = err.strip().splitlines()
    for name, reason in reasons.items():
        assert any(name in line and reason in line for line in lines), name
    assert lines[-1].startswith("mailbot: ingest: 4 path(s) could not be read")
    assert "Ingest them again once readable" in lines[-1]


def test_a_list_of_files_is_ingested_but_those_that_cannot_be_read(
    tmp_path: Path, ingest: Any, refuse: Any
) -> None:
    _reports(tmp_path, ["a.eml", "b-secret.eml", "c.eml"])
    (tmp_path / "d-gone.eml").symlink_to(tmp_path / "nowhere.eml")
    refuse("b-secret.eml")
    given = [tmp_path / n for n in ("a.eml", "b-secret.eml", "d-gone.eml", "c.eml")]
    status, out, err = ingest(*given, json=False)
    assert status == 1
    assert "fetched: 2, processed: 2," in out and "unreadable: 2" in out
    assert f"{given[1]} cannot be read (Permission denied)" in err
    assert f"{given[2]} is a symbolic link to" in err


def test_a_maildir_with_a_folder_and_an_unreadable_file_inside(
    tmp_path: Path, ingest: Any, refuse: Any
) -> None:
    box = tmp_path / "old-box"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    _reports(box / "cur", ["1796400001.M1.x:2,S", "1796400002.M2.secret:2,S"])
    _reports(box / "new", ["1796400003.M3.x"], first=2)
    (box / "cur" / "1796400004.M4.folder").mkdir()
    refuse("1796400002.M2.secret:2,S")
    status, out, _ = ingest(box)
    assert status == 1 and json.loads(out)["processed"] == 2
    reasons = _unreadable(out)
    assert "Permission denied" in reasons["1796400002.M2.secret:2,S"]
    assert "is a folder where a mail file belongs" in reasons["1796400004.M4.folder"]


def test_the_maildir_source_reads_the_rest_and_tries_again_at_the_next_poll(
    tmp_path: Path,
    database_url: str,
    refuse: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from mailbot_env import make_app

    from mailbot import service

    app = make_app(tmp_path, database_url)
    _reports(tmp_path / "inbox" / "new", ["1796400001.M1.x", "1796400002.M2.secret"])
    refuse("1796400002.M2.secret")
    assert service.poll(app, deliver=False).processed == 1
    assert "1796400002.M2.secret cannot be read (Permission denied)" in caplog.text
    monkeypatch.undo()
    assert service.poll(app, deliver=False).processed == 1


def _maildir(root: Path) -> Path:
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    return root


def test_a_maildir_file_moved_by_a_mail_client_meanwhile_is_read_where_it_went(
    tmp_path: Path,
) -> None:
    from mailbot.fetch.files import iter_maildir, maildir_files, maildir_origin

    box = _maildir(tmp_path / "box")
    _reports(box / "new", ["1796400001.M1.x", "1796400002.M2.x"])
    listed = maildir_files(box)
    # Another client reads the first mail: new/ to cur/, with its flags.
    (box / "new" / "1796400001.M1.x").rename(box / "cur" / "1796400001.M1.x:2,S")
    problems: list[Any] = []
    mails = list(iter_maildir(box, listed, problems.append))
    assert problems == []
    assert [m.origin for m in mails] == [
        maildir_origin(box, Path("1796400001.M1.x")),
        maildir_origin(box, Path("1796400002.M2.x")),
    ]
    assert b"Compromised host 0" in mails[0].raw


def test_a_maildir_file_deleted_meanwhile_is_reported_gone_and_the_rest_read(
    tmp_path: Path,
) -> None:
    from mailbot.fetch.files import iter_maildir, maildir_files

    box = _maildir(tmp_path / "box")
    _reports(box / "cur", ["1796400001.M1.x:2,S", "1796400002.M2.x:2,S"])
    listed = maildir_files(box)
    (box / "cur" / "1796400001.M1.x:2,S").unlink()
    problems: list[Any] = []
    mails = list(iter_maildir(box, listed, problems.append))
    assert len(mails) == 1 and b"Compromised host 1" in mails[0].raw
    assert [p.path.name for p in problems] == ["1796400001.M1.x:2,S"]
    assert "was deleted from the Maildir while mailbot read it" in problems[0].reason


def test_a_maildir_file_seen_in_new_and_in_cur_is_listed_once(tmp_path: Path) -> None:
    # A client moving the file between the listing of new/ and of cur/
    # leaves it in both listings: it was read (and counted) twice.
    from mailbot.fetch.files import maildir_files

    box = _maildir(tmp_path / "box")
    _reports(box / "new", ["1796400001.M1.x"])
    _reports(box / "cur", ["1796400001.M1.x:2,S"])
    assert [p.name for p in maildir_files(box)] == ["1796400001.M1.x:2,S"]


def test_a_maildir_file_gone_before_its_time_is_read_does_not_end_the_listing(
    tmp_path: Path,
) -> None:
    # A name without a delivery time is sorted by the file's modification
    # time; a file gone meanwhile raised FileNotFoundError out of the pass.
    from mailbot.fetch.files import maildir_arrival

    assert maildir_arrival(tmp_path / "cur" / "no-time-in-this-name") is not None


def test_a_fifo_given_as_a_path_is_named_not_waited_on(
    tmp_path: Path, ingest: Any
) -> None:
    # Given directly (not inside a folder), the FIFO was opened to count
    # its mails and the ingest waited for a writer for ever.
    _reports(tmp_path, ["a.eml"])
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    waited = threading.Event()

    def unblock() -> None:
        # Only a reader still waiting lets this open succeed; it ends the wait.
        waited.set()
        with contextlib.suppress(OSError):
            os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))

    watchdog = threading.Timer(15, unblock)
    watchdog.start()
    try:
        status, out, err = ingest(tmp_path / "a.eml", pipe)
    finally:
        watchdog.cancel()
    assert not waited.is_set(), "the ingest waited on the FIFO"
    assert status == 1
    assert json.loads(out)["processed"] == 1
    assert "not a regular file (a FIFO" in _unreadable(out)["pipe"]
    assert f"{pipe} is not a regular file" in err
