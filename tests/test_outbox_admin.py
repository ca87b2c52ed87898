"""`mailbot outbox`: what is not delivered, and settling an uncertain delivery."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
from mailbot_env import mail, make_app
from opsenv import cli_env, run_cli

from mailbot import service, views
from mailbot.cli import main
from mailbot.db.models import Outbox
from mailbot.errors import MailbotError
from mailbot.mail import RawMail
from mailbot.outbox_admin import settle, undelivered
from mailbot.process import process_delivery
from mailbot.send import deliver_due

NOW = dt.datetime(2026, 12, 4, 9, 0, tzinfo=dt.UTC)
REPORT = mail(subject="Compromised host 192.0.2.45", message_id="<r@cert.example.net>")


@pytest.mark.parametrize("outcome", ["arrived", "resend"])
def test_an_uncertain_delivery_is_settled_by_a_person(
    tmp_path: Path, database_url: str, smtp_sink, outcome: str
) -> None:  # type: ignore[no-untyped-def]
    app = make_app(
        tmp_path, database_url, smtp=smtp_sink, now=NOW,
        extra={"MAILBOT_SMTP_TIMEOUT": "1"},
    )  # fmt: skip
    tag = process_delivery(app, RawMail(REPORT, NOW, "test")).incident
    smtp_sink.stall()
    assert deliver_due(app).uncertain == 1
    smtp_sink.release("451 4.3.0 lost")
    service.set_state(app, "last_poll_at", NOW.strftime("%Y-%m-%dT%H:%M:%SZ"))
    status = views.status(app, service.last_poll(app))
    assert not status["healthy"]
    assert any("mailbot outbox settle" in p for p in status["problems"])

    [row] = undelivered(app)
    assert (row["state"], row["recipients"]) == (
        "uncertain",
        ["reporter@cert.example.net"],
    )
    with pytest.raises(MailbotError, match="no outbox row"):
        settle(app, row["id"] + 1, "arrived")
    now = NOW.isoformat()
    done = run_cli(
        cli_env(app), "--now", now, "outbox", "settle", str(row["id"]), outcome
    )
    assert done.returncode == 0, done.stderr
    # A resent mail waits for the next send: the operator is told when.
    told = {"arrived": "is now sent", "resend": "is pending again"}[outcome]
    assert told in done.stdout
    if outcome == "resend":
        assert "mailbot poll" in done.stdout
    deliver_due(app)
    with app.db.transaction() as session:
        final = session.get(Outbox, row["id"])
        assert final.state == "sent"
    if outcome == "arrived":
        assert "settled by hand" in final.last_error
    else:
        # The resent copy keeps its Message-ID: a first copy that arrived
        # after all is recognised as the same mail by the recipient's client.
        copies = smtp_sink.wait_for(2)
        assert [c.message["Message-ID"] for c in copies] == [row["message_id"]] * 2
    assert undelivered(app) == []
    assert views.status(app, service.last_poll(app))["healthy"]
    # The person's decision is in the incident's trail.
    shown = views.show(app, str(tag))
    assert shown is not None
    assert [a["action"] for a in shown["audit"]] == [f"outbox_{outcome}"]
    app.close()


def test_the_outbox_listing_has_a_header(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path, database_url, now=NOW)
    process_delivery(app, RawMail(REPORT, NOW, "test"))
    env = cli_env(app)
    app.close()
    done = run_cli(env, "--now", "2026-12-04T09:00:00Z", "outbox")
    assert done.returncode == 0, done.stderr
    head, row = done.stdout.splitlines()
    assert head.split()[:6] == [
        "ID",
        "STATE",
        "QUEUED",
        "LEAVES",
        "PURPOSE",
        "RECIPIENTS",
    ]
    assert row.split()[1:5] == [
        "pending",
        "2026-12-04T09:00:00Z",
        "2026-12-04T09:00:00Z",
        "acknowledgement",
    ]


def test_settle_without_its_arguments_is_a_usage_error(
    tmp_path: Path, database_url: str
) -> None:
    app = make_app(tmp_path, database_url, now=NOW)
    done = run_cli(cli_env(app), "outbox", "settle")
    assert done.returncode == 2
    assert done.stderr.startswith("mailbot outbox: settle: give the ID")
    app.close()


def test_a_lease_run_out_counts_as_uncertain(
    tmp_path: Path, database_url: str, smtp_sink
) -> None:  # type: ignore[no-untyped-def]
    # A sender killed mid-exchange leaves its row "sending"; the next send
    # finds its lease run out and makes it uncertain. The sweep's summary
    # said `uncertain: 0` for it, hiding the one mail a person must settle.
    from mailbot.send.claim import LEASE, claim_next

    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW)
    process_delivery(app, RawMail(REPORT, NOW, "test"))
    assert claim_next(app) is not None
    app.clock.set(NOW + LEASE + dt.timedelta(seconds=1))
    counts = deliver_due(app)
    assert (counts.uncertain, counts.sent) == (1, 0)
    [row] = undelivered(app)
    assert row["state"] == "uncertain"
    assert smtp_sink.messages == []


def test_a_lapsed_lease_is_uncertain_in_status_and_outbox_alike(
    tmp_path: Path, database_url: str, smtp_sink
) -> None:  # type: ignore[no-untyped-def]
    """Before the next send marks it, a row left "sending" by a sender that
    died was counted "waiting" by `status` (which called the outbox stuck)
    and listed "sending" by `outbox`, whose settle refused it ("being sent
    now")."""
    from mailbot.send.claim import LEASE, claim_next

    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW)
    process_delivery(app, RawMail(REPORT, NOW, "test"))
    assert claim_next(app) is not None
    later = NOW + LEASE + dt.timedelta(seconds=1)
    service.set_state(app, "last_poll_at", later.strftime("%Y-%m-%dT%H:%M:%SZ"))
    app.clock.set(later)
    env = cli_env(app)
    [row] = undelivered(app)
    assert row["state"] == "uncertain"
    status = views.status(app, service.last_poll(app))
    assert (status["outbox_pending"], status["outbox_uncertain"]) == (0, 1)
    assert status["outbox_oldest_pending_at"] is None
    assert [p for p in status["problems"] if "uncertain delivery" in p], status
    assert not [p for p in status["problems"] if "stuck" in p], status
    app.close()
    at = ("--now", later.isoformat())
    done = run_cli(env, *at, "outbox", "settle", str(row["id"]), "arrived")
    assert done.returncode == 0, done.stderr
    assert "is now sent" in done.stdout
    assert smtp_sink.messages == []


def _failed_acknowledgement(app, smtp_sink) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """A report whose acknowledgement failed for good (a full mailbox, one
    attempt allowed); the outbox row's id and the incident's tag."""
    smtp_sink.reject("RCPT", 452, "4.2.2 Mailbox full")
    outcome = process_delivery(app, RawMail(REPORT, NOW, "test"))
    assert deliver_due(app).failed == 1
    [row] = undelivered(app)
    assert row["state"] == "failed"
    return row["id"], str(outcome.incident)


def test_a_failed_mail_is_dropped_by_the_operator_with_a_trail(
    tmp_path: Path, database_url: str, smtp_sink
) -> None:  # type: ignore[no-untyped-def]
    """A mail failed for good could only be resent, never dismissed: `status`
    warned of it for ever and `outbox` listed it (opsfix7)."""
    extra = {"MAILBOT_SMTP_MAX_ATTEMPTS": "1"}
    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW, extra=extra)
    row_id, tag = _failed_acknowledgement(app, smtp_sink)
    assert any("failed for good" in w for w in views.status(app, NOW)["warnings"])
    env = cli_env(app, MAILBOT_SMTP_MAX_ATTEMPTS="1")
    now = NOW.isoformat()
    # Only a row that can be dropped: a sent one is refused, exit 1.
    done = run_cli(env, "--now", now, "outbox", "drop", str(row_id + 5))
    assert done.returncode == 1 and f"no outbox row {row_id + 5}" in done.stderr
    done = run_cli(
        env, "--now", now, "outbox", "drop", str(row_id),
        "--reason", "reporter's mailbox is gone",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "dropped" in done.stdout
    assert undelivered(app) == []
    assert not any("failed" in w for w in views.status(app, NOW)["warnings"])
    smtp_sink.accept()
    app.clock.advance(dt.timedelta(hours=1))
    assert deliver_due(app).sent == 0  # never sent
    # The trail says who dropped what and why; `show` marks the mail.
    data = views.show(app, tag)
    assert data is not None
    [entry] = [a for a in data["audit"] if a["action"] == "outbox_drop"]
    assert entry["actor"].startswith("operator ")
    assert "reporter@cert.example.net" in entry["detail"]
    assert "reporter's mailbox is gone" in entry["detail"]
    [out] = [m for m in data["messages"] if m["direction"] == "out"]
    assert out["delivery"] == "dropped"
    shown = run_cli(env, "--now", now, "show", tag)
    assert "DROPPED by the operator" in shown.stdout
    assert "outbox_drop" in shown.stdout
    # Dropped once is dropped: a second drop is refused, naming the state.
    again = run_cli(env, "--now", now, "outbox", "drop", str(row_id))
    assert again.returncode == 1 and "is dropped, not" in again.stderr
    app.close()


def test_a_failed_mail_is_retried_with_fresh_attempts(
    tmp_path: Path, database_url: str, smtp_sink
) -> None:  # type: ignore[no-untyped-def]
    extra = {"MAILBOT_SMTP_MAX_ATTEMPTS": "1"}
    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW, extra=extra)
    row_id, tag = _failed_acknowledgement(app, smtp_sink)
    env = cli_env(app, MAILBOT_SMTP_MAX_ATTEMPTS="1")
    done = run_cli(env, "--now", NOW.isoformat(), "outbox", "retry", str(row_id))
    assert done.returncode == 0, done.stderr
    assert "is pending again" in done.stdout
    with app.db.transaction() as session:
        row = session.get(Outbox, row_id)
        assert (row.state, row.attempts) == ("pending", 0)
    smtp_sink.accept()
    assert deliver_due(app).sent == 1
    data = views.show(app, tag)
    assert data is not None
    assert [a["action"] for a in data["audit"]] == ["outbox_retry"]
    # Retry is for a failed row: a sent one is refused, naming its state.
    done = run_cli(env, "--now", NOW.isoformat(), "outbox", "retry", str(row_id))
    assert done.returncode == 1 and "is sent, not failed" in done.stderr
    app.close()


def test_the_outbox_help_names_every_decision() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "mailbot", "outbox", "--help"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    for word in ("settle", "retry", "drop", "--reason"):
        assert word in done.stdout
    done = run_cli(
        {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")},
        "outbox", "drop",
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("mailbot outbox: drop: give the ID")


def test_an_id_no_row_can_have_is_answered_as_an_unknown_id(
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An ID past what an INTEGER column holds ended `outbox drop` with
    "OverflowError" on SQLite and `quarantine retry` with "DataError:
    integer out of range" on PostgreSQL (from 2**31)."""
    app = make_app(tmp_path, database_url, now=NOW)
    _configure(monkeypatch, app, tmp_path)
    app.close()

    def run(*args: str) -> tuple[int, str]:
        status = main(list(args))
        return status, capsys.readouterr().err

    for value in ["7", "2147483648", "99999999999999999999999"]:
        assert run("outbox", "drop", value) == (
            1,
            f"mailbot: no outbox row {value}: `mailbot outbox` lists them\n",
        )
        assert run("quarantine", "retry", value) == (
            1,
            f"mailbot: mail {value} is not in quarantine\n",
        )
    with pytest.raises(SystemExit) as usage:
        main(["outbox", "drop", "four"])
    assert usage.value.code == 2
    assert "'four' is not an ID: give the number" in capsys.readouterr().err


def _configure(monkeypatch: pytest.MonkeyPatch, app: Any, where: Path) -> None:
    """main() in this process configured as `app` is."""
    for key, value in cli_env(app).items():
        if key.startswith("MAILBOT_"):
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(where)


def test_each_answer_says_what_it_is_about(
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = make_app(tmp_path, database_url, now=NOW)
    process_delivery(app, RawMail(REPORT, NOW, "test"))
    _configure(monkeypatch, app, tmp_path)
    (row,) = undelivered(app)
    at = ["--now", "2026-12-04T09:00:00Z"]
    # The extra word is what is wrong, not a missing ID.
    assert main([*at, "outbox", "drop", str(row["id"]), "arrived"]) == 2
    assert capsys.readouterr().err == (
        "mailbot outbox: drop: takes no 'arrived': `arrived` and `resend` go"
        " with settle; give the ID of the row that `mailbot outbox` lists\n"
    )
    # An ID to `list` is refused by `quarantine` as by `outbox`.
    assert main([*at, "quarantine", "list", "11"]) == 2
    assert "list: takes no ID; `quarantine retry ID` does" in capsys.readouterr().err
    # The only row dropped: none was delivered.
    assert main([*at, "outbox", "drop", str(row["id"])]) == 0
    capsys.readouterr()
    assert main([*at, "outbox"]) == 0
    assert capsys.readouterr().out == "the outbox is empty: no mail waits to be sent\n"
    # A release with no brake engaged and nothing held releases nothing, and
    # does not restart the hour the brake counts. (The log goes to stderr.)
    assert main([*at, "--log-level", "INFO", "brake", "release"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "brake not engaged",
        "no mail was held: nothing to release",
    ]
    assert "brake released" not in err and "held mails released" not in err
    assert service.get_state(app, "brake_released_at") is None
    # Mail a cap held is released without a brake said released; what it
    # released counts no more in the brake's hour, as after the brake.
    other = mail(subject="Compromised host 192.0.2.46", message_id="<o@x.example>")
    process_delivery(app, RawMail(other, NOW, "test"))
    with app.db.transaction() as session:
        session.query(Outbox).filter(Outbox.state == "pending").update(
            {"state": "held"}
        )
    assert main([*at, "--log-level", "INFO", "brake", "release"]) == 0
    out, err = capsys.readouterr()
    assert "released 1 held mail(s)" in out
    assert "brake released" not in err
    assert (
        "INFO mailbot.brake: held mails released (the brake was not engaged):"
        " 1 queued to be sent, 0 withdrawn"
    ) in err
    assert service.get_state(app, "brake_released_at") == "released"
    app.close()
