"""A real mailbox, polled: incidents, threads and acknowledgements end to end."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

from mailbot_env import mail, make_app

from mailbot import service, views

UTC = dt.UTC
NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=UTC)

REPORT = mail(
    subject="Security incident suspected at SITE-A [EGI-20261204] TLP: AMBER",
    sender="Pekka Admin <admin@site-a.example.com>",
    message_id="<report-1@site-a.example.com>",
    date="Fri, 04 Dec 2026 09:55:00 +0000",
    body="We found a miner on wn12.site-a.example.com (192.0.2.45).\n",
)
THIRD_PARTY = mail(
    subject="[TLP:GREEN] Mining traffic from 198.51.100.77",
    sender="CERT <reporter@cert.example.net>",
    message_id="<cert-1@cert.example.net>",
    date="Fri, 04 Dec 2026 10:05:00 +0000",
    body="Stratum traffic seen from 198.51.100.77 to a pool.\n",
)


def _deliver(dovecot, *raws: bytes) -> None:  # type: ignore[no-untyped-def]
    dovecot.append_many(list(raws), internaldate=NOW - dt.timedelta(hours=1))


def test_poll_threads_and_acknowledges(
    tmp_path: Path, dovecot, smtp_sink, database_url
) -> None:  # type: ignore[no-untyped-def]
    _deliver(dovecot, REPORT, THIRD_PARTY)
    app = make_app(tmp_path, database_url, dovecot=dovecot, smtp=smtp_sink, now=NOW)
    result = service.poll(app)
    assert (result.fetched, result.processed) == (2, 2)
    listed = {row["tag"]: row for row in views.incident_list(app)}
    assert set(listed) == {"EGI-20261204-01", "EGI-20261204-02"}
    assert listed["EGI-20261204-01"]["site"] == "SITE-A"
    assert listed["EGI-20261204-02"]["tlp"] == "GREEN"

    acks = smtp_sink.wait_for(2)
    by_rcpt = {m.recipients[0]: m.message for m in acks}
    ack = by_rcpt["admin@site-a.example.com"]
    assert ack["Subject"] == (
        "[EGI-20261204-01] [TLP:AMBER] Security incident suspected at SITE-A"
    )
    assert ack["In-Reply-To"] == "<report-1@site-a.example.com>"
    assert "<report-1@site-a.example.com>" in ack["References"]
    assert ack["Auto-Submitted"] == "auto-generated"
    assert ack["Message-ID"].endswith("@csirt.example.org>")
    assert ack.get_payload(decode=True).decode().splitlines()[0] == "TLP:AMBER"
    assert by_rcpt["reporter@cert.example.net"]["Subject"].startswith(
        "[EGI-20261204-02] [TLP:GREEN] "
    )

    # A second poll, and a restarted mailbot, process nothing again.
    assert service.poll(app).fetched == 0
    app.close()
    again = make_app(tmp_path, database_url, dovecot=dovecot, smtp=smtp_sink, now=NOW)
    assert service.poll(again).fetched == 0
    assert len(smtp_sink.messages) == 2

    # A reply without a tag that answers the acknowledgement joins the incident.
    reply = mail(
        subject="Re: your mail",
        sender="admin@site-a.example.com",
        message_id="<reply-1@site-a.example.com>",
        date="Fri, 04 Dec 2026 11:00:00 +0000",
        headers={"In-Reply-To": ack["Message-ID"], "References": ack["Message-ID"]},
        body="The host is isolated now.\n",
    )
    _deliver(dovecot, reply)
    assert service.poll(again).processed == 1
    shown = views.show(again, "EGI-20261204-01")
    assert shown is not None
    reasons = [(m["message_id"], m["thread_reason"]) for m in shown["messages"]]
    assert ("<reply-1@site-a.example.com>", "reference") in reasons
    assert ("<report-1@site-a.example.com>", "new") in reasons
    assert shown["aliases"] == ["EGI-20261204"]
    assert len(smtp_sink.messages) == 2
    status = views.status(again, service.last_poll(again))
    assert (status["mails"], status["duplicates"], status["quarantined"]) == (3, 0, 0)
    again.close()


def test_flags_are_left_alone(tmp_path: Path, dovecot, smtp_sink, database_url) -> None:  # type: ignore[no-untyped-def]
    _deliver(dovecot, REPORT)
    app = make_app(tmp_path, database_url, dovecot=dovecot, smtp=smtp_sink, now=NOW)
    service.poll(app)
    app.close()
    with dovecot.client() as client:
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags(client.search(["ALL"]))
    assert all(b"\\Seen" not in value for value in flags.values())


def test_same_delivery_twice_is_one_mail(
    tmp_path: Path, dovecot, smtp_sink, database_url
) -> None:  # type: ignore[no-untyped-def]
    # The same bytes delivered twice (a retried SMTP delivery) are one mail;
    # a relay that adds a Received header does not make it new either.
    relayed = b"Received: from relay.example.net by mx.csirt.example.org\r\n" + REPORT
    _deliver(dovecot, REPORT, REPORT, relayed)
    app = make_app(tmp_path, database_url, dovecot=dovecot, smtp=smtp_sink, now=NOW)
    result = service.poll(app)
    assert (result.processed, result.duplicates) == (1, 2)
    assert len(views.incident_list(app)) == 1
    status = views.status(app, service.last_poll(app))
    assert (status["mails"], status["duplicates"]) == (1, 2)
    app.close()


def test_uidvalidity_change_resyncs_without_repeats(
    tmp_path: Path, dovecot, smtp_sink, database_url
) -> None:  # type: ignore[no-untyped-def]
    _deliver(dovecot, REPORT, THIRD_PARTY)
    app = make_app(tmp_path, database_url, dovecot=dovecot, smtp=smtp_sink, now=NOW)
    service.poll(app)
    smtp_sink.wait_for(2)
    dovecot.change_uidvalidity()
    new = mail(
        subject="Another report",
        sender="x@cert.example.net",
        message_id="<new-1@cert.example.net>",
    )
    _deliver(dovecot, new)
    result = service.poll(app)
    assert (result.processed, result.duplicates) == (1, 2)
    assert len(views.incident_list(app)) == 3
    assert len(smtp_sink.wait_for(3)) == 3
    app.close()


def test_cli_poll_and_show(tmp_path: Path, dovecot, smtp_sink, database_url) -> None:  # type: ignore[no-untyped-def]
    _deliver(dovecot, REPORT)
    app = make_app(tmp_path, database_url, dovecot=dovecot, smtp=smtp_sink, now=NOW)
    config = tmp_path / "mailbot.toml"
    config.write_text(_config_toml(app), encoding="utf-8")
    app.close()
    run = lambda *a: subprocess.run(  # noqa: E731
        [
            sys.executable,
            "-m",
            "mailbot",
            "--config",
            str(config),
            "--now",
            "2026-12-04T12:00:00Z",
            *a,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    polled = run("poll", "--json")
    assert polled.returncode == 0, polled.stderr
    shown = run("show", "EGI-20261204", "--json")
    assert shown.returncode == 0, shown.stderr
    import json

    data = json.loads(shown.stdout)
    assert data["tag"] == "EGI-20261204-01"
    assert data["messages"][0]["date"] == "2026-12-04T09:55:00Z"
    assert {m["direction"] for m in data["messages"]} == {"in", "out"}
    assert smtp_sink.wait_for(1)[0].recipients == ("admin@site-a.example.com",)
    listed = json.loads(run("incidents", "--json").stdout)
    assert [r["tag"] for r in listed] == ["EGI-20261204-01"]
    assert set(listed[0]) >= {
        "tag",
        "site",
        "status",
        "tlp",
        "opened_at",
        "next_due_at",
    }


def _config_toml(app) -> str:  # type: ignore[no-untyped-def]
    s = app.settings
    return f"""
[mailbot]
address = "{s.mailbot.address}"
[database]
url = "{s.database.url}"
[imap]
host = "{s.imap.host}"
port = {s.imap.port}
tls = "none"
username = "{s.imap.username}"
password = "{s.imap.password}"
[smtp]
host = "{s.smtp.host}"
port = {s.smtp.port}
tls = "none"
[csirt]
members = {list(s.csirt.members)!r}
authserv_ids = {list(s.csirt.authserv_ids)!r}
[sites]
file = "{s.sites.file}"
""".replace("'", '"')
