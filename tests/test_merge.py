"""#merge: one incident from two, and later mail under either tag lands in it."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_csirt_env import (
    ALICE,
    SITE_A,
    SITE_C,
    World,
    at,
    body_of,
    member_mail,
    raw_mail,
    site_report,
)

from mailbot import respond, views
from mailbot.deadlines.forecast import forecast
from mailbot.deadlines.sweep import sweep
from mailbot.incidents import by_tag
from mailbot.send import deliver_due

# The `w` fixture: a mailbot on a private Dovecot and SMTP sink.
pytest_plugins = ("test_csirt_env",)


def second_report(w: World, when: str = "2026-11-30T10:20:00", label: str = "") -> str:
    w.deliver(raw_mail(
        subject=f"{label}Suspicious SSH logins at SITE-C", sender=SITE_C, when=at(when),
        message_id="<report-c@site-c.example.com>",
        body="Logins from 203.0.113.77 to ui01.site-c.example.com; host isolated.\n",
    ), at(when))  # fmt: skip
    return str(views.incident_list(w.app)[-1]["tag"])


def merge(
    w: World, source: str, target: str, when: str = "2026-11-30T11:00:00"
) -> None:
    w.deliver(member_mail(
        subject=f"Re: [{source}] [TLP:AMBER] Suspicious SSH logins at SITE-C",
        body=f"#merge {target}\n#no-request\n", when=at(when),
        message_id="<merge@csirt.example.org>",
    ), at(when))  # fmt: skip


def test_merge_then_mail_under_either_tag(w: World, tmp_path: Path) -> None:
    first = site_report(w)
    second = second_report(w)
    assert first != second
    w.new_mail()
    merge(w, second, first)

    # One confirmation of both commands, under the surviving tag.
    [done] = w.new_mail()
    assert (done.recipients, done.headline) == ((ALICE,), "Done: #merge, #no-request")
    assert done.message["Subject"].startswith(f"[{first}] ")
    assert [r["tag"] for r in views.incident_list(w.app)] == [first]
    shown = w.show(second)
    assert shown["tag"] == first and second in shown["aliases"]
    assert shown["sites"] == ["SITE-A", "SITE-C"]
    reasons = {m["message_id"]: m["thread_reason"] for m in shown["messages"]}
    assert reasons["<report-c@site-c.example.com>"] == "merge"
    assert reasons["<report-a@site-a.example.com>"] == "new"
    assert "203.0.113.77" in str(shown["fields"])
    # Each site keeps its own clocks.
    by_site = {(d["rule"], d["site"]) for d in shown["deadlines"]}
    assert {("report", "SITE-A"), ("report", "SITE-C")} <= by_site
    assert shown["audit"][0]["action"] == "merge"

    # Later mail under the merged-away tag, and under the kept one.
    for n, tag in enumerate((second, first)):
        when = at(f"2026-11-30T1{2 + n}:00:00")
        w.deliver(
            raw_mail(
                subject=f"Re: [{tag}] update",
                sender=SITE_C,
                when=when,
                message_id=f"<later-{n}@site-c.example.com>",
                body="Downtime declared.\n",
            ),
            when,
        )
    assert [r["tag"] for r in views.incident_list(w.app)] == [first]
    messages = {m["message_id"] for m in w.show(first)["messages"]}
    assert {"<later-0@site-c.example.com>", "<later-1@site-c.example.com>"} <= messages
    downtime = {
        d["site"] for d in w.show(first)["deadlines"] if d["rule"] == "downtime"
    }
    assert "SITE-C" in downtime


def test_merge_into_itself_or_unknown_is_refused(w: World, tmp_path: Path) -> None:
    first = site_report(w)
    w.new_mail()
    merge(w, first, first)
    sent = w.new_mail()
    assert len(sent) == 2  # #no-request confirmed, #merge refused
    assert any("is this incident already" in str(m.message) for m in sent)
    assert w.show(first)["aliases"] == ["EGI-20261130"]


def test_reminders_of_a_merged_incident_name_only_their_sites_mails(
    w: World, tmp_path: Path
) -> None:
    first = site_report(w)
    [ack_a] = w.new_mail()
    second = second_report(w)
    [ack_c] = w.new_mail()
    merge(w, second, first)
    w.new_mail()

    # A day later SITE-A owes containment, SITE-C the downtime.
    w.app.clock.set(at("2026-12-01T12:00:00"))
    assert sweep(w.app)["reminders"] == 2
    deliver_due(w.app)
    reminders = {m.recipients[0]: m.message for m in w.new_mail()}
    assert set(reminders) == {SITE_A, SITE_C}
    own = {
        SITE_A: ["<report-a@site-a.example.com>", ack_a.message["Message-ID"]],
        SITE_C: ["<report-c@site-c.example.com>", ack_c.message["Message-ID"]],
    }
    # Each reminder answers its own site's thread and names no other mail:
    # not the other site's, nor the member's #merge to the mailbox.
    for site, message in reminders.items():
        assert message["In-Reply-To"] == own[site][-1]
        assert message["References"].split() == own[site]


NGI = "ngi-sec@ngi-a.example.org"


def merged(w: World, label: str = "") -> tuple[str, str]:
    """SITE-A's and SITE-C's reports, SITE-C's merged into SITE-A's: their tags."""
    first = site_report(w)
    second = second_report(w, label=label)
    merge(w, second, first)
    return first, second


def in_a_thread(
    w: World, tag: str, body: str, message_id: str, to: str = "abuse@csirt.example.org"
) -> None:
    """Alice writes in SITE-A's thread at noon."""
    w.deliver(member_mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Security incident suspected at SITE-A",
        body=body, when=at("2026-11-30T12:00:00"), to=to, message_id=message_id,
    ), at("2026-11-30T12:00:00"))  # fmt: skip


@pytest.mark.parametrize("label", ["", "[TLP:RED] "])
def test_reminders_of_a_merged_incident_carry_their_sites_own_subject(
    w: World, tmp_path: Path, label: str
) -> None:
    """SITE-C's reminders, level 1 and level 2 with the NGI in copy, are
    subjected and headed with SITE-C's own subject, never SITE-A's (F5)."""
    first, second = merged(w, label)
    own_a = str(w.show(first)["subject"])
    assert "SITE-A" in own_a
    own_c = "Suspicious SSH logins at SITE-C"
    w.new_mail()
    sent = []
    for day in ("2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04"):
        w.app.clock.set(at(f"{day}T12:00:00"))
        sweep(w.app)
        deliver_due(w.app)
        sent += w.new_mail()
    to_c = [m for m in sent if SITE_C in m.recipients]
    to_a = [m for m in sent if SITE_A in m.recipients]
    assert any(NGI in m.recipients for m in to_c), [m.recipients for m in to_c]
    tlp = "RED" if label else "AMBER"
    for message in to_c:
        subject, text = message.message["Subject"], body_of(message)
        assert "SITE-A" not in subject and "SITE-A" not in text, (subject, text)
        if NGI in message.recipients and label:
            # SITE-C's RED subject reaches no one who did not receive it.
            assert subject == f"[{first}] [TLP:{tlp}] (withheld: TLP:RED)"
        else:
            assert subject == f"[{first}] [TLP:{tlp}] {own_c}"
            assert "reminder: " + own_c.lower() in text.lower()
    for message in to_a:
        assert message.message["Subject"] == f"[{first}] [TLP:{tlp}] {own_a}"
        assert own_c not in body_of(message)
    # The duty team, who saw every mail, reads the incident's subject.
    escalations = [m for m in sent if m.recipients == ("duty@csirt.example.org",)]
    assert escalations
    for message in escalations:
        assert message.message["Subject"] == f"[{first}] [TLP:{tlp}] {own_a}"


def test_a_mail_to_sites_of_a_merged_incident_sharing_no_subject_is_neutral(
    w: World, tmp_path: Path
) -> None:
    first, second = merged(w)
    # A member writes to SITE-C in SITE-A's thread: SITE-C has seen it now.
    in_a_thread(w, first, "Are the two related?\n", "<ask-c@csirt.example.org>",
                to=f"{SITE_C}, abuse@csirt.example.org")  # fmt: skip
    own_a = str(w.show(first)["subject"])
    with w.app.db.transaction() as session:
        incident = by_tag(session, first)
        assert incident is not None
        mails = respond.thread_mails(session, incident)
        subject = respond.thread_subject
        assert subject(w.app, session, incident, mails, [SITE_A]) == own_a
        assert subject(w.app, session, incident, mails, [SITE_C]) == own_a
        assert subject(w.app, session, incident, mails, [ALICE]) == own_a
        # Before the member's mail SITE-C had seen only its own subject.
        before = [m for m in mails if m.message_id != "<ask-c@csirt.example.org>"]
        own_c = "Suspicious SSH logins at SITE-C"
        assert subject(w.app, session, incident, before, [SITE_C]) == own_c
        assert subject(w.app, session, incident, before, [SITE_C, NGI]) == own_c
        both = [SITE_A, SITE_C]
        assert subject(w.app, session, incident, before, both) == "Security incident"
        # No one who saw a mail of a merged incident: no site's subject.
        unseen = ["new@site-c.example.com"]
        assert subject(w.app, session, incident, mails, unseen) == "Security incident"


def test_a_relabel_request_to_a_merged_in_site_carries_its_own_subject(
    w: World, tmp_path: Path
) -> None:
    first, second = merged(w)
    in_a_thread(w, first, "#resolved\n#no-request\n", "<res@csirt.example.org>")
    w.new_mail()
    # SITE-C's closure report, unlabelled, in its own thread.
    when = at("2026-12-01T10:00:00")
    w.deliver(raw_mail(
        subject=f"Re: [{second}] [TLP:AMBER] Suspicious SSH logins at SITE-C",
        body="Closure report\n\nResolution:\nReinstalled ui01.\n\n"
        "Lessons learnt:\nPatch faster.\n",
        when=when, sender=SITE_C, message_id="<closure-c@site-c.example.com>",
    ), when)  # fmt: skip
    [asked] = w.new_mail()
    assert asked.recipients == (SITE_C,)
    assert '"TLP:AMBER" or "TLP:RED"' in body_of(asked)
    subject = asked.message["Subject"]
    assert subject == f"[{first}] [TLP:AMBER] Suspicious SSH logins at SITE-C"
    assert "SITE-A" not in body_of(asked)


def _close(w: World, tag: str, when: str) -> None:
    w.deliver(member_mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Security incident", body="#close\n",
        when=at(when), message_id=f"<close-{tag}@csirt.example.org>",
    ), at(when))  # fmt: skip


def _pending(w: World, tag: str) -> set[tuple[str, str]]:
    return {
        (d["rule"], d["site"])
        for d in w.show(tag)["deadlines"]
        if d["state"] == "pending"
    }


def test_merge_into_a_closed_incident_is_refused(w: World, tmp_path: Path) -> None:
    """Clocks moved into a closed incident would be chased by no one, listed
    nowhere and never missed: the member is told to reopen it first."""
    first = site_report(w)
    _close(w, first, "2026-11-30T10:10:00")
    second = second_report(w)
    waiting = _pending(w, second)
    assert ("downtime", "SITE-C") in waiting
    w.new_mail()
    merge(w, second, first)

    refusal = [m for m in w.new_mail() if "reopen it first" in str(m.message)]
    assert len(refusal) == 1 and refusal[0].recipients == (ALICE,)
    assert f"#reopen in a mail under [{first}]" in str(refusal[0].message)
    assert w.show(second)["tag"] == second
    assert [r["tag"] for r in views.incident_list(w.app)] == [second]
    assert _pending(w, second) == waiting

    # Its clocks are chased as before: listed by `deadlines`, missed by the sweep.
    assert {p.tag for p in forecast(w.app)} == {second}
    w.app.clock.set(at("2026-12-02T10:00:00"))
    assert sweep(w.app)["missed"] >= 1
    assert views.status(w.app, None)["deadlines_overdue"] >= 1


def test_a_site_mail_to_a_closed_incident_starts_no_clock(
    w: World, tmp_path: Path
) -> None:
    first = site_report(w)
    _close(w, first, "2026-11-30T10:10:00")
    w.deliver(raw_mail(
        subject=f"Re: [{first}] Security incident suspected at SITE-A",
        sender=SITE_A, when=at("2026-11-30T10:20:00"),
        message_id="<late-a@site-a.example.com>",
        body="The host wn12 was isolated from the network at 10:15 UTC.\n",
    ), at("2026-11-30T10:20:00"))  # fmt: skip
    shown = w.show(first)
    assert "<late-a@site-a.example.com>" in {m["message_id"] for m in shown["messages"]}
    assert _pending(w, first) == set()


def test_the_sweep_cancels_a_clock_left_pending_in_a_closed_incident(
    w: World, tmp_path: Path
) -> None:
    """A clock pending where nothing is chased (as an older mailbot left after
    such a merge) is cancelled and said, not kept pending for ever."""
    first = site_report(w)
    with w.app.db.transaction() as session:
        incident = by_tag(session, first)
        assert incident is not None
        incident.status = "closed"
    assert _pending(w, first)
    w.app.clock.set(at("2026-12-02T10:00:00"))
    sweep(w.app)
    assert _pending(w, first) == set()
    assert forecast(w.app) == []
    states = {d["state"] for d in w.show(first)["deadlines"]}
    assert "cancelled" in states


def test_status_counts_a_missed_clock_of_a_resolved_incident(
    w: World, tmp_path: Path
) -> None:
    first = site_report(w)
    w.deliver(member_mail(
        subject=f"Re: [{first}] [TLP:AMBER] Security incident",
        body="#resolved 2026-11-30T11:00:00Z\n#no-request\n",
        when=at("2026-11-30T11:05:00"), message_id="<res@csirt.example.org>",
    ), at("2026-11-30T11:05:00"))  # fmt: skip
    assert w.show(first)["status"] == "resolved"
    w.app.clock.set(at("2027-01-05T10:00:00"))
    sweep(w.app)
    closure = [d for d in w.show(first)["deadlines"] if d["rule"] == "closure_report"]
    assert closure and closure[0]["state"] == "missed"
    assert views.status(w.app, None)["deadlines_overdue"] >= 1


def _resolve(w: World, tag: str, when: str) -> None:
    w.deliver(member_mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Security incident",
        body=f"#resolved {when}Z\n#no-request\n", when=at(when),
        message_id=f"<resolved-{tag}@csirt.example.org>",
    ), at(when))  # fmt: skip


def _closure(w: World, tag: str) -> list[tuple[str, str, str]]:
    return sorted(
        (d["site"], d["state"], d["started_at"])
        for d in w.show(tag)["deadlines"]
        if d["rule"] == "closure_report"
    )


def test_a_resolved_incident_merged_into_an_open_one_owes_no_closure_report(
    w: World, tmp_path: Path
) -> None:
    # SITE-C's incident was resolved, then found to be part of SITE-A's,
    # still open: its closure-report clock kept running in the open incident,
    # and SITE-C was reminded, then escalated, of a closure report for an
    # incident nobody had resolved; the open incident took its resolution.
    first = site_report(w)
    second = second_report(w)
    _resolve(w, second, "2026-11-30T10:40:00")
    assert _closure(w, second) == [("SITE-C", "pending", "2026-11-30T10:40:00Z")]
    w.new_mail()
    merge(w, second, first)
    # One confirmation of the mail's two commands.
    [done] = [m for m in w.new_mail() if m.headline.startswith("Done:")]
    assert done.headline == "Done: #merge, #no-request"
    assert "1 closure-report clock(s) cancelled" in body_of(done)

    shown = w.show(first)
    assert (shown["status"], shown["resolved_at"]) == ("open", None)
    assert _closure(w, first) == [("SITE-C", "cancelled", "2026-11-30T10:40:00Z")]

    # The surviving incident's own resolution owes every site's report...
    _resolve(w, first, "2026-12-02T09:00:00")
    assert _closure(w, first) == [
        ("SITE-A", "pending", "2026-12-02T09:00:00Z"),
        ("SITE-C", "cancelled", "2026-11-30T10:40:00Z"),
        ("SITE-C", "pending", "2026-12-02T09:00:00Z"),
    ]
    # ... and nobody is chased for the cancelled one, due 2026-12-30.
    w.new_mail()
    w.app.clock.set(at("2026-12-31T12:00:00"))
    sweep(w.app)
    deliver_due(w.app)
    assert w.new_mail() == []
    assert ("SITE-C", "cancelled", "2026-11-30T10:40:00Z") in _closure(w, first)


def test_an_open_incident_merged_into_a_resolved_one_owes_its_closure_report(
    w: World, tmp_path: Path
) -> None:
    # The surviving incident is resolved: every site of it owes the closure
    # report from its resolution, the site merged in too.
    first = site_report(w)
    _resolve(w, first, "2026-11-30T10:10:00")
    second = second_report(w)
    merge(w, second, first)
    shown = w.show(first)
    assert (shown["status"], shown["resolved_at"]) == (
        "resolved",
        "2026-11-30T10:10:00Z",
    )
    assert _closure(w, first) == [
        ("SITE-A", "pending", "2026-11-30T10:10:00Z"),
        ("SITE-C", "pending", "2026-11-30T10:10:00Z"),
    ]
