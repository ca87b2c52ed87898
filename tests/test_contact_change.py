"""A site's security contact changes in the sites file mid-incident.

The old contact's answer in the thread was filed as a stranger's: the
request it answered stayed unmet, and the new contact, who never saw the
thread, was reminded of it.
"""

from __future__ import annotations

import tomllib

import test_csirt_env as env
from test_csirt_env import ABUSE, SITE_A, SITES, World, at

from mailbot.deadlines.sweep import sweep
from mailbot.send import deliver_due
from mailbot.sites import directory_from_dict

pytest_plugins = ("test_csirt_env",)

MOVED = SITES.replace(
    '["admin@site-a.example.com", "admin-old@site-a.example.com"]',
    '["newsec@site-a.example.net"]',
).replace('domains = ["site-a.example.com"]', 'domains = ["site-a.example.net"]')


def _answer(w: World, tag: str, sender: str, n: int) -> None:
    when = at("2026-11-30T11:00:00")
    w.deliver(env.raw_mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Security incident", sender=sender,
        when=when, message_id=f"<answer-{n}@example.org>",
        body="Here are the logs: sshd accepted a password for bob from 198.18.1.1.\n",
    ), when)  # fmt: skip


def _asked(w: World) -> str:
    tag = env.site_report(w)
    w.new_mail()
    when = at("2026-11-30T10:30:00")
    w.deliver(env.member_mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Security incident",
        body="Please send the logs.", when=when, to=SITE_A, cc=ABUSE,
        message_id="<ask@csirt.example.org>",
    ), when)  # fmt: skip
    assert MOVED != SITES
    w.app.directory = directory_from_dict(tomllib.loads(MOVED))
    return tag


def test_the_old_contacts_answer_is_still_the_sites(w: World) -> None:
    tag = _asked(w)
    _answer(w, tag, SITE_A, 1)
    shown = w.show(tag)
    [answer] = [
        m for m in shown["messages"] if m["message_id"] == "<answer-1@example.org>"
    ]
    assert answer["role"] == "site"
    [analysis] = [d for d in shown["deadlines"] if d["rule"] == "analysis"]
    assert analysis["state"] == "met"
    # Nobody is reminded of a request answered (containment is still owed).
    w.app.clock.set(at("2026-12-01T12:00:00"))
    sweep(w.app)
    deliver_due(w.app)
    [analysis] = [d for d in w.show(tag)["deadlines"] if d["rule"] == "analysis"]
    assert (analysis["state"], analysis["chases"]) == ("met", [])


def test_a_stranger_in_the_thread_is_still_a_stranger(w: World) -> None:
    # Only a sender who wrote there for the site before keeps its place.
    tag = _asked(w)
    _answer(w, tag, "someone@elsewhere.example.net", 2)
    shown = w.show(tag)
    [answer] = [
        m for m in shown["messages"] if m["from"] == "someone@elsewhere.example.net"
    ]
    assert answer["role"] == "reporter"
    [analysis] = [d for d in shown["deadlines"] if d["rule"] == "analysis"]
    assert analysis["state"] == "pending"
