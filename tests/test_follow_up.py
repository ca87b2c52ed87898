"""A site's quick second mail of its report (same address, same subject,
no tag, no reference, minutes later, often in the same poll) joins the
report's incident: breaker finding brk7 L, where it opened a second
incident and a second acknowledgement."""

from __future__ import annotations

from pathlib import Path

import test_csirt_env as env
from test_csirt_env import SITE_A, World, at

from mailbot import service, views

# The `w` fixture: a mailbot on a private Dovecot and SMTP sink.
pytest_plugins = ("test_csirt_env",)

SUBJECT = "Security incident suspected at SITE-A"
OTHER_A = "admin-old@site-a.example.com"


def arrives(w: World, subject: str, when: str, n: int, sender: str = SITE_A) -> str:
    """A site's new mail put in the mailbox, not yet polled."""
    message_id = f"<report-{n}@site-a.example.com>"
    w.dovecot.append(env.raw_mail(
        subject=subject, sender=sender, when=at(when), message_id=message_id,
        body=f"Mail {n}: miner on wn12.site-a.example.com (192.0.2.45).\n",
    ), internaldate=at(when))  # fmt: skip
    return message_id


def poll(w: World, when: str) -> None:
    w.app.clock.set(at(when))
    assert service.poll(w.app).quarantined == 0


def tags(w: World) -> list[str]:
    return [str(r["tag"]) for r in views.incident_list(w.app, all_=True)]


def test_a_follow_up_in_the_same_poll_joins_the_report(
    w: World, tmp_path: Path
) -> None:
    arrives(w, SUBJECT, "2026-11-30T09:55:00", 1)
    second = arrives(w, SUBJECT, "2026-11-30T09:59:00", 2)
    poll(w, "2026-11-30T10:00:00")
    [tag] = tags(w)
    mail = env.listed_mail(w, second)
    assert (mail["tag"], mail["thread_reason"]) == (tag, "follow_up")
    acks = [m for m in w.new_mail() if SITE_A in m.recipients]
    assert len(acks) == 1


def test_a_follow_up_an_hour_later(w: World, tmp_path: Path) -> None:
    arrives(w, f"Re: {SUBJECT}", "2026-11-30T09:55:00", 1)
    poll(w, "2026-11-30T09:56:00")
    [tag] = tags(w)
    w.new_mail()
    second = arrives(w, f"Fwd: {SUBJECT}", "2026-11-30T10:55:00", 2)
    poll(w, "2026-11-30T10:56:00")
    assert env.listed_mail(w, second)["tag"] == tag
    assert tags(w) == [tag]
    assert not [m for m in w.new_mail() if SITE_A in m.recipients]


def test_what_is_no_follow_up(w: World, tmp_path: Path) -> None:
    arrives(w, SUBJECT, "2026-11-30T09:55:00", 1)
    poll(w, "2026-11-30T09:56:00")
    [tag] = tags(w)
    # Another subject, another address of the site, or hours later: another
    # incident, as two incidents of one site may be.
    arrives(w, "Another odd host at SITE-A", "2026-11-30T10:00:00", 2)
    arrives(w, SUBJECT, "2026-11-30T10:01:00", 3, sender=OTHER_A)
    arrives(w, SUBJECT, "2026-11-30T12:00:00", 4)
    poll(w, "2026-11-30T12:01:00")
    for n in (2, 3, 4):
        mail = env.listed_mail(w, f"<report-{n}@site-a.example.com>")
        assert mail["tag"] != tag and mail["thread_reason"] == "new"
    assert len(tags(w)) == 4


def test_no_follow_up_of_a_resolved_incident(w: World, tmp_path: Path) -> None:
    arrives(w, SUBJECT, "2026-11-30T09:55:00", 1)
    poll(w, "2026-11-30T09:56:00")
    [tag] = tags(w)
    when = at("2026-11-30T10:00:00")
    w.deliver(env.member_mail(
        subject=f"Re: [{tag}] x", body="#resolved\n#no-request\n", when=when,
        message_id="<resolved@csirt.example.org>",
    ), when)  # fmt: skip
    second = arrives(w, SUBJECT, "2026-11-30T10:30:00", 2)
    poll(w, "2026-11-30T10:31:00")
    assert env.listed_mail(w, second)["thread_reason"] == "new"
