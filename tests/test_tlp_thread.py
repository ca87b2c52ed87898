"""TLP in the thread: strictest wins, quotes never lower it, RED stays with
its recipients, and a closure report needs an explicit AMBER or RED label."""

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

from mailbot import views
from mailbot.deadlines.sweep import sweep
from mailbot.preview import preview
from mailbot.send import deliver_due

# The `w` fixture: a mailbot on a private Dovecot and SMTP sink.
pytest_plugins = ("test_csirt_env",)


def test_strictest_label_wins_and_quotes_do_not_lower_it(
    w: World, tmp_path: Path
) -> None:
    when = at("2026-11-30T09:00:00")
    w.deliver(
        raw_mail(
            subject="Scan report",
            body="No label here.\n",
            when=when,
            sender="reporter@cert.example.net",
            message_id="<u@cert.example.net>",
        ),
        when,
    )
    tag = views.incident_list(w.app)[0]["tag"]
    assert w.show(tag)["tlp"] == "AMBER"  # unlabelled
    steps = [
        ("** RED information - Limited distribution **\nDetails.\n", "RED"),
        (
            "TLP:CLEAR\nPublic now?\n\n"
            "On Mon, Alice <a@b.example> wrote:\n> TLP:GREEN\n",
            "RED",
        ),
    ]
    for n, (body, expected) in enumerate(steps):
        when = at(f"2026-11-30T1{n}:00:00")
        w.deliver(
            raw_mail(
                subject=f"Re: [{tag}] Scan report",
                body=body,
                when=when,
                sender="reporter@cert.example.net",
                message_id=f"<l{n}@cert.example.net>",
            ),
            when,
        )
        assert w.show(tag)["tlp"] == expected
    # #tlp sets it, and every mail mailbot sends carries it.
    w.new_mail()
    when = at("2026-11-30T13:00:00")
    w.deliver(
        member_mail(
            subject=f"Re: [{tag}] x",
            body="#tlp AMBER+STRICT",
            when=when,
            message_id="<t@csirt.example.org>",
        ),
        when,
    )
    assert w.show(tag)["tlp"] == "AMBER+STRICT"
    sent = w.new_mail()
    assert sent[0].message["Subject"].startswith(f"[{tag}] [TLP:AMBER+STRICT] ")
    assert body_of(sent[0]).splitlines()[0] == "TLP:AMBER+STRICT"


def test_red_subject_never_reaches_others(w: World, tmp_path: Path) -> None:
    # A reporter's RED mail, to the CSIRT only, names a victim in its subject.
    secret = "Credentials of jdoe stolen from wn12"
    when = at("2026-11-30T09:00:00")
    w.deliver(
        raw_mail(
            subject=f"[TLP:RED] {secret}",
            body="TLP:RED\nSee subject.\n",
            when=when,
            sender="reporter@cert.example.net",
            message_id="<red@cert.example.net>",
        ),
        when,
    )
    tag = views.incident_list(w.app)[0]["tag"]
    ack = w.new_mail()
    assert ack[0].recipients == ("reporter@cert.example.net",)
    assert secret in ack[0].message["Subject"]  # the reporter wrote it
    # The CSIRT asks SITE-A; the reminder to the site must not carry it.
    when = at("2026-11-30T09:30:00")
    w.deliver(
        member_mail(
            subject=f"Re: [{tag}] [TLP:RED] {secret}",
            to=SITE_A,
            when=when,
            body="#site SITE-A\nPlease check wn12.",
            message_id="<ask@csirt.example.org>",
        ),
        when,
    )
    assert [m.recipients for m in w.new_mail()] == [(ALICE,)]
    w.app.clock.set(at("2026-12-01T12:00:00"))
    # `render` shows the site's reminder as the sweep will send it.
    shown = preview(w.app, "reminder-1", tag, "analysis")
    assert secret not in shown.subject + shown.body
    assert "withheld: TLP:RED" in shown.subject
    assert sweep(w.app)["reminders"] >= 1
    deliver_due(w.app)
    reminders = [m for m in w.new_mail() if SITE_A in m.recipients]
    assert reminders
    for message in reminders:
        assert secret not in str(message.message)
        assert "withheld: TLP:RED" in message.message["Subject"]


def test_closure_report_needs_amber_or_red(w: World, tmp_path: Path) -> None:
    tag = site_report(w)
    when = at("2026-11-30T12:00:00")
    w.deliver(
        member_mail(
            subject=f"Re: [{tag}] x",
            body="#resolved",
            when=when,
            message_id="<res@csirt.example.org>",
        ),
        when,
    )
    w.new_mail()
    report = (
        "Closure report\n\nResolution:\nReinstalled wn12.\n\n"
        "Lessons learnt:\nPatch faster.\n"
    )
    for n, label in enumerate(("TLP:GREEN", "", "TLP:CLEAR")):
        when = at(f"2026-12-0{n + 1}T10:00:00")
        w.deliver(
            raw_mail(
                subject=f"{label} Closure report {tag}",
                body=report,
                when=when,
                sender=SITE_A,
                message_id=f"<cr{n}@site-a.example.com>",
            ),
            when,
        )
    shown = w.show(tag)
    closure = [d for d in shown["deadlines"] if d["rule"] == "closure_report"]
    assert closure[0]["state"] == "pending"
    assert "lessons_learnt" not in shown["fields"]
    asked = w.new_mail()  # asked once, in the thread, whatever the retries
    assert [m.recipients for m in asked] == [(SITE_A,)]
    assert '"TLP:AMBER" or "TLP:RED"' in body_of(asked[0])
    assert asked[0].message["In-Reply-To"] == "<cr0@site-a.example.com>"

    when = at("2026-12-03T10:00:00")
    w.deliver(
        raw_mail(
            subject=f"Closure report {tag} TLP:AMBER",
            body=report,
            when=when,
            sender=SITE_A,
            message_id="<cr-ok@site-a.example.com>",
        ),
        when,
    )
    shown = w.show(tag)
    closure = [d for d in shown["deadlines"] if d["rule"] == "closure_report"]
    assert (
        closure[0]["state"] == "met" and closure[0]["met_at"] == "2026-12-03T10:00:00Z"
    )
    assert shown["fields"].get("lessons_learnt"), shown["fields"]
    assert w.new_mail() == []


REPORT = (
    "Closure report\n\nResolution:\nReinstalled wn12.\n\n"
    "Lessons learnt:\nPatch faster.\n"
)


def _resolved(w: World) -> tuple[str, str]:
    """SITE-A's incident, resolved by Alice; (tag, subject of mailbot's ack)."""
    tag = site_report(w)
    ack = w.new_mail()[0].message["Subject"]
    assert "[TLP:AMBER]" in ack
    when = at("2026-11-30T12:00:00")
    w.deliver(member_mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Security incident suspected at SITE-A",
        body="#resolved\n#no-request\n", when=when,
        message_id="<res@csirt.example.org>",
    ), when)  # fmt: skip
    w.new_mail()
    return tag, ack


def _closure(w: World, tag: str, n: int, subject: str, body: str) -> str:
    """SITE-A sends a closure report; returns the closure-report clock's state."""
    when = at(f"2026-12-0{n}T10:00:00")
    w.deliver(raw_mail(
        subject=subject, body=body, when=when, sender=SITE_A,
        message_id=f"<closure{n}@site-a.example.com>",
    ), when)  # fmt: skip
    deadlines = w.show(tag)["deadlines"]
    return str([d for d in deadlines if d["rule"] == "closure_report"][0]["state"])


def test_a_label_kept_from_our_subject_is_not_the_sites(
    w: World, tmp_path: Path
) -> None:
    """A reply keeps the [TLP:AMBER] mailbot (or a member) put in the subject:
    the site's report counts only with a label of its own, none lower."""
    tag, ack = _resolved(w)
    member = f"Re: [{tag}] [TLP:AMBER] Security incident suspected at SITE-A"
    assert _closure(w, tag, 1, f"Re: {ack}", "TLP:GREEN\n\n" + REPORT) == "pending"
    asked = w.new_mail()
    assert [m.recipients for m in asked] == [(SITE_A,)]
    assert "labelled TLP:GREEN" in body_of(asked[0])
    assert _closure(w, tag, 2, f"RE: {member}", REPORT) == "pending"
    assert _closure(w, tag, 3, f"Re: {member}", "TLP:AMBER\n\n" + REPORT) == "met"
    assert w.show(tag)["fields"].get("lessons_learnt")


def test_a_subject_the_site_wrote_carries_its_label(w: World, tmp_path: Path) -> None:
    tag, _ = _resolved(w)
    # Its own subject, in mailbot's shape: the label is the site's.
    assert _closure(w, tag, 1, f"[{tag}] [TLP:AMBER] Closure report", REPORT) == "met"


def test_a_lower_label_in_the_text_keeps_a_report_from_counting(
    w: World, tmp_path: Path
) -> None:
    tag, _ = _resolved(w)
    subject = f"Closure report {tag} TLP:AMBER"
    assert _closure(w, tag, 1, subject, "TLP:GREEN\n\n" + REPORT) == "pending"
    # A label inside a sentence is about something else.
    prose = REPORT + "\nWe shared the IOCs as TLP:GREEN with our NREN.\n"
    assert _closure(w, tag, 2, subject + " ", prose) == "met"
