"""A site's words, end to end: what its mail meets and starts (a breaker's
repro-9 and repro-10)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from mailbot_env import mail, make_app
from test_sweep_reminders import SITES, TAG, at, feed

from mailbot.app import App
from mailbot.db.models import Deadline, Incident

UTC = dt.UTC
REPORT = mail(
    subject="Security incident suspected at SITE-P TLP:AMBER",
    sender="Marie <security@site-p.example.org>",
    message_id="<report@site-p.example.org>",
    date="Thu, 03 Dec 2026 09:00:00 +0000",
    body="We found a miner on wn3.site-p.example.org (192.0.2.130).\n",
)


def reply(body: str, when: str = "Thu, 03 Dec 2026 11:00:00 +0000") -> bytes:
    return mail(
        subject=f"Re: [{TAG}] [TLP:AMBER] Security incident suspected at SITE-P",
        sender="security@site-p.example.org",
        message_id="<reply@site-p.example.org>",
        date=when,
        headers={"In-Reply-To": "<report@site-p.example.org>"},
        body=body,
    )


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[App]:
    """An App at 2026-12-03 09:00 UTC whose incident SITE-P reported."""
    now = dt.datetime(2026, 12, 3, 9, tzinfo=UTC)
    made = make_app(tmp_path, database_url, now=now, sites=SITES)
    assert feed(made, REPORT) == TAG
    yield made
    made.close()


def states(app: App) -> dict[str, str]:
    with app.db.transaction() as session:
        return {d.rule: d.state for d in session.query(Deadline)}


def incident(app: App) -> Incident:
    with app.db.transaction() as session:
        return session.query(Incident).one()


@pytest.mark.parametrize(
    "body",
    [
        "We blocked the host at the network.",
        "It is suspended now.",
        "The VM was compromised and is suspended now.",
        "The VM is shut off from the network.",
        "We suspended the user's VM.",
        "We blocked the host and the attacker's IP at the firewall.",
        "The VM was suspended (not deleted) to keep forensic data.",
    ],
)
def test_isolation_in_the_domain_words_meets_containment(app: App, body: str) -> None:
    assert states(app)["containment"] == "pending"
    at(app, "2026-12-03T11:00:00")
    feed(app, reply(body + "\n"))
    assert states(app)["containment"] == "met"
    assert incident(app).isolated_at == dt.datetime(2026, 12, 3, 11, tzinfo=UTC)


@pytest.mark.parametrize(
    "body",
    [
        "Network access of the host was blocked at 09:30 UTC.",
        # These met containment at the mail's time, 11:00, not the time
        # the site gave.
        "The host was moved to a quarantine VLAN at 09:30 UTC.",
        "At 09:30 UTC we moved wn3 into the quarantine VLAN.",
        "We put the node in the forensics VLAN at 09:30 UTC.",
        "The network cable of wn3 was pulled at 09:30 UTC.",
        "Its uplink was unplugged at 09:30 UTC.",
    ],
)
def test_a_stated_isolation_time_in_the_domain_words_is_isolated_at(
    app: App, body: str
) -> None:
    at(app, "2026-12-03T11:00:00")
    feed(app, reply(body + "\n"))
    assert states(app)["containment"] == "met"
    assert incident(app).isolated_at == dt.datetime(2026, 12, 3, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "body", ["We don't need a downtime.", "The CE is in downtime until Friday."]
)
def test_downtime_in_other_words_meets_downtime(app: App, body: str) -> None:
    at(app, "2026-12-03T11:00:00")
    feed(app, reply("The host was isolated at 10:00 UTC. " + body + "\n"))
    assert states(app)["downtime"] == "met"


@pytest.mark.parametrize(
    "body",
    [
        "The host is not isolated yet.",
        "We will isolate it tomorrow.",
        "The user's account is suspended now.",
        "We blocked 203.0.113.7 at the firewall.",
        "When the host, ui01, is isolated we will let you know.",
        "Once the VM, which runs the CE, is suspended we will take a snapshot.",
        "We would isolate the host if it were compromised.",
        "No host was isolated.",
        "Nobody has isolated the host.",
        "We are about to isolate the host.",
        "We blocked the attacker IP 203.0.113.7 at the firewall.",
        "Should we pull the network cable?",
        "We will move the host to a quarantine VLAN tomorrow.",
        "We will move the host to a quarantine VLAN at 18:00 UTC.",
        "The quarantine network share was mounted at 09:30 UTC.",
        "Should the network cable of wn3 be pulled at 18:00 UTC?",
    ],
)
def test_isolation_denied_planned_or_of_another_kind_meets_nothing(
    app: App, body: str
) -> None:
    at(app, "2026-12-03T11:00:00")
    feed(app, reply(body + "\n"))
    assert states(app)["containment"] == "pending"
    assert incident(app).isolated_at is None


def test_a_promise_of_a_closure_report_is_no_resolution(
    app: App,
) -> None:
    at(app, "2026-12-04T10:00:00")
    feed(
        app,
        reply(
            "We are still reinstalling. Once the incident is resolved we will"
            " send the closure report.\n",
            "Fri, 04 Dec 2026 10:00:00 +0000",
        ),
    )
    assert incident(app).resolved_at is None
    assert "closure_report" not in states(app)


def test_a_hope_of_resolution_is_no_resolution(app: App) -> None:
    at(app, "2026-12-04T10:00:00")
    feed(
        app,
        reply(
            "We are still reinstalling. We hope the incident is resolved soon.\n",
            "Fri, 04 Dec 2026 10:00:00 +0000",
        ),
    )
    assert incident(app).resolved_at is None
    assert "closure_report" not in states(app)


@pytest.mark.parametrize(
    "body",
    [
        "We pulled the network cable of wn3.",
        "The host was moved to a quarantine VLAN.",
        "All traffic to/from the host is dropped at the firewall.",
        "The node has been isolated from the network pending further analysis.",
        # SITE-P's own address (192.0.2.128/25), whatever the site calls it.
        "We blocked the attacker IP 192.0.2.130 at the firewall.",
        "All traffic to/from 192.0.2.130 is dropped at the firewall.",
    ],
)
def test_a_host_cut_off_in_a_sites_other_words_meets_containment(
    app: App, body: str
) -> None:
    at(app, "2026-12-03T11:00:00")
    feed(app, reply(body + "\n"))
    assert states(app)["containment"] == "met"
    assert incident(app).isolated_at == dt.datetime(2026, 12, 3, 11, tzinfo=UTC)


# Quoted from an earlier mail: not the site's statement.
@pytest.mark.parametrize(
    "body",
    [
        "Thanks, we are checking.\n\nOn Thu, 3 Dec 2026 at 10:30, CSIRT wrote:\n"
        "> Please confirm: the host was isolated at 10:00 UTC?\n"
        "> The host was moved to a quarantine VLAN.\n"
        "> We consider the incident resolved. No downtime needed.",
        "Thanks, we are checking.\n\n> The host was isolated at 10:00 UTC.\n"
        ">> We consider the incident resolved.\n> Downtime: N/A",
    ],
)
def test_a_quoted_mail_meets_and_starts_nothing(app: App, body: str) -> None:
    before = states(app)
    at(app, "2026-12-03T11:00:00")
    feed(app, reply(body + "\n"))
    assert states(app) == before
    assert incident(app).isolated_at is None
    assert incident(app).resolved_at is None


def test_downtime_not_applicable_meets_downtime(app: App) -> None:
    at(app, "2026-12-03T11:00:00")
    feed(
        app,
        reply("Isolation: the host was isolated at 10:00 UTC.\nDowntime: N/A\n"),
    )
    assert states(app)["downtime"] == "met"


@pytest.mark.parametrize(
    "body",
    [
        "We consider the incident resolved.",
        "The incident can be closed from our side.",
    ],
)
def test_a_site_closing_the_incident_starts_the_closure_report(
    app: App, body: str
) -> None:
    at(app, "2026-12-04T10:00:00")
    feed(app, reply(body + "\n", "Fri, 04 Dec 2026 10:00:00 +0000"))
    assert incident(app).resolved_at == dt.datetime(2026, 12, 4, 10, tzinfo=UTC)
    assert states(app)["closure_report"] == "pending"


FORWARD = """{own}
---------- Forwarded message ---------
From: Upstream CERT <cert@upstream.example.net>
Date: Thu, 3 Dec 2026 at 10:00
Subject: Scanning from your network

Hello, your host 192.0.2.130 scanned our network. We have isolated it
at our border at 09:30 UTC and declared a downtime.
The incident is resolved on our side.
"""


def test_a_forwarded_mail_is_not_the_sites_words(app: App) -> None:
    # The upstream CERT's isolation, downtime and resolution, forwarded by
    # the site, met the site's containment and downtime and resolved the
    # incident (starting its closure report clocks).
    at(app, "2026-12-03T11:00:00")
    feed(app, reply(FORWARD.format(own="FYI, we are looking into it.\n")))
    assert states(app)["containment"] == "pending"
    assert "closure_report" not in states(app)
    assert states(app).get("downtime", "pending") == "pending"
    assert (incident(app).isolated_at, incident(app).resolved_at) == (None, None)


def test_the_sites_own_words_above_a_forward_still_count(app: App) -> None:
    at(app, "2026-12-03T11:00:00")
    own = "We isolated wn3 at 10:15 UTC; see the report below.\n"
    feed(app, reply(FORWARD.format(own=own)))
    assert states(app)["containment"] == "met"
    assert incident(app).isolated_at == dt.datetime(2026, 12, 3, 10, 15, tzinfo=UTC)
    assert incident(app).resolved_at is None
