"""A mail that arrives after a filed mail already cited it.

The site wrote to abuse@ and to a member at once; the member's answer (its
In-Reply-To the report) reached the mailbox first, the report minutes
later. The answer opened an incident, and the report a second one, which
was acknowledged to the site and chased: the member's "#false-positive"
covered nothing the site was asked about.
"""

from __future__ import annotations

from typing import Any

import test_csirt_env as env
from test_csirt_env import World, at

from mailbot import views
from mailbot.deadlines.sweep import sweep

# The `w` fixture: a mailbot on a private Dovecot and SMTP sink.
pytest_plugins = ("test_csirt_env",)

REPORT_ID = "<late-report@site-a.example.com>"


def _report(when: str) -> bytes:
    return env.raw_mail(
        subject="Security incident suspected at SITE-A",
        body="We found a miner on wn12.site-a.example.com (192.0.2.45),"
        " discovered 2026-11-30 07:30 UTC.\n",
        sender=env.SITE_A, when=at(when), message_id=REPORT_ID,
        to=f"{env.ABUSE}, {env.ALICE}",
    )  # fmt: skip


def _answer(body: str, when: str) -> bytes:
    """Alice's answer to the report, to the site, abuse@ in copy."""
    return env.raw_mail(
        subject="Re: Security incident suspected at SITE-A", body=body,
        sender=env.ALICE, when=at(when), message_id="<answer-1@csirt.example.org>",
        to=env.SITE_A, cc=env.ABUSE, reply_to=REPORT_ID,
        headers=[("Authentication-Results", env.DKIM_PASS)],
    )  # fmt: skip


def _verdict(w: World) -> None:
    when = "2026-11-30T08:05:00"
    w.deliver(_answer("#false-positive\nOur own scanner.\nAlice\n", when), at(when))


def _incidents(w: World) -> list[dict[str, Any]]:
    return [w.show(i["tag"]) for i in views.incident_list(w.app, all_=True)]


def test_a_report_the_verdict_came_before_joins_its_incident(w: World) -> None:
    _verdict(w)
    w.new_mail()
    w.deliver(_report("2026-11-30T08:10:00"), at("2026-11-30T08:10:00"))
    [incident] = _incidents(w)
    assert incident["status"] == "false_positive"
    reasons = {m["message_id"]: m["thread_reason"] for m in incident["messages"]}
    assert reasons[REPORT_ID] == "cited"
    # Neither acknowledged nor chased: the member had judged it.
    assert w.new_mail() == []
    w.app.clock.set(at("2026-12-01T08:00:00"))
    sweep(w.app)
    assert w.new_mail() == []
    # Nobody is told of a "new report in a closed thread": it was answered.
    assert "report_after_close" not in {
        flag for m in w.show(incident["tag"])["messages"] for flag in m["flags"] or []
    }


def test_a_report_a_request_came_before_joins_its_incident_with_its_facts(
    w: World,
) -> None:
    w.deliver(_answer("Please send us the logs of the host.\nAlice\n",
                      "2026-11-30T08:05:00"), at("2026-11-30T08:05:00"))  # fmt: skip
    w.deliver(_report("2026-11-30T08:10:00"), at("2026-11-30T08:10:00"))
    [incident] = _incidents(w)
    reasons = {m["message_id"]: m["thread_reason"] for m in incident["messages"]}
    assert reasons[REPORT_ID] == "cited"
    assert "wn12.site-a.example.com" in str(incident["fields"]), incident["fields"]


def test_a_report_nobody_cited_opens_its_own_incident(w: World) -> None:
    """The citation is the Message-ID's: another report of the same site,
    under the same subject, is no mail the answer cited."""
    _verdict(w)
    other = _report("2026-11-30T08:10:00").replace(
        REPORT_ID.encode(), b"<another-report@site-a.example.com>"
    )
    w.deliver(other, at("2026-11-30T08:10:00"))
    assert len(_incidents(w)) == 2
