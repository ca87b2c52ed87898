"""DOMAIN.md scenarios 4 and 5, end to end through Dovecot and SMTP."""

from __future__ import annotations

from pathlib import Path

from test_csirt_env import (
    ALICE,
    SITE_A,
    World,
    at,
    body_of,
    member_mail,
    raw_mail,
    site_report,
)
from test_merge import merge, second_report

from mailbot import views

# The `w` fixture: a mailbot on a private Dovecot and SMTP sink.
pytest_plugins = ("test_csirt_env",)


def test_scenario_4_two_incidents_one_attacker(w: World, tmp_path: Path) -> None:
    # Two sites report on the same day; each gets its own tag and clocks.
    first = site_report(w)
    second = second_report(w)
    assert (first, second) == ("EGI-20261130-01", "EGI-20261130-02")
    merge(w, second, first)
    # A request to SITE-A alone starts SITE-A's analysis clock only.
    when = at("2026-11-30T11:30:00")
    w.deliver(
        member_mail(
            subject=f"Re: [{first}] details",
            body="Which user ran the miner?",
            when=when,
            message_id="<ask@csirt.example.org>",
            to=SITE_A,
        ),
        when,
    )
    # SITE-C answers under its old tag, SITE-A under the kept one.
    for n, (tag, sender) in enumerate(
        ((second, "soc@site-c.example.com"), (first, SITE_A))
    ):
        when = at(f"2026-11-30T1{3 + n}:00:00")
        w.deliver(
            raw_mail(
                subject=f"Re: [{tag}] update",
                sender=sender,
                when=when,
                message_id=f"<answer-{n}@example.com>",
                body="User jdoe.\n",
            ),
            when,
        )
    listed = views.incident_list(w.app)
    assert [r["tag"] for r in listed] == [first]
    shown = w.show(second)
    assert shown["tag"] == first
    clocks = {(d["rule"], d["site"]): d for d in shown["deadlines"]}
    assert clocks[("analysis", "SITE-A")]["state"] == "met"
    assert clocks[("analysis", "SITE-A")]["met_at"] == "2026-11-30T14:00:00Z"
    assert ("analysis", "SITE-C") not in clocks
    assert clocks[("report", "SITE-A")]["started_at"] == "2026-11-30T08:10:00Z"
    assert clocks[("report", "SITE-C")]["site"] == "SITE-C"
    assert {m["message_id"] for m in shown["messages"]} >= {
        "<answer-0@example.com>",
        "<answer-1@example.com>",
        "<report-c@site-c.example.com>",
    }


def test_scenario_5_false_positive_with_a_red_message(w: World, tmp_path: Path) -> None:
    tag = site_report(w)
    assert w.show(tag)["tlp"] == "AMBER"
    when = at("2026-11-30T10:40:00")
    w.deliver(raw_mail(
        subject=f"[{tag}] TLP:RED auth.log of wn12 for jdoe", sender=SITE_A, when=when,
        message_id="<logs@site-a.example.com>",
        body="TLP:RED\n\nNov 30 08:01:02 wn12 sshd[1]: Accepted password for jdoe\n",
    ), when)  # fmt: skip
    shown = w.show(tag)
    assert shown["tlp"] == "RED"
    assert [d for d in shown["deadlines"] if d["state"] == "pending"]

    w.new_mail()
    when = at("2026-11-30T15:00:00")
    w.deliver(
        member_mail(
            subject=f"Re: [{tag}] [TLP:RED] logs",
            when=when,
            body="#false-positive\n\nA user's own cron job; closing.",
            message_id="<fp@csirt.example.org>",
        ),
        when,
    )
    shown = w.show(tag)
    assert shown["status"] == "false_positive"
    assert not [d for d in shown["deadlines"] if d["state"] == "pending"]
    assert {d["state"] for d in shown["deadlines"]} <= {"cancelled", "met", "missed"}
    sent = w.new_mail()
    assert [m.recipients for m in sent] == [(ALICE,)]
    assert sent[0].message["Subject"].startswith(f"[{tag}] [TLP:RED] ")
    assert body_of(sent[0]).splitlines()[0] == "TLP:RED"
    assert views.incident_list(w.app) == []
    assert shown["audit"][-1]["action"] == "false-positive"
