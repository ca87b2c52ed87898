"""Who may set an incident's facts (discovered, isolated, resolved), and when.

The containment clock is met by the site saying it isolated: a CSIRT
member's question, a third party's claim, or a time after the mail itself
must not meet it (or move it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from mailbot_env import mail
from test_sweep_reminders import (
    AUTHENTICATED,
    SITE_CONTACTS,
    TAG,
    App,
    at,
    feed,
)

from mailbot.db.models import Deadline, Incident, Mail

# The `new_app` fixture: a mailbot on a fresh database, with the sites.
pytest_plugins = ("test_sweep_reminders",)

UTC = dt.UTC
REPORT = mail(
    subject="Security incident suspected at SITE-P TLP:AMBER",
    sender="Marie <security@site-p.example.org>",
    message_id="<report@site-p.example.org>",
    date="Thu, 03 Dec 2026 09:00:00 +0000",
    body="We found a miner on wn3.site-p.example.org (192.0.2.130).\n"
    "We are still collecting logs.\n",
)


def state(app: App) -> tuple[dt.datetime | None, str]:
    with app.db.transaction() as session:
        incident = session.query(Incident).one()
        containment = session.query(Deadline).filter_by(rule="containment").one()
        return incident.isolated_at, containment.state


def opened(new_app: Callable[..., App]) -> App:
    app = new_app("2026-12-03T09:00:00")
    assert feed(app, REPORT) == TAG
    return app


def in_thread(sender: str, message_id: str, when: str, body: str, **extra) -> bytes:  # type: ignore[no-untyped-def]
    return mail(
        subject=f"Re: [{TAG}] Security incident suspected at SITE-P",
        sender=sender, message_id=message_id, date=when, body=body, **extra,
    )  # fmt: skip


def site_says(app: App, when: str, body: str, n: int) -> None:
    feed(
        app,
        in_thread(
            "security@site-p.example.org", f"<site-{n}@site-p.example.org>", when, body
        ),
    )


def test_a_csirt_question_about_isolation_is_no_isolation(new_app) -> None:  # type: ignore[no-untyped-def]
    app = opened(new_app)
    at(app, "2026-12-03T10:00:00")
    question = (
        "The host wn3 was isolated at 08:10 UTC, I assume?\n"
        "Isolation of wn3 is expected by 12:00 UTC today.\n"
    )
    feed(
        app,
        in_thread(
            "Alice <alice@csirt.example.org>", "<ask@csirt.example.org>",
            "Thu, 03 Dec 2026 10:00:00 +0000", question,
            to=", ".join(SITE_CONTACTS), headers=AUTHENTICATED,
        ),
    )  # fmt: skip
    at(app, "2026-12-03T10:30:00")
    site_says(app, "Thu, 03 Dec 2026 10:30:00 +0000", "Still collecting logs.\n", 1)
    assert state(app) == (None, "pending")


def test_a_third_party_s_claim_of_isolation_is_not_the_site_s(new_app) -> None:  # type: ignore[no-untyped-def]
    app = opened(new_app)
    at(app, "2026-12-03T10:00:00")
    claim = "The host wn3 was isolated at 08:10 UTC.\n"
    feed(
        app,
        in_thread(
            "someone@random.example.net", "<outsider@random.example.net>",
            "Thu, 03 Dec 2026 10:00:00 +0000", claim,
        ),
    )  # fmt: skip
    site_says(app, "Thu, 03 Dec 2026 10:30:00 +0000", "Still collecting logs.\n", 1)
    assert state(app) == (None, "pending")


def test_a_time_after_the_mail_is_no_fact_and_the_site_s_own_word_is(new_app) -> None:  # type: ignore[no-untyped-def]
    app = opened(new_app)
    at(app, "2026-12-03T10:00:00")
    site_says(
        app,
        "Thu, 03 Dec 2026 10:00:00 +0000",
        "The miner was discovered on 2027-12-03 09:00 UTC by our IDS.\n",
        1,
    )
    with app.db.transaction() as session:
        incident = session.query(Incident).one()
        # Not a year ahead: the report clock keeps its start (the first mail).
        assert incident.discovered_at is None
        report = session.query(Deadline).filter_by(rule="report").one()
        assert report.started_at < dt.datetime(2027, 1, 1, tzinfo=UTC)
    at(app, "2026-12-03T11:00:00")
    site_says(
        app, "Thu, 03 Dec 2026 11:00:00 +0000", "Host isolated at 10:40 UTC.\n", 2
    )
    assert state(app) == (dt.datetime(2026, 12, 3, 10, 40, tzinfo=UTC), "met")


def test_a_site_address_our_mta_finds_failing_dmarc_speaks_for_no_site(new_app) -> None:  # type: ignore[no-untyped-def]
    app = opened(new_app)
    at(app, "2026-12-03T10:00:00")
    forged = {
        "Authentication-Results": "mx.csirt.example.org; spf=fail "
        "smtp.mailfrom=site-p.example.org; dkim=none; dmarc=fail "
        "header.from=site-p.example.org"
    }
    feed(
        app,
        in_thread(
            "security@site-p.example.org", "<forged@site-p.example.org>",
            "Thu, 03 Dec 2026 10:00:00 +0000",
            "The host wn3 was isolated at 08:10 UTC and reinstalled at 09:30 UTC.\n",
            headers=forged,
        ),
    )  # fmt: skip
    assert state(app) == (None, "pending")
    with app.db.transaction() as session:
        roles = [m.role for m in session.query(Mail).filter_by(direction="in")]
        flags = [m.flags for m in session.query(Mail).filter_by(direction="in")]
    assert roles == ["site", "reporter"] and "dmarc_fail" in flags[1]
    # The same words with our MTA's DMARC pass (or no verdict at all): the site's.
    site_says(
        app, "Thu, 03 Dec 2026 10:30:00 +0000", "Host isolated at 10:10 UTC.\n", 2
    )
    assert state(app) == (dt.datetime(2026, 12, 3, 10, 10, tzinfo=UTC), "met")


def test_a_third_party_gives_a_discovery_time_but_does_not_move_one(new_app) -> None:  # type: ignore[no-untyped-def]
    app = opened(new_app)
    site_says(
        app,
        "Thu, 03 Dec 2026 09:10:00 +0000",
        "Discovered at 07:30 UTC by our IDS.\n",
        1,
    )
    at(app, "2026-12-03T10:00:00")
    claim = "We detected this on 2026-11-20 01:00 UTC already.\n"
    feed(
        app,
        in_thread(
            "someone@random.example.net", "<early@random.example.net>",
            "Thu, 03 Dec 2026 10:00:00 +0000", claim,
        ),
    )  # fmt: skip
    with app.db.transaction() as session:
        incident = session.query(Incident).one()
        assert incident.discovered_at == dt.datetime(2026, 12, 3, 7, 30, tzinfo=UTC)


def test_isolation_in_german_without_a_time_meets_containment_at_the_mail(
    new_app,
) -> None:  # type: ignore[no-untyped-def]
    # A breaker's B6: the site wrote it isolated the host, with no clock
    # time; containment stayed pending and its reminder went out.
    app = opened(new_app)
    at(app, "2026-12-03T10:00:00")
    site_says(
        app,
        "Thu, 03 Dec 2026 10:00:00 +0000",
        "Hallo,\n\nwir haben den Rechner wn3 (192.0.2.130) vom Netz genommen"
        " (isoliert) und einen Snapshot erstellt.\n",
        1,
    )
    assert state(app) == (dt.datetime(2026, 12, 3, 10, 0, tzinfo=UTC), "met")


def test_a_question_about_isolation_in_german_meets_nothing(new_app) -> None:  # type: ignore[no-untyped-def]
    app = opened(new_app)
    at(app, "2026-12-03T10:00:00")
    site_says(
        app,
        "Thu, 03 Dec 2026 10:00:00 +0000",
        "Sollen wir den Rechner isolieren? Er ist noch nicht isoliert.\n",
        1,
    )
    assert state(app) == (None, "pending")
