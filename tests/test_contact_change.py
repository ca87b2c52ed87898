"""A site's security contact changes in the sites file mid-incident.

The old contact's answer in the thread was filed as a stranger's: the
request it answered stayed unmet, and the new contact, who never saw the
thread, was reminded of it.
"""

from __future__ import annotations

import tomllib

import pytest
import test_csirt_env as env
from mailbot_env import SHARED_CONTACT_SITES
from test_csirt_env import ABUSE, SITE_A, SITES, World, at

from mailbot import views
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


UNI = "cert@uni.example.edu"


@pytest.mark.parametrize(
    ("body", "in_reply_to"),
    [
        ("Here are the logs: nothing else found.\n", "<ask-uni@csirt.example.org>"),
        ("Here are the logs: nothing else found.\n", None),
        ("Here are the logs. The attacker also tried SITE-UNI1.\n", None),
        ("Here are the logs. The attacker also tried 203.0.113.7.\n", None),
    ],
)
def test_a_shared_contact_answers_for_the_site_of_its_thread(
    w: World, body: str, in_reply_to: str | None
) -> None:
    # SITE-UNI2's incident (its network named in the report): a follow-up
    # of the contact it shares with SITE-UNI1 that names no site, or the
    # other one in passing, is SITE-UNI2's answer in that incident. It was
    # SITE-UNI1's: a new incident, "not your site's tag" told to the
    # contact, or the request left unmet and chased.
    w.app.directory = directory_from_dict(tomllib.loads(SITES + SHARED_CONTACT_SITES))
    when = at("2026-11-30T09:00:00")
    w.deliver(env.raw_mail(
        subject="Security incident", sender=UNI, when=when,
        message_id="<report@uni.example.edu>",
        body="Compromise of wn01 (203.0.113.70). Isolated at 08:50 UTC.\n",
    ), when)  # fmt: skip
    [incident] = views.incident_list(w.app)
    tag = incident["tag"]
    assert incident["site"] == "SITE-UNI2"
    when = at("2026-11-30T10:00:00")
    w.deliver(env.member_mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Security incident",
        body="Please send the logs.", when=when, to=UNI, cc=ABUSE,
        message_id="<ask-uni@csirt.example.org>",
    ), when)  # fmt: skip
    when = at("2026-11-30T11:00:00")
    w.deliver(env.raw_mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Security incident", sender=UNI,
        when=when, message_id="<logs@uni.example.edu>", body=body,
        reply_to=in_reply_to,
    ), when)  # fmt: skip
    assert [i["tag"] for i in views.incident_list(w.app)] == [tag]
    shown = w.show(tag)
    [answer] = [
        m for m in shown["messages"] if m["message_id"] == "<logs@uni.example.edu>"
    ]
    assert (answer["role"], answer["flags"]) == ("site", [])
    [analysis] = [d for d in shown["deadlines"] if d["rule"] == "analysis"]
    assert analysis["state"] == "met"
