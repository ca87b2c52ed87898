"""A site's ticket system that opens a new ticket for every mail it gets
and answers under mailbot's subject, tag stripped (breaker brk13 F1): its
answer opened a new incident, whose acknowledgement opened the next ticket,
until a cap or the brake stopped it; each bogus incident had its clocks.
Its answer joins the incident of the mail it answers, whatever its words
(echo.py); a helpdesk's receipt meets no clock (brk13 F3). Mail goes in
through a private Dovecot and out through a real SMTP server on loopback.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import test_csirt_env as env
from test_csirt_env import ABUSE, SITE_A, World, at, raw_mail
from test_machine_mail import request_details

from mailbot import echo, views
from mailbot.deadlines.sweep import sweep

# The `w` fixture: a mailbot on a private Dovecot and SMTP sink.
pytest_plugins = ("test_csirt_env",)

HELPDESK = "helpdesk@site-a.example.com"
# The bot's words, as brk13 wrote them, and words that say nothing of a
# ticket: the subject alone ties the answer to mailbot's mail.
BOT_TEXT = (
    "Dear customer,\nwe have opened ticket {n} for the host"
    " wn12.site-a.example.com (192.0.2.45) you wrote about.\nRegards\n"
)
PLAIN_TEXT = "Hello,\nthank you for your mail.\nSite A\n"


def _ticket_bot(
    w: World, sent: Any, n: int, body: str, sender: str, when: dt.datetime
) -> str:
    """The site's ticket system answers `sent`: a new subject, its tag and
    TLP marker cut out, no reference, no automation header."""
    subject = re.sub(r"\[[^]]*\]\s*", "", sent.message["Subject"])
    message_id = f"<ticket-{n}@helpdesk.site-a.example.com>"
    w.deliver(
        raw_mail(
            subject=f"Ticket {n} opened: {subject}", body=body.format(n=n),
            sender=sender.format(n=n), when=when, message_id=message_id,
        ),
        when,
    )  # fmt: skip
    return message_id


@pytest.mark.parametrize("body", [BOT_TEXT, PLAIN_TEXT], ids=["words", "no_words"])
@pytest.mark.parametrize(
    "sender", [HELPDESK, "ticket-{n}@helpdesk.site-a.example.com"], ids=["B", "C"]
)
def test_a_ticket_bot_s_answers_open_no_incident(
    w: World, body: str, sender: str
) -> None:
    tag = env.site_report(w)
    when = at("2026-11-30T09:57:00")
    answered = []
    # Round after round, the bot answers whatever mailbot sends the site.
    for n in range(4701, 4706):
        new = [m for m in w.new_mail() if ABUSE not in m.recipients]
        if not new:
            break
        for sent in new:
            answered.append(_ticket_bot(w, sent, n, body, sender, when))
            when += dt.timedelta(minutes=1)
    assert len(answered) == 1
    assert [r["tag"] for r in views.incident_list(w.app, all_=True)] == [tag]
    mail = env.listed_mail(w, answered[0])
    assert (mail["tag"], mail["thread_reason"]) == (tag, echo.TICKET_REASON)
    assert mail["role"] == "auto_reply"


def _answer(w: World, subject: str, body: str, sender: str, when: str) -> str:
    """After SITE-A's report and a member's request, `sender` writes; the
    mail's Message-ID."""
    tag = env.site_report(w)
    request_details(w, tag)
    w.new_mail()
    message_id = f"<answer-{when}@site-a.example.com>"
    # A reply to the request when it keeps the incident's tag.
    request = "<alice-req-1@csirt.example.org>" if "{tag}" in subject else None
    w.deliver(
        raw_mail(
            subject=subject.format(tag=tag), body=body, sender=sender,
            when=at(when), message_id=message_id,
            reply_to=request,
        ),
        at(when),
    )  # fmt: skip
    return message_id


def _analysis(w: World, tag: str) -> list[str]:
    return [d["state"] for d in w.show(tag)["deadlines"] if d["rule"] == "analysis"]


def test_a_ticket_bot_s_echo_of_a_request_meets_no_clock(w: World) -> None:
    tag = env.site_report(w)
    request_details(w, tag)
    [request] = [m for m in w.new_mail() if SITE_A in m.recipients][-1:]
    _ticket_bot(w, request, 4711, PLAIN_TEXT, HELPDESK, at("2026-11-30T10:31:00"))
    assert w.new_mail() == []
    assert _analysis(w, tag) == ["pending"]
    w.app.clock.set(at("2026-11-30T14:31:00"))
    assert sweep(w.app)["reminders"] == 1


def test_a_site_s_reply_that_lost_the_tag_is_the_site_s(w: World) -> None:
    # "Re:" and our subject, the tag cut by a client: the site answers
    # (from another address: the same one's is a follow-up already).
    answer = _answer(
        w, "Re: Security incident suspected at SITE-A",
        "The host was isolated at 10:35 UTC.\n", "pekka@site-a.example.com",
        "2026-11-30T10:40:00",
    )  # fmt: skip
    mail = env.listed_mail(w, answer)
    assert (mail["thread_reason"], mail["role"]) == (echo.REASON, "site")
    assert _analysis(w, mail["tag"]) == ["met"]
    assert w.new_mail() == []


@pytest.mark.parametrize(
    ("subject", "sender", "when"),
    [
        # Another subject: the site's new report.
        ("Ticket 4712 opened: Another odd host", HELPDESK, "2026-11-30T10:00:00"),
        ("Miner found on wn13", SITE_A, "2026-11-30T10:00:00"),
        # Our subject word for word, from another address: a new mail.
        ("Security incident suspected at SITE-A", HELPDESK, "2026-11-30T10:00:00"),
        # Another site's domain.
        (
            "Ticket 4712 opened: Security incident suspected at SITE-A",
            "helpdesk@site-c.example.com",
            "2026-11-30T10:00:00",
        ),
        # Long after mailbot's mail.
        (
            "Ticket 4712 opened: Security incident suspected at SITE-A",
            HELPDESK,
            "2026-11-30T16:30:00",
        ),
    ],
    ids=["subject", "report", "same_subject", "other_site", "late"],
)
def test_what_is_no_echo(w: World, subject: str, sender: str, when: str) -> None:
    tag = env.site_report(w)
    w.new_mail()
    w.deliver(
        raw_mail(
            subject=subject, sender=sender, when=at(when),
            body="We found a miner on wn13.site-a.example.com (192.0.2.46).\n",
            message_id="<new-report@site-a.example.com>",
        ),
        at(when),
    )  # fmt: skip
    mail = env.listed_mail(w, "<new-report@site-a.example.com>")
    assert mail["tag"] != tag and mail["thread_reason"] == "new"
    assert [m for m in w.new_mail() if sender in m.recipients]


# Helpdesk receipts answering a member's request, no automation header
# (brk13 F3), and a person's answer that names a ticket.
RECEIPTS = [
    "Thank you, your message has been received and logged as ticket #4711.\n"
    "A member of our team will look at it.\n",
    "Dear customer,\nwe have opened ticket 4712 for your request.\nRegards\n"
    "Site A Helpdesk\n",
]


@pytest.mark.parametrize("body", RECEIPTS, ids=["logged", "opened"])
def test_a_helpdesk_receipt_of_a_request_meets_no_clock(w: World, body: str) -> None:
    subject = "[Helpdesk #4711] Re: [{tag}] Compromised host - action required"
    answer = _answer(w, subject, body, HELPDESK, "2026-11-30T10:31:00")
    mail = env.listed_mail(w, answer)
    assert mail["role"] == "auto_reply"
    assert _analysis(w, mail["tag"]) == ["pending"]
    assert w.new_mail() == []


def test_a_person_naming_a_ticket_meets_the_request(w: World) -> None:
    subject = "Re: [{tag}] Compromised host - action required"
    body = "Hi Alice,\nwe isolated the host, see our ticket #123.\nPekka\n"
    answer = _answer(w, subject, body, SITE_A, "2026-11-30T10:40:00")
    mail = env.listed_mail(w, answer)
    assert mail["role"] == "site"
    assert _analysis(w, mail["tag"]) == ["met"]


SENT = "[EGI-20261130-01] [TLP:AMBER] Security incident suspected at SITE-A"


@pytest.mark.parametrize(
    ("subject", "reason"),
    [
        ("Ticket 4701 opened: Security incident suspected at SITE-A", "echo_ticket"),
        (
            "[Helpdesk #4711] New request - security incident suspected at site-a",
            "echo_ticket",
        ),
        ("Re: Security incident suspected at SITE-A", "echo"),
        ("AW: [EXT] Security incident suspected at SITE-A", "echo"),
        # The same words alone, another subject, or other words before it.
        ("Security incident suspected at SITE-A", None),
        ("Another odd host at SITE-A", None),
        ("Urgent Security incident suspected at SITE-A", None),
    ],
)
def test_what_echoes_mailbot_s_subject(subject: str, reason: str | None) -> None:
    assert echo.echoed(subject, SENT, "EGI") == reason


def test_a_short_subject_echoes_nothing() -> None:
    assert echo.echoed("Ticket 1 opened: Hi", "[EGI-20261130-01] Hi", "EGI") is None
