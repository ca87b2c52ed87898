"""#reopen: the incident owes again what an open incident of its state owes.

#close cancelled the pending clocks and they stayed cancelled when the
incident was reopened: a site with an unanswered request, its compromised
host never contained, was chased for nothing more.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import test_csirt_env as env
from test_csirt_env import ABUSE, ALICE, SITE_A, World, at

from mailbot.deadlines.sweep import sweep
from mailbot.incidents import by_tag
from mailbot.send import deliver_due

# The `w` fixture: a mailbot on a private Dovecot and SMTP sink.
pytest_plugins = ("test_csirt_env",)


def _member(w: World, tag: str, body: str, when: str, n: int, **kw: Any) -> list:  # type: ignore[type-arg]
    w.new_mail()
    w.deliver(env.member_mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Security incident", body=body,
        when=at(when), message_id=f"<reopen-{n}@csirt.example.org>", **kw,
    ), at(when))  # fmt: skip
    return w.new_mail()


def _clocks(w: World, tag: str) -> list[tuple[str, str, str, str | None]]:
    return [
        (d["rule"], d["state"], d["started_at"], d["met_at"])
        for d in w.show(tag)["deadlines"]
    ]


def _closed_with_a_request(w: World) -> str:
    """SITE-A's report (report met, containment pending), a member's request
    (an analysis clock), then #close: both pending clocks cancelled."""
    tag = env.site_report(w)
    _member(w, tag, "Please send the logs.", "2026-11-30T10:30:00", 1,
            to=SITE_A, cc=ABUSE)  # fmt: skip
    _member(w, tag, "#close", "2026-11-30T11:00:00", 2)
    states = {(rule, state) for rule, state, _, _ in _clocks(w, tag)}
    assert states == {
        ("report", "met"), ("containment", "cancelled"), ("analysis", "cancelled")
    }  # fmt: skip
    return tag


def test_reopen_starts_again_the_clocks_close_cancelled(
    w: World, tmp_path: Path
) -> None:
    tag = _closed_with_a_request(w)
    [confirmation] = _member(w, tag, "#reopen", "2026-11-30T12:00:00", 3)
    assert "2 clock(s) started again" in env.body_of(confirmation)
    clocks = _clocks(w, tag)
    # The met report clock is not owed again; the cancelled ones stay in
    # the record, and start again at the reopening with their full time.
    assert [c for c in clocks if c[0] == "report"] == [
        ("report", "met", "2026-11-30T08:10:00Z", "2026-11-30T09:55:00Z")
    ]
    again = [c for c in clocks if c[1] == "pending"]
    assert sorted(c[:3] for c in again) == [
        ("analysis", "pending", "2026-11-30T12:00:00Z"),
        ("containment", "pending", "2026-11-30T12:00:00Z"),
    ]
    containment = [
        d for d in w.show(tag)["deadlines"]
        if d["rule"] == "containment" and d["state"] == "pending"
    ]  # fmt: skip
    assert containment[0]["due_at"] == "2026-12-01T12:00:00Z"

    # Owed, so chased: the site gets a reminder once containment is due.
    w.app.clock.set(at("2026-12-01T12:30:00"))
    sweep(w.app)
    deliver_due(w.app)
    to_site = [m for m in w.new_mail() if SITE_A in m.recipients]
    assert to_site and all(m.message["Subject"].startswith(f"[{tag}]") for m in to_site)

    # A second close cancels them again; nothing else changed.
    _member(w, tag, "#close", "2026-12-01T13:00:00", 4)
    assert not [c for c in _clocks(w, tag) if c[1] == "pending"]


def test_reopen_owes_nothing_done_while_closed(w: World, tmp_path: Path) -> None:
    # While closed, SITE-A answered the request and isolated the host: the
    # request is answered and containment done; the downtime that isolation
    # calls for is owed from the reopening.
    tag = _closed_with_a_request(w)
    when = at("2026-11-30T11:30:00")
    w.deliver(env.raw_mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Security incident", sender=SITE_A,
        when=when, message_id="<closed-answer@site-a.example.com>",
        body="Here are the logs. We isolated wn12 from the network at 11:20 UTC.\n",
    ), when)  # fmt: skip
    [confirmation] = _member(w, tag, "#reopen", "2026-11-30T12:00:00", 3)
    assert confirmation.recipients == (ALICE,)
    assert "1 clock(s) started again" in env.body_of(confirmation)
    pending = [c[:3] for c in _clocks(w, tag) if c[1] == "pending"]
    assert pending == [("downtime", "pending", "2026-11-30T12:00:00Z")]
    assert w.new_mail() == []


def test_reopen_chases_a_missed_clock_again(w: World, tmp_path: Path) -> None:
    tag = env.site_report(w)
    _member(w, tag, "Please send the logs.", "2026-11-30T10:30:00", 1,
            to=SITE_A, cc=ABUSE)  # fmt: skip
    # The request falls due unanswered: missed, and the site reminded.
    w.app.clock.set(at("2026-11-30T14:45:00"))
    sweep(w.app)
    deliver_due(w.app)
    assert [m for m in w.new_mail() if SITE_A in m.recipients]
    _member(w, tag, "#close", "2026-11-30T15:00:00", 2)
    [analysis] = [d for d in w.show(tag)["deadlines"] if d["rule"] == "analysis"]
    assert (analysis["state"], len(analysis["chases"])) == ("missed", 1)

    [confirmation] = _member(w, tag, "#reopen", "2026-12-01T09:00:00", 3)
    assert "1 missed clock(s) chased again" in env.body_of(confirmation)
    # The next level goes out in its time (a working day of the site after
    # the first, which went out late on Monday), with the NGI officer in copy.
    w.app.clock.set(at("2026-12-02T08:00:00"))
    sweep(w.app)
    deliver_due(w.app)
    [second] = [m for m in w.new_mail() if SITE_A in m.recipients]
    assert "ngi-sec@ngi-a.example.org" in second.recipients


def test_reopen_starts_again_the_clocks_the_sweep_cancelled(w: World) -> None:
    # A clock left pending in an ended incident (as a merge into a closed
    # incident once did) is cancelled by the sweep; reopened, it is owed.
    tag = env.site_report(w)
    with w.app.db.transaction() as session:
        incident = by_tag(session, tag)
        assert incident is not None
        incident.status = "closed"
    w.app.clock.set(at("2026-12-01T09:00:00"))
    sweep(w.app)
    [containment] = [d for d in w.show(tag)["deadlines"] if d["rule"] == "containment"]
    assert containment["state"] == "cancelled"
    [confirmation] = _member(w, tag, "#reopen", "2026-12-01T10:00:00", 1)
    assert "1 clock(s) started again" in env.body_of(confirmation)
    assert [c[:3] for c in _clocks(w, tag) if c[1] == "pending"] == [
        ("containment", "pending", "2026-12-01T10:00:00Z")
    ]


@pytest.mark.parametrize("closed_first", [False, True])
def test_reopen_withdraws_the_resolution(w: World, closed_first: bool) -> None:
    # Reopened, the incident is not resolved: the closure report the
    # resolution called for is not chased while it stays open (the site was
    # reminded of a closure report, then escalated, for an incident a
    # member had reopened because the attacker was back). A later
    # resolution owes it afresh.
    tag = env.site_report(w)
    [done] = _member(w, tag, "#resolved 2026-11-30T10:00:00Z", "2026-11-30T10:30:00", 1)
    assert "1 closure-report clock(s) started" in env.body_of(done)
    n = 2
    if closed_first:
        _member(w, tag, "#close", "2026-12-01T09:00:00", n)
        n += 1
    [confirmation] = _member(w, tag, "#reopen", "2026-12-03T09:00:00", n)
    said = env.body_of(confirmation)
    assert "the resolution of 2026-11-30T10:00:00Z withdrawn" in said
    # Closed, the clock was cancelled already.
    assert ("1 closure-report clock(s) cancelled" in said) is not closed_first
    shown = w.show(tag)
    assert (shown["status"], shown["resolved_at"]) == ("open", None)
    [closure] = [d for d in shown["deadlines"] if d["rule"] == "closure_report"]
    assert closure["state"] == "cancelled"

    # Well past the month: the site is not chased for a closure report.
    w.app.clock.set(at("2027-01-05T08:00:00"))
    sweep(w.app)
    deliver_due(w.app)
    w.new_mail()
    [closure] = [
        d for d in w.show(tag)["deadlines"] if d["rule"] == "closure_report"
    ]  # fmt: skip
    assert (closure["state"], closure["chases"]) == ("cancelled", [])

    # Resolved again: a closure report is owed from the new resolution.
    [again] = _member(
        w, tag, "#resolved 2026-12-04T09:00:00Z", "2026-12-04T09:30:00", n + 1
    )
    assert "1 closure-report clock(s) started" in env.body_of(again)
    clocks = sorted(
        (d["state"], d["started_at"], d["due_at"])
        for d in w.show(tag)["deadlines"] if d["rule"] == "closure_report"
    )  # fmt: skip
    assert clocks == [
        ("cancelled", "2026-11-30T10:00:00Z", "2026-12-30T10:00:00Z"),
        ("pending", "2026-12-04T09:00:00Z", "2027-01-04T09:00:00Z"),
    ]


def test_reopen_of_an_open_incident_changes_nothing_and_says_so(w: World) -> None:
    # "#reopen" on an incident that was never ended was answered "Done:
    # status open (was open)", as if something had happened; the member
    # could believe an incident closed by a colleague was open again.
    tag = env.site_report(w)
    _member(w, tag, "Please send the logs.", "2026-11-30T10:30:00", 1,
            to=SITE_A, cc=ABUSE)  # fmt: skip
    before = w.show(tag)
    [reply] = _member(w, tag, "#reopen", "2026-11-30T11:00:00", 2)
    said = env.body_of(reply)
    assert "already open" in said and reply.headline
    assert not reply.headline.startswith("Done"), reply.headline
    assert reply.recipients == (env.ALICE,)
    after = w.show(tag)
    assert (after["status"], after["deadlines"]) == ("open", before["deadlines"])
    assert "reopen" not in {a["action"] for a in after["audit"]}


def test_reopen_restarts_a_miss_never_reminded(w: World) -> None:
    # SITE-A's containment was due Tuesday 2026-11-17 08:10; mailbot first
    # saw it a week and more later (an outage), past the lateness: recorded
    # missed, never reminded. Closed, then reopened: the reopening is news
    # of now, so the clock starts again and its new due time is chased; it
    # stayed missed and unchased for ever. (Dates before the machine's
    # today: Dovecot takes no INTERNALDATE in the future.)
    when = at("2026-11-16T09:55:00")
    w.deliver(env.raw_mail(
        subject="Security incident suspected at SITE-A [EGI-20261116] TLP: AMBER",
        body="Discovered 2026-11-16 08:10 UTC: miner on wn12.site-a.example.com"
        " (192.0.2.45).\n",
        sender=SITE_A, when=when, message_id="<report-16@site-a.example.com>",
    ), when)  # fmt: skip
    tag = "EGI-20261116-01"
    w.app.clock.set(at("2026-11-25T09:00:00"))
    sweep(w.app)
    [containment] = [d for d in w.show(tag)["deadlines"] if d["rule"] == "containment"]
    assert (containment["state"], containment["chases"]) == ("missed", [])
    _member(w, tag, "#close", "2026-11-25T10:00:00", 1)
    [confirmation] = _member(w, tag, "#reopen", "2026-11-25T11:00:00", 2)
    assert "1 clock(s) started again" in env.body_of(confirmation)
    clocks = [c for c in _clocks(w, tag) if c[0] == "containment"]
    assert sorted(c[:3] for c in clocks) == [
        ("containment", "missed", "2026-11-16T08:10:00Z"),
        ("containment", "pending", "2026-11-25T11:00:00Z"),
    ]
    # Chased once the new due time passes (13:00 in Helsinki, working hours).
    w.new_mail()
    w.app.clock.set(at("2026-11-26T10:59:00"))
    assert sweep(w.app)["reminders"] == 0
    w.app.clock.set(at("2026-11-26T11:00:00"))
    assert sweep(w.app)["reminders"] == 1
    deliver_due(w.app)
    to_site = [m for m in w.new_mail() if SITE_A in m.recipients]
    assert len(to_site) == 1 and "isolate" in env.body_of(to_site[0])
