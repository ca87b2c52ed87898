"""Limits on hostile mail, and the quarantine: kept, marked, retried, bounded.

A mail over a limit is never dropped: over the size or header limit it is
stored as received and quarantined at the stage "limits" (and processed by
`quarantine retry` once the limit is raised); cut at the MIME limits it is
processed with what was read and flagged `over_limit`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import mailbot_env
import pytest
from mailbot_env import mail

from mailbot import fields, process, summary, views
from mailbot.app import App
from mailbot.db.models import Mail
from mailbot.mail import RawMail
from mailbot.process import process_delivery, resume_received

make_app = mailbot_env.make_app
FROM = "reporter@cert.example.net"


NOW = dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)
ENV = {
    "MAILBOT_MAILBOT_ADDRESS": "abuse@csirt.example.org",
    "MAILBOT_CSIRT_DUTY_ADDRESS": "duty@csirt.example.org",
    "MAILBOT_SOURCE_KIND": "maildir",
}


def _env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    env.update(ENV)
    env.update(
        MAILBOT_DATABASE_URL=database_url,
        MAILBOT_MAILDIR_PATH=str(tmp_path / "inbox"),
        MAILBOT_SMTP_KIND="maildir",
        MAILBOT_SMTP_PATH=str(tmp_path / "sent"),
        MAILBOT_SITES_FILE=str(tmp_path / "sites.toml"),
    )
    env.update(extra)
    return env


def _cli(
    tmp_path: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    return subprocess.run(
        [sys.executable, "-m", "mailbot", "--now", "2026-12-04T10:00:00Z", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )


def _feed(app: App, raw: bytes, origin: str = "test") -> process.Outcome:
    return process_delivery(app, RawMail(raw, app.clock.now(), origin))


def _stored(app: App, mail_id: int) -> Mail:
    with app.db.transaction() as session:
        row = session.get(Mail, mail_id)
        assert row is not None
        return row


def _report(body: str = "Scans from 203.0.113.9.\n", n: int = 1) -> bytes:
    return mail(
        subject=f"Scans from 203.0.113.9 ({n})",
        message_id=f"<lim-{n}@x.org>",
        body=body,
    )


def test_oversize_mail_is_kept_quarantined_and_retried_after_a_fix(
    tmp_path: Path, database_url: str
) -> None:
    app = make_app(
        tmp_path, database_url, now=NOW, extra={"MAILBOT_LIMITS_MAX_MAIL_BYTES": "4000"}
    )
    raw = _report("x" * 5000 + "\n")
    outcome = _feed(app, raw)
    assert outcome.result == "quarantined"
    stored = _stored(app, outcome.mail_id)  # type: ignore[arg-type]
    assert stored.stage == "limits" and "limits.max_mail_bytes" in (stored.error or "")
    assert stored.raw == raw and stored.raw_sha256 == hashlib.sha256(raw).hexdigest()
    status = views.status(app, None)
    assert (status["mails"], status["quarantined"]) == (0, 1)
    # Not retried automatically: a limit does not go away by itself.
    app.clock.advance(dt.timedelta(days=2))
    assert resume_received(app) == []
    app.close()
    env = _env(tmp_path, database_url, MAILBOT_LIMITS_MAX_MAIL_BYTES="4000")
    listed = _cli(tmp_path, env, "quarantine", "--json")
    rows = json.loads(listed.stdout)
    assert [(r["id"], r["stage"]) for r in rows] == [(outcome.mail_id, "limits")]
    # Not parsed, but listed by its header fields (they were '' and None).
    heading = [(r["subject"], r["message_id"], r["from"]) for r in rows]
    assert heading == [("Scans from 203.0.113.9 (1)", "<lim-1@x.org>", FROM)]
    # The text has a header, as `outbox` and `incidents` have (it had none).
    header, line = _cli(tmp_path, env, "quarantine").stdout.splitlines()
    assert header.split() == ["ID", "ARRIVED", "STAGE", "REASON", "[ORIGIN]"]
    assert line.split()[0] == str(outcome.mail_id) and line.split()[2] == "limits"
    assert line.index("limits") == header.index("STAGE")
    # The operator raises the limit and retries.
    env["MAILBOT_LIMITS_MAX_MAIL_BYTES"] = str(25 * 1024 * 1024)
    retried = _cli(tmp_path, env, "quarantine", "retry", str(outcome.mail_id))
    assert retried.returncode == 0, retried.stderr
    assert json.loads(_cli(tmp_path, env, "quarantine", "--json").stdout) == []


def test_a_retried_mail_already_stored_by_another_copy_is_a_success(
    tmp_path: Path, database_url: str
) -> None:
    # A mail is recorded; a copy of it that a relay re-encoded in base64 is
    # over the size limit and quarantined.
    app = make_app(
        tmp_path, database_url, now=NOW, extra={"MAILBOT_LIMITS_MAX_MAIL_BYTES": "4000"}
    )
    body = "Scans from 203.0.113.9.\n" + "x" * 3000 + "\n"
    raw = _report(body)
    stored = _feed(app, raw)
    assert stored.result == "processed"
    head = raw.split(b"\r\n\r\n", 1)[0]
    encoded = base64.encodebytes(body.encode()).replace(b"\n", b"\r\n")
    copy = head + b"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + encoded
    quarantined = _feed(app, copy, "another way")
    assert quarantined.result == "quarantined"
    app.close()

    # The retry finds the mail in the record: nothing lost, nothing to do.
    env = _env(tmp_path, database_url)
    for args in ((), ("--json",)):
        retried = _cli(
            tmp_path, env, "quarantine", "retry", str(quarantined.mail_id), *args
        )
        if not args:
            assert retried.returncode == 0, retried.stderr
            assert "result: duplicate" in retried.stdout
            assert f"copy of mail {stored.mail_id} <lim-1@x.org>" in retried.stdout
            assert stored.incident and stored.incident in retried.stdout
            continue
        # Asked again, the mail is no longer in quarantine.
        assert retried.returncode == 1
        assert "not in quarantine" in retried.stderr
    assert json.loads(_cli(tmp_path, env, "quarantine", "--json").stdout) == []
    status = json.loads(_cli(tmp_path, env, "status", "--json").stdout)
    assert (status["mails"], status["duplicates"], status["quarantined"]) == (1, 1, 0)


def test_a_retry_quarantined_again_says_why_on_stderr(
    tmp_path: Path, database_url: str
) -> None:
    app = make_app(
        tmp_path, database_url, now=NOW, extra={"MAILBOT_LIMITS_MAX_MAIL_BYTES": "4000"}
    )
    quarantined = _feed(app, _report("x" * 5000 + "\n"))
    app.close()
    env = _env(tmp_path, database_url, MAILBOT_LIMITS_MAX_MAIL_BYTES="4000")
    retried = _cli(tmp_path, env, "quarantine", "retry", str(quarantined.mail_id))
    assert retried.returncode == 1
    [line] = retried.stderr.splitlines()
    assert f"mail {quarantined.mail_id} " in line and "max_mail_bytes" in line


def test_header_block_over_limit_is_quarantined(
    tmp_path: Path, database_url: str
) -> None:
    app = make_app(
        tmp_path,
        database_url,
        now=NOW,
        extra={"MAILBOT_LIMITS_MAX_HEADER_BYTES": "2048"},
    )
    raw = mail(
        subject="Huge",
        message_id="<huge@x.org>",
        headers={f"X-Junk-{i}": "y" * 70 for i in range(60)},
    )
    outcome = _feed(app, raw)
    assert outcome.result == "quarantined"
    stored = _stored(app, outcome.mail_id)  # type: ignore[arg-type]
    assert "limits.max_header_bytes" in (stored.error or "")
    # What the limit lets be read names the mail in the listing.
    assert (stored.subject, stored.message_id) == ("Huge", "<huge@x.org>")
    # One line with no end at all (no header/body separator) is bounded too.
    endless = b"Subject: " + b"z" * 100_000
    set_aside = _feed(app, endless, "endless")
    assert set_aside.result == "quarantined"
    stored = _stored(app, set_aside.mail_id)  # type: ignore[arg-type]
    assert (stored.subject, stored.message_id) == ("", None)


def _nested(depth: int) -> bytes:
    """A mail nested `depth` multiparts deep, written out by hand (the
    standard library's generator recurses once per level)."""
    head = [
        b"From: reporter@cert.example.net",
        b"Subject: Nested report",
        f"Message-ID: <nested-{depth}@x.org>".encode(),
        b"MIME-Version: 1.0",
    ]
    opening = [
        f"Content-Type: multipart/mixed; boundary=b{n}\n\n--b{n}".encode()
        for n in range(depth)
    ]
    closing = [f"--b{n}--".encode() for n in reversed(range(depth))]
    leaf = b"Content-Type: text/plain\n\nDeepest: 203.0.113.66\n"
    return b"\n".join([*head, *opening, leaf, *closing]) + b"\n"


def _logs_mail(message_id: str) -> MIMEMultipart:
    """A reporter's mail of one line, for the caller's attachments."""
    message = MIMEMultipart()
    message["Subject"], message["From"] = "Logs", "reporter@cert.example.net"
    message["Message-ID"] = message_id
    message.attach(MIMEText("See the logs of 203.0.113.7.\n"))
    return message


@pytest.mark.parametrize(
    ("extra", "raw"),
    [
        ({"MAILBOT_LIMITS_MAX_MIME_DEPTH": "5"}, _nested(40)),
        ({"MAILBOT_LIMITS_MAX_MIME_DEPTH": "5"}, _nested(2000)),
        ({"MAILBOT_LIMITS_MAX_MIME_PARTS": "10"}, None),
        ({"MAILBOT_LIMITS_MAX_ATTACHMENT_BYTES": "1000"}, None),
    ],
)
def test_mime_limits_cut_and_flag(
    tmp_path: Path, database_url: str, extra, raw
) -> None:  # type: ignore[no-untyped-def]
    if raw is None:
        message = _logs_mail("<parts@x.org>")
        for n in range(30):
            part = MIMEApplication(os.urandom(2000), Name=f"log{n}.bin")
            message.attach(part)
        raw = message.as_bytes()
    app = make_app(tmp_path, database_url, now=NOW, extra=extra)
    outcome = _feed(app, raw)
    assert outcome.result == "processed", outcome.reason
    stored = _stored(app, outcome.mail_id)  # type: ignore[arg-type]
    assert "over_limit" in stored.flags
    assert any(d.startswith("over limit:") for d in stored.defects)
    assert stored.raw == raw


def test_an_attachment_over_the_limit_keeps_its_size_and_says_it_was_not_read(
    tmp_path: Path, database_url: str
) -> None:
    # A breaker's finding (F9): it was listed with size 0.
    message = _logs_mail("<big@x.org>")
    message.attach(MIMEApplication(os.urandom(2500), Name="big.bin"))
    message.attach(MIMEApplication(os.urandom(500), Name="small.bin"))
    extra = {"MAILBOT_LIMITS_MAX_ATTACHMENT_BYTES": "1000"}
    app = make_app(tmp_path, database_url, now=NOW, extra=extra)
    outcome = _feed(app, message.as_bytes())
    stored = _stored(app, outcome.mail_id)  # type: ignore[arg-type]
    assert [(a["name"], a["size"], a.get("read")) for a in stored.attachments] == [
        ("big.bin", 2500, False),
        ("small.bin", 500, None),
    ]
    shown = {"direction": "in", "date": "2026-12-04", "role": "reporter"}
    shown |= {"from": stored.from_addr, "id": stored.id, "subject": "Logs"}
    lines = summary._mails([{**shown, "attachments": stored.attachments}])
    assert any(
        "big.bin (application/octet-stream, 2500 bytes, not read" in line
        for line in lines
    )


def test_attachments_and_defects_left_out_of_the_record_are_counted(
    tmp_path: Path, database_url: str
) -> None:
    # A breaker's finding (F12): the record kept 100 attachments and 50
    # defects without saying so.
    message = _logs_mail("<many@x.org>")
    for _ in range(130):
        part = MIMEApplication(b"x")
        part.add_header("Content-Disposition", "attachment")  # and no name
        message.attach(part)
    app = make_app(tmp_path, database_url, now=NOW)
    outcome = _feed(app, message.as_bytes())
    stored = _stored(app, outcome.mail_id)  # type: ignore[arg-type]
    assert len(stored.attachments) == 100
    assert len(stored.defects) == 50
    assert stored.defects[-1] == "30 attachments after the first 100 not listed"
    more = stored.defects[-2]
    assert more.endswith(" more defects not kept"), stored.defects
    # One defect a nameless attachment, and the others kept.
    left = int(more.split()[0])
    assert left + 48 >= 130


def test_values_left_out_by_the_value_budget_are_a_defect_of_the_mail(
    tmp_path: Path, database_url: str
) -> None:
    # A breaker's finding (F6): only the log said that values were not read.
    lines = [f"Scans from 10.{n // 250}.{n % 250}.1" for n in range(6000)]
    app = make_app(tmp_path, database_url, now=NOW)
    outcome = _feed(app, _report("\n".join(lines) + "\n"))
    stored = _stored(app, outcome.mail_id)  # type: ignore[arg-type]
    notes = [d for d in stored.defects if d.startswith(fields.LEFT_OUT)]
    assert len(notes) == 1 and "lines after the value budget" in notes[0], notes
    # A mail within the budget has no such defect.
    outcome = _feed(app, _report(n=2))
    stored = _stored(app, outcome.mail_id)  # type: ignore[arg-type]
    assert not [d for d in stored.defects if d.startswith(fields.LEFT_OUT)]


def test_time_per_mail_is_bounded(tmp_path: Path, database_url: str) -> None:
    app = make_app(
        tmp_path,
        database_url,
        now=NOW,
        extra={"MAILBOT_LIMITS_MAX_SECONDS_PER_MAIL": "0.001"},
    )
    body = "".join(
        f"203.0.113.{n % 250} ssh login at 10:{n % 60:02d}\n" for n in range(40_000)
    )
    outcome = _feed(app, _report(body))
    assert outcome.result == "quarantined"
    stored = _stored(app, outcome.mail_id)  # type: ignore[arg-type]
    assert stored.stage == "limits" and "max_seconds_per_mail" in (stored.error or "")
    assert (stored.subject, stored.from_addr) == ("Scans from 203.0.113.9 (1)", FROM)
    # The next mail is not hurt by the timer of the last one.
    app.settings = type(app.settings)(
        **{**app.settings.__dict__, "limits": type(app.settings.limits)()}
    )
    assert _feed(app, _report(n=2)).result == "processed"


def test_a_mail_that_kills_the_process_is_set_aside(
    tmp_path: Path, database_url: str
) -> None:
    # As the daemon leaves it when it dies inside the stages: stored,
    # "received", its attempts counted before each try.
    app = make_app(tmp_path, database_url, now=NOW)
    raw = _report()
    from mailbot import store

    with app.db.transaction() as session:
        stored = store.accept(session, RawMail(raw, NOW, "killer"))
        session.get(Mail, stored.mail_id).attempts = app.settings.limits.max_attempts  # type: ignore[union-attr]
    outcomes = resume_received(app)
    assert [o.result for o in outcomes] == ["quarantined"]
    row = _stored(app, stored.mail_id)
    assert row.stage == "crash" and "quarantine retry" in (row.error or "")
    assert resume_received(app) == []


def test_quarantine_retries_are_automatic_and_bounded(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(tmp_path, database_url, now=NOW)
    failures = {"left": 1}
    real_record = process.record

    def flaky(*args):  # type: ignore[no-untyped-def]
        # A fault injected into the record stage, as a bug or a race would.
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("injected failure")
        return real_record(*args)

    monkeypatch.setattr(process, "record", flaky)
    first = _feed(app, _report(n=1))
    assert first.result == "quarantined"
    assert resume_received(app) == []  # not yet: retries wait
    app.clock.advance(process.retry_delay(1))
    assert [o.result for o in resume_received(app)] == ["processed"]

    failures["left"] = 100
    broken = _feed(app, _report(n=2))
    tries = 1
    for _ in range(10):
        app.clock.advance(dt.timedelta(days=1))
        tries += len(resume_received(app))
    assert tries == app.settings.limits.max_attempts
    row = _stored(app, broken.mail_id)  # type: ignore[arg-type]
    assert (row.state, row.attempts) == ("quarantined", tries)
    status = views.status(app, None)
    assert (status["mails"], status["quarantined"]) == (1, 1)
