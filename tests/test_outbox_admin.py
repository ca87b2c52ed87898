"""`mailbot outbox`: what is not delivered, and settling an uncertain delivery."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from mailbot_env import mail, make_app
from opsenv import cli_env, run_cli

from mailbot import service, views
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
    process_delivery(app, RawMail(REPORT, NOW, "test"))
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
    with pytest.raises(MailbotError, match="is not uncertain"):
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
    app.close()


def test_the_outbox_listing_has_a_header(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path, database_url, now=NOW)
    process_delivery(app, RawMail(REPORT, NOW, "test"))
    env = cli_env(app)
    app.close()
    done = run_cli(env, "--now", "2026-12-04T09:00:00Z", "outbox")
    assert done.returncode == 0, done.stderr
    head, row = done.stdout.splitlines()
    assert head.split()[:5] == ["ID", "STATE", "QUEUED", "PURPOSE", "RECIPIENTS"]
    assert row.split()[1:4] == ["pending", "2026-12-04T09:00:00Z", "acknowledgement"]


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
    from mailbot.send import LEASE, claim_next

    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW)
    process_delivery(app, RawMail(REPORT, NOW, "test"))
    assert claim_next(app) is not None
    app.clock.set(NOW + LEASE + dt.timedelta(seconds=1))
    counts = deliver_due(app)
    assert (counts.uncertain, counts.sent) == (1, 0)
    [row] = undelivered(app)
    assert row["state"] == "uncertain"
    assert smtp_sink.messages == []
