"""DOMAIN.md scenario 2, the silent site, end to end through the command line.

A private Dovecot holds the mailbox, an SMTP server on loopback takes what
mailbot sends, and every step is `mailbot --config X --now T COMMAND` in
its own process, as cron or an operator would run it. A CSIRT request at
Friday 14:00 UTC to a site in Europe/Paris is due Monday 10:00 UTC; the
first reminder goes to the site at Monday 10:00, the second with the NGI
in copy a working day later, then the notice to the CSIRT; the site's late
answer stops the chasing. Each mail is sent once, also when two sweeps run
at the same moment.

The scenario runs in December 2025: Dovecot stores an APPEND's date only
when it is not in the future of the real clock, and the arrival time of a
mail is that date.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from mailbot_env import mail
from servers import Dovecot, ReceivedMail, SmtpSink

UTC = dt.UTC
TAG = "EGI-20251204-01"
SITE_CONTACTS = ("security@site-p.example.org", "admin@site-p.example.org")
NGI = "ngi-sec@ngi-fr.example.org"
DUTY = "duty@csirt.example.org"
SITES = """
[[ngi]]
name = "NGI_FR"
security_contacts = ["ngi-sec@ngi-fr.example.org"]

[[site]]
name = "SITE-P"
ngi = "NGI_FR"
timezone = "Europe/Paris"
country = "FR"
security_contacts = ["security@site-p.example.org", "admin@site-p.example.org"]
domains = ["site-p.example.org"]
"""


def config(tmp_path: Path, database_url: str, dovecot: Dovecot, sink: SmtpSink) -> Path:
    (tmp_path / "sites.toml").write_text(SITES, encoding="utf-8")
    path = tmp_path / "mailbot.toml"
    path.write_text(
        f"""
[mailbot]
address = "abuse@csirt.example.org"
[database]
url = "{database_url}"
[imap]
host = "{dovecot.host}"
port = {dovecot.port}
tls = "none"
username = "{dovecot.username}"
password = "{dovecot.password}"
[smtp]
host = "{sink.host}"
port = {sink.port}
tls = "none"
[csirt]
members = ["alice@csirt.example.org"]
authserv_ids = ["mx.csirt.example.org"]
duty_address = "{DUTY}"
[sites]
file = "sites.toml"
""",
        encoding="utf-8",
    )
    return path


class Mailbot:
    """Runs `mailbot --config X --now T ...` in a process of its own."""

    def __init__(self, config: Path) -> None:
        self.config = config

    def command(self, now: str, *args: str) -> list[str]:
        return [sys.executable, "-m", "mailbot", "--config", str(self.config),
                "--now", now, *args]  # fmt: skip

    def __call__(self, now: str, *args: str) -> str:
        done = subprocess.run(
            self.command(now, *args), capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def sweep(self, now: str) -> int:
        return int(json.loads(self(now, "sweep", "--json"))["reminders"])


def deliver(dovecot: Dovecot, raw: bytes, when: str) -> None:
    dovecot.append(raw, internaldate=dt.datetime.fromisoformat(when))


def chases(sink: SmtpSink) -> list[ReceivedMail]:
    heads = ("Reminder:", "Second reminder:", "Escalation:")
    return [m for m in sink.messages if m.headline.startswith(heads)]


SITE_REPORT = mail(
    subject="Security incident suspected at SITE-P TLP:AMBER",
    sender="Marie <security@site-p.example.org>",
    message_id="<report@site-p.example.org>",
    date="Thu, 04 Dec 2025 09:00:00 +0000",
    body="A miner ran on wn3.site-p.example.org. The host was isolated at\n"
    "08:50 UTC and a downtime was declared.\n",
)
REQUEST = mail(
    subject=f"Re: [{TAG}] [TLP:AMBER] Security incident suspected at SITE-P",
    sender="Alice <alice@csirt.example.org>",
    to=", ".join(SITE_CONTACTS),
    message_id="<request@csirt.example.org>",
    date="Fri, 05 Dec 2025 14:00:00 +0000",
    headers={
        "Authentication-Results": "mx.csirt.example.org; dkim=pass "
        "header.d=csirt.example.org",
        "In-Reply-To": "<report@site-p.example.org>",
    },
    body="Which account was used, and from which addresses?\n",
)
LATE_ANSWER = mail(
    subject=f"Re: [{TAG}] [TLP:AMBER] Escalation",
    sender="admin@site-p.example.org",
    message_id="<answer@site-p.example.org>",
    date="Wed, 10 Dec 2025 11:00:00 +0000",
    body="Sorry for the silence: the account was 'ops', from 203.0.113.7.\n",
)


def test_the_silent_site(
    tmp_path: Path, database_url: str, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    mailbot = Mailbot(config(tmp_path, database_url, dovecot, smtp_sink))
    deliver(dovecot, SITE_REPORT, "2025-12-04T09:00:00+00:00")
    mailbot("2025-12-04T09:05:00Z", "poll")
    [ack] = smtp_sink.wait_for(1)
    assert ack.message["Subject"].startswith(f"[{TAG}] [TLP:AMBER] ")
    deliver(dovecot, REQUEST, "2025-12-05T14:00:00+00:00")
    mailbot("2025-12-05T14:01:00Z", "poll")

    # The forecast a person checks on Friday afternoon.
    planned = json.loads(mailbot("2025-12-05T14:05:00Z", "deadlines", "--json"))
    assert [(p["at"], p["level"], p["action"], p["to"], p["cc"]) for p in planned] == [
        ("2025-12-08T10:00:00Z", 1, "reminder", list(SITE_CONTACTS), []),
        ("2025-12-09T10:00:00Z", 2, "reminder", list(SITE_CONTACTS), [NGI]),
        ("2025-12-10T10:00:00Z", 3, "escalation", [DUTY], []),
    ]
    assert {(p["tag"], p["rule"], p["site"]) for p in planned} == {
        (TAG, "analysis", "SITE-P")
    }
    assert planned[0]["site_local_time"] == "Mon 2025-12-08 11:00 CET"
    soon = json.loads(
        mailbot("2025-12-05T14:05:00Z", "deadlines", "--due-within", "3d", "--json")
    )
    assert [p["level"] for p in soon] == [1]

    # Nothing before Monday 10:00 UTC.
    for now in ("2025-12-06T12:00:00Z", "2025-12-08T09:59:00Z"):
        assert mailbot.sweep(now) == 0
    assert chases(smtp_sink) == []

    # Monday 10:00: the first reminder, to the site, in the thread; once.
    assert mailbot.sweep("2025-12-08T10:00:00Z") == 1
    [first] = chases(smtp_sink)
    assert first.recipients == SITE_CONTACTS
    assert first.message["In-Reply-To"] == "<request@csirt.example.org>"
    # The thread's subject; what the mail is, after the TLP label.
    assert first.message["Subject"] == (
        f"[{TAG}] [TLP:AMBER] Security incident suspected at SITE-P"
    )
    assert first.headline.startswith("Reminder: ")
    assert first.message["Auto-Submitted"] == "auto-generated"
    text = first.message.get_payload(decode=True).decode()
    assert text.splitlines()[0] == "TLP:AMBER"
    assert "answer EGI CSIRT's request in this thread" in text
    assert mailbot.sweep("2025-12-08T10:15:00Z") == 0

    # Tuesday 10:00, two sweeps at once: one second reminder, NGI in copy.
    both = [
        subprocess.Popen(
            mailbot.command("2025-12-09T10:00:00Z", "sweep", "--json"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in both]
    assert [process.returncode for process in both] == [0, 0], outputs
    assert sorted(json.loads(out)["reminders"] for out, _ in outputs) == [0, 1]
    second = chases(smtp_sink)[1]
    assert second.recipients == (*SITE_CONTACTS, NGI)
    assert second.message["Cc"] == NGI

    # Wednesday 10:00: the notice to the CSIRT.
    assert mailbot.sweep("2025-12-10T10:00:00Z") == 1
    third = chases(smtp_sink)[2]
    assert third.recipients == (DUTY,)
    assert "suspension" in third.message.get_payload(decode=True).decode().lower()

    # The site's late answer stops the chasing: nothing more, ever.
    deliver(dovecot, LATE_ANSWER, "2025-12-10T11:00:00+00:00")
    mailbot("2025-12-10T11:01:00Z", "poll")
    assert mailbot.sweep("2025-12-17T10:00:00Z") == 0
    assert json.loads(mailbot("2025-12-11T10:00:00Z", "deadlines", "--json")) == []
    assert len(chases(smtp_sink)) == 3
    assert len(smtp_sink.messages) == 4  # the acknowledgement and three chases

    shown = json.loads(mailbot("2025-12-11T10:00:00Z", "show", TAG, "--json"))
    [analysis] = [d for d in shown["deadlines"] if d["rule"] == "analysis"]
    assert analysis["state"] == "missed"
    assert analysis["met_at"] == "2025-12-10T11:00:00Z"
    assert analysis["chases"] == [
        "2025-12-08T10:00:00Z",
        "2025-12-09T10:00:00Z",
        "2025-12-10T10:00:00Z",
    ]
