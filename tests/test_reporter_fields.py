"""A third party's mail gives what it saw, not its own boilerplate.

Shadowserver's download link and wiki, AbuseHUB's schema page were an
incident's attacker IPs and affected hosts; Webiron's "our bans are very
short" was its actions taken, so the site was asked for nothing. The names
under a reporter's own domain are not indicators, and the actions taken to
resolve an incident come from the site and the CSIRT only; a site's own
hosts stay its affected hosts.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from mailbot_env import AUTHENTICATED, mail, make_app

from mailbot import views
from mailbot.app import App
from mailbot.context import reporter_domains
from mailbot.mail import RawMail
from mailbot.parse import parse
from mailbot.process import process_delivery
from mailbot.reextract import reextract
from mailbot.sites import Directory, Site

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> App:
    return make_app(tmp_path, database_url, now=NOW)


def _feed(app: App, raw: bytes) -> str:
    outcome = process_delivery(app, RawMail(raw, NOW, "test"))
    assert outcome.result == "processed" and outcome.incident, outcome.reason
    return outcome.incident


def _shown(app: App, tag: str) -> dict:
    shown = views.show(app, tag)
    assert shown is not None
    return shown


def _indicators(shown: dict) -> list[str]:
    """Every value of the incident but its free text."""
    return [row["value"] for row in shown["provenance"] if row["kind"] != "text"]


def test_a_reporters_own_names_and_links_are_no_indicators(
    corpus_dir: Path, app: App
) -> None:
    samples = corpus_dir / "abuseio"
    afp = samples / "shadowserver/2019-01-06-scan_afp-sample-ip.csv.zip.eml"
    shadowserver = _feed(app, afp.read_bytes())
    abusehub = _feed(app, (samples / "abusehub/Abusehub_Example_1.eml").read_bytes())

    found = _indicators(_shown(app, shadowserver))
    assert not [value for value in found if "shadowserver.org" in value], found
    found = _indicators(_shown(app, abusehub))
    assert not [value for value in found if "abusehub.nl" in value], found
    fields = _shown(app, abusehub)["fields"]
    # The reported address is read as ever.
    assert fields["attacker_ips"] == ["172.16.10.13"]


def test_a_third_partys_actions_are_not_the_sites(corpus_dir: Path, app: App) -> None:
    raw = (corpus_dir / "abuseio/webiron/Webiron_Example_1.eml").read_bytes()
    tag = _feed(app, raw)
    shown = _shown(app, tag)
    assert "actions_taken" not in shown["fields"]
    assert "actions_taken" in shown["missing"]
    assert not [value for value in _indicators(shown) if "webiron.com" in value]
    assert "172.16.31.20" in shown["fields"]["attacker_ips"]

    # Read again with today's extractor: the same.
    fields = shown["fields"]
    reextract(app, tag)
    assert _shown(app, tag)["fields"] == fields


def test_the_site_and_the_csirt_tell_the_actions_taken(app: App) -> None:
    tag = _feed(
        app,
        mail(
            subject="Scans from 192.0.2.45",
            sender="abuse@isp.example.net",
            message_id="<scan@isp.example.net>",
            body="We saw SSH scans from 192.0.2.45 and blocked it at our firewall.\n",
        ),
    )
    assert "actions_taken" not in _shown(app, tag)["fields"]
    _feed(
        app,
        mail(
            subject=f"Re: [{tag}] Scans from 192.0.2.45",
            sender="alice@csirt.example.org",
            message_id="<note@csirt.example.org>",
            body="SITE-A told me by phone: the host was disconnected at 11:00 UTC.\n",
            headers=AUTHENTICATED,
        ),
    )
    _feed(
        app,
        mail(
            subject=f"Re: [{tag}] Scans from 192.0.2.45",
            sender="admin@site-a.example.com",
            message_id="<reply@site-a.example.com>",
            body="wn12.site-a.example.com was reinstalled at 11:40 UTC.\n",
        ),
    )
    assert _shown(app, tag)["fields"]["actions_taken"] == [
        "SITE-A told me by phone: the host was disconnected at 11:00 UTC.",
        "wn12.site-a.example.com was reinstalled at 11:40 UTC.",
    ]
    reextract(app, tag)
    assert len(_shown(app, tag)["fields"]["actions_taken"]) == 2


def test_a_sites_own_hosts_stay_its_affected_hosts(app: App) -> None:
    # The site's own mail: its names are its hosts, its links stay read.
    tag = _feed(
        app,
        mail(
            subject="Compromised host at SITE-A",
            sender="admin@site-a.example.com",
            message_id="<own@site-a.example.com>",
            body="Systems affected: wn12.site-a.example.com (192.0.2.45)\n"
            "Evidence: the miner was downloaded from"
            " https://repo.site-a.example.com/mirror/x.tar.gz\n",
        ),
    )
    assert "wn12.site-a.example.com" in _shown(app, tag)["fields"]["affected_hosts"]
    found = _indicators(_shown(app, tag))
    assert "https://repo.site-a.example.com/mirror/x.tar.gz" in found
    # A third party whose domain holds the site's (the university's own
    # security team, writing about its grid site).
    other = _feed(
        app,
        mail(
            subject="Scans from the grid",
            sender="security@example.com",
            message_id="<uni@example.com>",
            body="Systems affected: wn13.site-a.example.com (192.0.2.46)\n",
        ),
    )
    assert "wn13.site-a.example.com" in _shown(app, other)["fields"]["affected_hosts"]
    # The site's address where DMARC fails at our MTA: a third party's mail,
    # and its names are still the site's.
    failing = {
        "Authentication-Results": "mx.csirt.example.org; spf=fail "
        "smtp.mailfrom=site-a.example.com; dkim=none; dmarc=fail "
        "header.from=site-a.example.com"
    }
    forged = _feed(
        app,
        mail(
            subject="Another host",
            sender="admin@site-a.example.com",
            message_id="<forged@site-a.example.com>",
            body="Systems affected: wn14.site-a.example.com (192.0.2.47)\n",
            headers=failing,
        ),
    )
    shown = _shown(app, forged)
    assert "wn14.site-a.example.com" in shown["fields"]["affected_hosts"]
    roles = {m["message_id"]: m["role"] for m in shown["messages"]}
    assert roles["<forged@site-a.example.com>"] == "reporter"


@pytest.mark.parametrize(
    "body",
    [
        "Scans came from ui03.site-a.example.com.",
        "Malware on wn01.site-a.example.com talked to its C2 server at 198.51.100.202.",
        "Attacker 203.0.113.7 logged in to ui01.site-a.example.com.",
        "Our web portal portal.site-a.example.com was exploited.",
    ],
)
def test_a_sites_host_named_without_its_address_is_never_the_attackers(
    app: App, body: str
) -> None:
    # The sites' domains never reached extraction (brkx8 F1, F5): a name
    # under them on an attacker's line was an attacker IP, or left
    # unclassified and then asked for again as the affected hosts.
    tag = _feed(
        app,
        mail(
            subject="Incident at SITE-A",
            sender="admin@site-a.example.com",
            message_id="<names@site-a.example.com>",
            body=body + "\n",
        ),
    )
    shown = _shown(app, tag)
    [host] = [v for v in _indicators(shown) if v.endswith(".site-a.example.com")]
    assert host in shown["fields"].get("affected_hosts", [])
    assert host not in shown["fields"].get("attacker_ips", [])
    assert "affected_hosts" not in shown["missing"]


def test_the_reporters_domains_are_its_senders() -> None:
    raw = mail(
        subject="Report",
        sender="Reports <reports@reports.abusehub.nl>",
        message_id="<r@reports.abusehub.nl>",
        headers={
            "Sender": "bulk@mailer.example.net",
            "Reply-To": "bounces@abuse-reporting.webiron.com",
        },
    )
    directory = Directory(sites=(Site("SITE-X", domains=("grid.example.net",)),))
    # example.net holds a site's domain: left out.
    assert reporter_domains(parse(raw), directory) == ("abusehub.nl", "webiron.com")
    assert reporter_domains(parse(raw), Directory()) == (
        "abusehub.nl",
        "webiron.com",
        "example.net",
    )
