"""What the duty team is told to correct about an address refused for good.

An address is named by the sites file (a site's or an NGI's contact), by
mailbot's configuration (`[csirt] duty_address`, `[csirt] members`: its
own), by both (a member who is a site's contact), or by neither (a
reporter, a copy): the digest, `status` and the notices say to correct
what names it, and never "correct the sites file" for an address the
sites file does not hold.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import test_send_refusals as refusals
from mailbot_env import CASES_SITES, make_app
from servers import SmtpSink

from mailbot import digest, health, send
from mailbot.app import App
from mailbot.db.models import ContactFailure

NOW = dt.datetime(2026, 12, 8, 9, 0, tzinfo=dt.UTC)
SITE = "admin-old@site-a.example.com"
MEMBER = "alice@csirt.example.org"
DUTY = "duty@csirt.example.org"
# bob is a CSIRT member and SITE-B's security contact.
BOTH = "bob@csirt.example.org"
REPORTER = "reporter@cert.example.net"
SITES = (
    CASES_SITES
    + """
[[site]]
name = "SITE-B"
ngi = "NGI_A"
security_contacts = ["bob@csirt.example.org"]
"""
)


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> App:
    made = make_app(tmp_path, database_url, now=NOW, sites=SITES)
    with made.db.transaction() as session:
        for address in (SITE, MEMBER, DUTY, BOTH, REPORTER):
            session.add(
                ContactFailure(
                    address=address, permanent=True, status="5.1.1", failed_at=NOW
                )
            )
    return made


def _entries(body: str) -> dict[str, str]:
    """Each address the digest lists as refused, with the lines under it."""
    lines = body.split("Addresses whose mail bounces", 1)[1].splitlines()
    found: dict[str, str] = {}
    address = ""
    for line in lines[2:]:
        if line.startswith("  ") and not line.startswith("      "):
            address = line.split()[0]
            found[address] = ""
        elif line.startswith("      ") and address:
            found[address] += line.strip() + " "
        elif address:
            break
    return found


def test_the_digest_says_what_names_each_address(app: App) -> None:
    with app.db.transaction() as session:
        collected = digest.collect(app, session, NOW.date(), NOW, NOW)
    _, body, _ = digest.render_digest(app, collected)
    said = _entries(body.replace("\r\n", "\n"))
    assert set(said) == {SITE, MEMBER, DUTY, BOTH, REPORTER}
    assert (
        "contact of site SITE-A: reminders leave it out; correct the sites"
        in (said[SITE])
    )
    assert "configuration" not in said[SITE]
    for own, setting in ((MEMBER, "[csirt] members"), (DUTY, "[csirt] duty_address")):
        assert f"mailbot's own ({setting})" in said[own]
        assert "sites file" not in said[own]
    assert "configuration" in said[BOTH] and "contact of site SITE-B:" in said[BOTH]
    assert "nothing to correct there" in said[REPORTER]
    assert "correct the sites file" not in said[REPORTER]


def test_status_says_what_names_each_address(app: App) -> None:
    data = health.status(app, NOW)
    assert data["bouncing_contacts"] == [SITE, REPORTER]
    warnings = [w for w in data["warnings"] if "bounce" in w or "refused" in w]

    def about(address: str) -> str:
        [found] = [w for w in warnings if address in w]
        return found

    assert "correct the sites file (site SITE-A)" in about(SITE)
    assert "correct the sites file" not in about(REPORTER)
    assert "nothing to correct there" in about(REPORTER)
    assert "sites file" not in about(MEMBER) and "configuration" in about(MEMBER)
    assert "configuration" in about(BOTH)
    assert "correct the sites file (site SITE-B)" in about(BOTH)
    assert data["bounce_advice"][SITE] == "correct the sites file (site SITE-A)"


def test_the_notice_of_a_copy_refused_asks_no_sites_file_change(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink
) -> None:
    """A reporter's colleague in copy refused at RCPT: the duty team's
    notice said reminders skip it and to update the sites file, which
    names no such address."""
    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=refusals.NOW)
    dead = "cc-person@cert1.example.net"
    smtp_sink.reject("RCPT", 550, "5.1.1 User unknown", [dead])
    refusals._queue_to(app, "reporter1@cert1.example.net", dead)
    send.deliver_due(app)
    [notice] = [m for m in smtp_sink.messages if m.recipients == (DUTY,)]
    assert notice.headline == f"Mail to {dead} bounces"
    text = notice.message.get_payload(decode=True).decode().replace("\r\n", "\n")
    assert "sites file nor mailbot's configuration names" in text
    assert "update the sites file" not in text
    assert "reminders leave" not in text
    assert f"`mailbot bounces clear {dead}`" in text
