"""A subject carrying another incident's tag (a typo, a pasted or stale
subject, two tags) never makes a site part of that incident: breaker
finding 2, where SITE-ALPHA's answer to its own acknowledgement carried
SITE-BETA's tag and SITE-ALPHA then got SITE-BETA's TLP:AMBER reminders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import test_csirt_env as env
from test_csirt_env import SITE_A, SITE_C, World, at

from mailbot import views
from mailbot.deadlines.sweep import sweep
from mailbot.send import deliver_due

# The `w` fixture: a mailbot on a private Dovecot and SMTP sink.
pytest_plugins = ("test_csirt_env",)

DUTY = "duty@csirt.example.org"
# SITE-C's incident: its own subject, which must not reach SITE-A.
SECRET = "Confidential: compromise of our batch system at SITE-C"


def two_incidents(w: World) -> tuple[str, Any, str]:
    """SITE-A's incident (and its acknowledgement), then SITE-C's."""
    mine = env.site_report(w)
    [ack] = w.new_mail()
    when = at("2026-11-30T10:05:00")
    w.deliver(env.raw_mail(
        subject=SECRET, sender=SITE_C, when=when,
        message_id="<report-c@site-c.example.com>",
        body="We found a miner on 198.51.100.140.\n",
    ), when)  # fmt: skip
    other = str(views.incident_list(w.app)[-1]["tag"])
    assert other != mine
    w.new_mail()
    return mine, ack, other


def site_a_writes(
    w: World, subject: str, when: str, n: int, **headers: str
) -> dict[str, Any]:
    """SITE-A's mail; returns it as `show` lists it."""
    message_id = f"<more-{n}@site-a.example.com>"
    w.deliver(env.raw_mail(
        subject=subject, sender=SITE_A, when=at(when), message_id=message_id,
        body="More logs: 203.0.113.99 logged in.\n", headers=list(headers.items()),
    ), at(when))  # fmt: skip
    return env.listed_mail(w, message_id)


def assert_site_c_alone(w: World, other: str) -> None:
    shown = w.show(other)
    assert shown["sites"] == ["SITE-C"]
    assert {d["site"] for d in shown["deadlines"]} == {"SITE-C"}


def no_secret_to_site_a(w: World, sent: list[Any]) -> None:
    for message in sent:
        if SITE_A in message.recipients:
            assert SECRET not in message.message["Subject"]
            assert SECRET not in env.body_of(message)


@pytest.mark.parametrize("header", ["In-Reply-To", "References"])
def test_a_reference_to_mailbots_mail_beats_another_sites_tag(
    w: World, tmp_path: Path, header: str
) -> None:
    mine, ack, other = two_incidents(w)
    # SITE-A answers its acknowledgement with SITE-C's tag in the subject.
    mail = site_a_writes(
        w, f"Re: [{other}] Security incident suspected at SITE-A",
        "2026-11-30T11:01:00", 1, **{header: ack.message["Message-ID"]},
    )  # fmt: skip
    assert (mail["tag"], mail["thread_reason"]) == (mine, "reference")
    assert "tag_not_followed" in mail["flags"]
    assert_site_c_alone(w, other)
    [trail] = [a for a in w.show(mine)["audit"] if a["action"] == "tag_not_followed"]
    assert other in trail["detail"] and "duty address told" in trail["detail"]
    # The duty address is told, in the incident the mail went to.
    [notice] = w.new_mail()
    assert notice.recipients == (DUTY,)
    assert notice.message["Subject"].startswith(f"[{mine}] ")
    text = env.body_of(notice)
    assert other in text and "<more-1@site-a.example.com>" in text
    assert f"#merge {other}" in text

    # A second such mail: recorded, the duty address not told again.
    site_a_writes(
        w, f"Re: [{other}] logs", "2026-11-30T11:30:00", 2,
        **{header: ack.message["Message-ID"]},
    )  # fmt: skip
    assert w.new_mail() == []

    # A day later: SITE-A gets nothing of SITE-C's incident.
    w.app.clock.set(at("2026-12-01T12:00:00"))
    sweep(w.app)
    deliver_due(w.app)
    sent = w.new_mail()
    assert sent
    assert all(not m.message["Subject"].startswith(f"[{other}]") or
               m.recipients == (SITE_C,) for m in sent)  # fmt: skip
    no_secret_to_site_a(w, sent)


def test_two_tags_follow_the_senders_incident(w: World, tmp_path: Path) -> None:
    mine, _, other = two_incidents(w)
    for n, subject in enumerate((f"[{other}] [{mine}] x", f"[{mine}] [{other}] x")):
        mail = site_a_writes(w, subject, f"2026-11-30T11:0{n}:00", n)
        assert (mail["tag"], mail["thread_reason"]) == (mine, "tag")
        assert "tag_not_followed" in mail["flags"]
    assert_site_c_alone(w, other)
    # Told once for the incident and sender.
    assert [m.recipients for m in w.new_mail()] == [(DUTY,)]


def test_only_another_sites_tag_opens_an_incident(w: World, tmp_path: Path) -> None:
    mine, _, other = two_incidents(w)
    mail = site_a_writes(w, f"Re: [{other}] more logs", "2026-11-30T11:01:00", 1)
    opened = mail["tag"]
    assert opened not in (mine, other) and mail["thread_reason"] == "new"
    assert w.show(opened)["sites"] == ["SITE-A"]
    assert_site_c_alone(w, other)
    sent = {m.recipients: m for m in w.new_mail()}
    assert set(sent) == {(DUTY,), (SITE_A,)}
    ack = sent[(SITE_A,)]
    assert ack.message["Subject"].startswith(f"[{opened}] [TLP:AMBER] ")
    assert other in env.body_of(ack) and "not part of" in env.body_of(ack)
    no_secret_to_site_a(w, list(sent.values()))


def merge(w: World, source: str, target: str, when: str, n: int) -> None:
    w.deliver(env.member_mail(
        subject=f"Re: [{source}] merge", body=f"#merge {target}\n#no-request\n",
        when=at(when), message_id=f"<merge-{n}@csirt.example.org>",
    ), at(when))  # fmt: skip


def test_a_merged_away_tag_names_its_incident_and_its_sites(
    w: World, tmp_path: Path
) -> None:
    mine, _, other = two_incidents(w)
    # SITE-C's second incident, merged into its first.
    when = at("2026-11-30T10:30:00")
    w.deliver(env.raw_mail(
        subject="Another odd host at SITE-C", sender=SITE_C, when=when,
        message_id="<second-c@site-c.example.com>", body="Odd host.\n",
    ), when)  # fmt: skip
    second = str(views.incident_list(w.app)[-1]["tag"])
    merge(w, second, other, "2026-11-30T10:40:00", 1)
    assert [r["tag"] for r in views.incident_list(w.app)] == [mine, other]
    w.new_mail()

    # SITE-A with the merged-away tag: not part of it, not joined.
    mail = site_a_writes(w, f"Re: [{second}] x", "2026-11-30T11:01:00", 1)
    assert mail["tag"] not in (mine, other) and mail["thread_reason"] == "new"
    assert_site_c_alone(w, other)
    # SITE-C with it: its own incident, as before.
    when = at("2026-11-30T11:10:00")
    w.deliver(env.raw_mail(
        subject=f"Re: [{second}] x", sender=SITE_C, when=when,
        message_id="<later-c@site-c.example.com>", body="Host isolated.\n",
    ), when)  # fmt: skip
    later = w.show(other)["messages"][-1]
    assert later["message_id"] == "<later-c@site-c.example.com>"
    assert later["thread_reason"] == "tag" and not later["flags"]


def test_a_closed_incidents_tag(w: World, tmp_path: Path) -> None:
    mine, ack, other = two_incidents(w)
    when = at("2026-11-30T10:40:00")
    w.deliver(env.member_mail(
        subject=f"Re: [{other}] x", body="#close\n", when=when,
        message_id="<close@csirt.example.org>",
    ), when)  # fmt: skip
    assert w.show(other)["status"] == "closed"
    w.new_mail()
    # Answering mailbot's mail: its incident; with the tag alone: a new one.
    mail = site_a_writes(
        w, f"Re: [{other}] x", "2026-11-30T11:01:00", 1,
        **{"In-Reply-To": ack.message["Message-ID"]},
    )  # fmt: skip
    assert (mail["tag"], mail["thread_reason"]) == (mine, "reference")
    mail = site_a_writes(w, f"Re: [{other}] y", "2026-11-30T11:02:00", 2)
    assert mail["tag"] not in (mine, other) and mail["thread_reason"] == "new"
    assert w.show(other)["sites"] == ["SITE-C"]
    assert w.show(other)["status"] == "closed"


def test_a_members_tag_and_a_reply_in_the_site_thread(w: World, tmp_path: Path) -> None:
    # A member asks SITE-A in SITE-C's incident; SITE-A's answer names the
    # member's mail: a reply in that incident, which SITE-A now takes part
    # in by the member's doing, and nothing odd to tell.
    mine, _, other = two_incidents(w)
    when = at("2026-11-30T10:30:00")
    w.deliver(env.member_mail(
        subject=f"[{other}] Do you see 203.0.113.99 too?", body="Hello,\n",
        when=when, message_id="<ask-a@csirt.example.org>",
        to=SITE_A, cc=env.ABUSE,
    ), when)  # fmt: skip
    w.new_mail()
    mail = site_a_writes(
        w, f"Re: [{other}] Do you see 203.0.113.99 too?", "2026-11-30T11:01:00",
        1, **{"In-Reply-To": "<ask-a@csirt.example.org>"},
    )  # fmt: skip
    assert (mail["tag"], mail["thread_reason"]) == (other, "tag")
    assert not mail["flags"]
    assert w.show(other)["sites"] == ["SITE-C", "SITE-A"]
    assert w.new_mail() == []


def test_a_members_tag_is_the_incident_meant(w: World, tmp_path: Path) -> None:
    # Alice answers SITE-A's acknowledgement, retags it for SITE-C's incident
    # and writes a command: the command is for the incident she named.
    mine, ack, other = two_incidents(w)
    when = at("2026-11-30T11:00:00")
    w.deliver(env.member_mail(
        subject=f"Re: [{other}] [TLP:AMBER] {SECRET}", body="#tlp RED\n",
        when=when, message_id="<retag@csirt.example.org>",
        headers=[("In-Reply-To", ack.message["Message-ID"])],
    ), when)  # fmt: skip
    assert w.show(other)["tlp"] == "RED"
    assert w.show(mine)["tlp"] == "AMBER"
    assert "<retag@csirt.example.org>" in {
        m["message_id"] for m in w.show(other)["messages"]
    }


@pytest.mark.parametrize(
    "tag", ["EGI-20991231-01", "EGI-20261202-01", "EGI-20991231", "EGI-20261399-01"]
)
def test_a_tag_dated_after_tomorrow_or_on_no_day_is_not_adopted(
    w: World, tmp_path: Path, tag: str, caplog: pytest.LogCaptureFixture
) -> None:
    # On 2026-11-30 no incident can have been opened on 2026-12-02 or later,
    # nor on the 99th day of the 13th month: the mail opens the day's first.
    when = at("2026-11-30T09:55:00")
    w.deliver(env.raw_mail(
        subject=f"Security incident suspected at SITE-A [{tag}] TLP: AMBER",
        sender=SITE_A, when=when, message_id="<future@site-a.example.com>",
        body="A miner on wn12.site-a.example.com (192.0.2.45).\n",
    ), when)  # fmt: skip
    [listed] = views.incident_list(w.app)
    assert listed["tag"] == "EGI-20261130-01"
    shown = w.show("EGI-20261130-01")
    assert tag not in shown["aliases"]
    [mail] = shown["messages"][:1]
    assert mail["thread_reason"] == "new" and "tag_not_followed" in mail["flags"]
    assert any(tag in r.getMessage() and "not followed" in r.getMessage()
               for r in caplog.records)  # fmt: skip
    [trail] = [a for a in shown["audit"] if a["action"] == "tag_not_followed"]
    assert tag in trail["detail"] and "after tomorrow" in trail["detail"]
    sent = {m.recipients: m for m in w.new_mail()}
    assert set(sent) == {(DUTY,), (SITE_A,)}
    assert tag in env.body_of(sent[(DUTY,)])
    ack = sent[(SITE_A,)]
    assert ack.message["Subject"].startswith("[EGI-20261130-01] [TLP:AMBER] ")
    assert tag in env.body_of(ack) and "no incident's" in env.body_of(ack)

    # The day's counter is untouched: the next incident is the day's second.
    when = at("2026-11-30T10:30:00")
    w.deliver(env.raw_mail(
        subject="Odd host", sender=SITE_C, when=when,
        message_id="<next@site-c.example.com>", body="Odd host.\n",
    ), when)  # fmt: skip
    assert views.incident_list(w.app)[-1]["tag"] == "EGI-20261130-02"


def test_a_tag_dated_tomorrow_is_adopted(w: World, tmp_path: Path) -> None:
    # Tomorrow in UTC is already today east of it.
    when = at("2026-11-30T23:55:00")
    w.deliver(env.raw_mail(
        subject="Security incident at SITE-A [EGI-20261201-04]", sender=SITE_A,
        when=when, message_id="<tomorrow@site-a.example.com>", body="A miner.\n",
    ), when)  # fmt: skip
    [listed] = views.incident_list(w.app)
    assert listed["tag"] == "EGI-20261201-04"
    assert not w.show("EGI-20261201-04")["messages"][0]["flags"]
