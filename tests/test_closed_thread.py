"""A site's new compromise report in the thread of a closed incident.

The site writes under the tag of its closed incident ("the miner is on
wn40 now"): the mail was filed in the closed incident, no clock started
and nobody was told (fixer finding 4). DOMAIN.md and INTERFACE.md say
nothing of reopening on a site's word, so mailbot reopens nothing: it
tells the CSIRT duty address, flags the mail and lists the incident in
`status` until a member acts in the thread. Thanks, acknowledgements and
auto-replies to a closed incident tell nobody.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import test_csirt_env as env
from mailbot_env import AUTHENTICATED, CASES_SITES, feed, mail, opened, rfc
from sqlalchemy import select

from mailbot import health, views
from mailbot.app import App
from mailbot.db.models import Outbox

SITE_A = "admin@site-a.example.com"
ALICE = "alice@csirt.example.org"
DUTY = "duty@csirt.example.org"
MINE = "EGI-20261204-01"
FLAG = "report_after_close"

# The `w` fixture: a mailbot on a private Dovecot and SMTP sink.
pytest_plugins = ("test_csirt_env",)


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[App]:
    yield from opened(tmp_path, database_url, CASES_SITES, "2026-12-04T09:55")


def send(
    app: App, subject: str, body: str, when: str, n: int, sender: str = SITE_A,
    **headers: str,
) -> str | None:  # fmt: skip
    raw = mail(
        subject=subject, sender=sender, message_id=f"<c{n}@example.org>",
        date=rfc(when), body=body, headers=headers,
    )  # fmt: skip
    return feed(app, raw, when)


def closed(app: App, command: str = "#close") -> None:
    """SITE-A's report of a miner on wn12, then a member's `command`."""
    body = (
        "A miner on wn12 (192.0.2.12), discovered 2026-12-04 08:10 UTC.\n"
        "We isolated wn12 at 09:30 UTC.\n"
    )
    subject = "Security incident suspected at SITE-A [EGI-20261204] TLP: AMBER"
    assert send(app, subject, body, "2026-12-04T09:55", 0) == MINE
    send(
        app, f"Re: [{MINE}] x", f"{command}\n", "2026-12-04T11:00", 1, sender=ALICE,
        **AUTHENTICATED,
    )  # fmt: skip
    assert views.show(app, MINE)["status"] in ("closed", "false_positive")  # type: ignore[index]


def notices(app: App) -> list[tuple[list[str], str]]:
    with app.db.transaction() as session:
        rows = session.scalars(select(Outbox).where(Outbox.purpose == "notice-closed"))
        return [
            (list(row.recipients), row.mail.raw.decode("utf-8", "replace"))
            for row in rows
        ]


def message(app: App, n: int) -> dict[str, Any]:
    shown = views.show(app, MINE)
    assert shown is not None
    [found] = [m for m in shown["messages"] if m["message_id"] == f"<c{n}@example.org>"]
    return dict(found)


def status(app: App) -> dict[str, Any]:
    return health.status(app, None)


NEW_REPORTS = [
    (
        f"Re: [{MINE}] [TLP:AMBER] Security incident suspected at SITE-A",
        "Hello,\n\nwe found another compromised host: wn40 (192.0.2.40) runs the"
        " same miner since 13:10 UTC.\n\nPekka\n",
    ),
    (
        f"[{MINE}] New compromise at SITE-A",
        "The miner is running again, on wn41 (192.0.2.41) this time; logins"
        " from 203.0.113.77.\n",
    ),
    (
        f"AW: [{MINE}] Security incident",
        "Hallo,\n\nwn42 (192.0.2.42) wurde erneut kompromittiert, wieder mit dem"
        " Miner.\n",
    ),
    (
        f"Re: [{MINE}] Security incident",
        "Bonjour,\n\nune nouvelle intrusion : wn43 (192.0.2.43) est compromise"
        " depuis 13:00 UTC.\n",
    ),
    # The other languages the README promises (a breaker's brk12 audit).
    (
        f"Re: [{MINE}] Security incident",
        "Olá,\n\no wn42 (192.0.2.42) foi novamente comprometido pelo mesmo"
        " minerador.\n",
    ),
    (
        f"Re: [{MINE}] Security incident",
        "Dzień dobry,\n\nwn42 (192.0.2.42) został ponownie skompromitowany.\n",
    ),
    (
        f"Re: [{MINE}] Security incident",
        "Dobrý den,\n\nwn42 (192.0.2.42) byl znovu kompromitován.\n",
    ),
]


@pytest.mark.parametrize(
    ("subject", "body"), NEW_REPORTS, ids=["en", "en2", "de", "fr", "pt", "pl", "cs"]
)
@pytest.mark.parametrize("command", ["#close", "#false-positive"])
def test_a_new_report_in_a_closed_incident_s_thread_is_told(
    app: App, subject: str, body: str, command: str
) -> None:
    closed(app, command)
    before = views.show(app, MINE)["status"]  # type: ignore[index]
    assert send(app, subject, body, "2026-12-04T14:00", 2) == MINE
    # Reopened by nobody: a member decides.
    assert views.show(app, MINE)["status"] == before  # type: ignore[index]
    assert FLAG in message(app, 2)["flags"]
    [(to, text)] = notices(app)
    assert to == [DUTY]
    assert MINE in text and SITE_A in text and "#reopen" in text
    audit = views.show(app, MINE)["audit"]  # type: ignore[index]
    assert [a for a in audit if a["action"] == FLAG]
    # `status` lists the incident, and says so in words.
    data = status(app)
    assert data["reports_after_close"] == [MINE]
    assert any(MINE in line for line in data["warnings"])


def test_a_member_s_mail_in_the_thread_takes_it_off_the_list(app: App) -> None:
    closed(app)
    subject, body = NEW_REPORTS[0]
    send(app, subject, body, "2026-12-04T14:00", 2)
    assert status(app)["reports_after_close"] == [MINE]
    send(
        app, f"Re: [{MINE}] x", "Thanks, looking at it.\n#no-request\n",
        "2026-12-04T14:30", 3, sender=ALICE, **AUTHENTICATED,
    )  # fmt: skip
    assert status(app)["reports_after_close"] == []


def test_reopening_takes_it_off_the_list(app: App) -> None:
    closed(app)
    subject, body = NEW_REPORTS[1]
    send(app, subject, body, "2026-12-04T14:00", 2)
    send(
        app, f"Re: [{MINE}] x", "#reopen\n", "2026-12-04T14:30", 3, sender=ALICE,
        **AUTHENTICATED,
    )  # fmt: skip
    assert views.show(app, MINE)["status"] == "open"  # type: ignore[index]
    assert status(app)["reports_after_close"] == []


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ("Thanks for closing this.\n\nPekka\n", {}),
        ("Ack, thank you.\n", {}),
        # What it quotes is no new report.
        ("Thanks for closing.\n\nOn Fri, 4 Dec 2026, Pekka wrote:\n> we found"
         " another compromised host: wn40 (192.0.2.40) runs the miner.\n", {}),
        ("Thank you. The compromised host wn12 was reinstalled and is in"
         " production again.\n", {}),
        ("Danke, der kompromittierte Rechner wn12 ist neu installiert.\n", {}),
        ("Merci, la machine compromise wn12 est réinstallée.\n", {}),
        ("Dziękuję, skompromitowany serwer wn12 został przeinstalowany.\n", {}),
        ("Děkuji, kompromitovaný server wn12 byl přeinstalován.\n", {}),
        # A closure confirmed late: a known host in a new role ("login
        # node") and remediation told are no new compromise.
        ("Thank you. We confirm that the login node 192.0.2.12 is back in"
         " production after the reinstall, and the compromised account is"
         " disabled.\n", {}),
        ("Thanks. The compromised account on wn12 was disabled, the ssh keys"
         " revoked and the node patched.\n", {}),
        ("I am out of the office until 14 December. For urgent matters please"
         " contact security@site-a.example.com.\n", {}),
        ("Another compromised host was found: wn40 (192.0.2.40).\n",
         {"Auto-Submitted": "auto-replied"}),
    ],
    ids=[
        "thanks", "ack", "quoted", "reinstalled", "de", "fr", "pl", "cs", "confirmed",
        "disabled", "away", "auto",
    ],
)  # fmt: skip
def test_an_ordinary_reply_to_a_closed_incident_tells_nobody(
    app: App, body: str, headers: dict[str, str]
) -> None:
    closed(app)
    subject = f"Re: [{MINE}] [TLP:AMBER] Security incident suspected at SITE-A"
    assert send(app, subject, body, "2026-12-04T14:00", 2, **headers) == MINE
    assert views.show(app, MINE)["status"] == "closed"  # type: ignore[index]
    assert FLAG not in message(app, 2)["flags"]
    assert notices(app) == []
    assert status(app)["reports_after_close"] == []


@pytest.mark.parametrize(
    "body",
    [
        "Logs show a miner running on wn40 (192.0.2.40) since 13:10 UTC.\n",
        # Blocked, but new: the hosts make it a new report.
        "The miner was found on wn41 (192.0.2.41) too; we blocked 203.0.113.77.\n",
    ],
    ids=["evidence", "blocked"],
)
def test_new_hosts_alone_make_a_new_report(app: App, body: str) -> None:
    closed(app)
    subject = f"Re: [{MINE}] [TLP:AMBER] Security incident suspected at SITE-A"
    assert send(app, subject, body, "2026-12-04T14:00", 2) == MINE
    assert FLAG in message(app, 2)["flags"]
    [(to, text)] = notices(app)
    assert to == [DUTY]
    # The values end the notice's sentence with one period.
    assert not re.search(r"\.\.(?!\.)", text), text


def test_a_new_report_in_an_open_incident_is_no_notice(app: App) -> None:
    body = "A miner on wn12 (192.0.2.12), discovered 2026-12-04 08:10 UTC.\n"
    subject = "Security incident suspected at SITE-A [EGI-20261204] TLP: AMBER"
    assert send(app, subject, body, "2026-12-04T09:55", 0) == MINE
    subject, body = NEW_REPORTS[0]
    assert send(app, subject, body, "2026-12-04T14:00", 2) == MINE
    assert FLAG not in message(app, 2)["flags"]
    assert notices(app) == []


def test_the_duty_address_gets_the_notice_through_smtp(w: env.World) -> None:
    """Through a private Dovecot and a real SMTP server on loopback: the
    notice reaches the duty address, in the thread, and nobody else."""
    tag = env.site_report(w)
    when = env.at("2026-11-30T11:00:00")
    w.deliver(env.member_mail(
        subject=f"Re: [{tag}] x", body="#close\n", when=when,
        message_id="<close@csirt.example.org>",
    ), when)  # fmt: skip
    w.new_mail()
    when = env.at("2026-11-30T14:00:00")
    w.deliver(env.raw_mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Security incident", sender=env.SITE_A,
        when=when, message_id="<anew@site-a.example.com>",
        body="The miner is back: another compromised host, wn40 (192.0.2.40).\n",
    ), when)  # fmt: skip
    [notice] = w.new_mail()
    assert notice.recipients == (w.app.settings.csirt.duty_address,)
    assert notice.message["Subject"].startswith(f"[{tag}]")
    assert "<anew@site-a.example.com>" in env.body_of(notice)
    assert w.show(tag)["status"] == "closed"


@pytest.mark.parametrize(
    "body",
    [
        "Thanks, the attacker 203.0.113.99 is now blocked.\n",
        "Thank you. We banned the attacking address 203.0.113.99 with fail2ban"
        " and firewalled the ssh port.\n",
        "Danke, die Adresse des Angriffs, 203.0.113.99, ist jetzt in der"
        " Firewall gesperrt.\n",
        "Merci, l'adresse de l'attaque, 203.0.113.99, est maintenant bloquée.\n",
        "Bedankt, de aanvaller 203.0.113.99 is nu geblokkeerd.\n",
        "Gracias, la IP del ataque, 203.0.113.99, ya está bloqueada.\n",
        "Grazie, l'indirizzo dell'attacco, 203.0.113.99, è ora bloccato.\n",
        "Dziękuję, adres ataku 203.0.113.99 jest teraz zablokowany.\n",
        "Děkuji, adresa útoku 203.0.113.99 je nyní zablokována.\n",
    ],
    ids=["en", "en-banned", "de", "fr", "nl", "es", "it", "pl", "cs"],
)
def test_an_attacker_blocked_is_containment_not_a_new_report(
    app: App, body: str
) -> None:
    """A site telling that it blocked the attacker, at an address new to
    the incident, was told to the duty address as a new compromise: the
    attacker's words and the new address made it one."""
    closed(app)
    subject = f"Re: [{MINE}] [TLP:AMBER] Security incident suspected at SITE-A"
    assert send(app, subject, body, "2026-12-04T14:00", 2) == MINE
    assert FLAG not in message(app, 2)["flags"]
    assert notices(app) == []


def test_a_new_compromise_with_its_attacker_blocked_is_still_told(app: App) -> None:
    closed(app)
    subject = f"Re: [{MINE}] [TLP:AMBER] Security incident suspected at SITE-A"
    body = (
        "The attacker 203.0.113.99 compromised wn40 (192.0.2.40) too; it is"
        " blocked now.\n"
    )
    assert send(app, subject, body, "2026-12-04T14:00", 2) == MINE
    assert FLAG in message(app, 2)["flags"]
    [(to, text)] = notices(app)
    assert "192.0.2.40" in text, text
