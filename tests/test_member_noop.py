"""A member's mail that would change nothing, and one with two tags.

"#close" of a closed incident was confirmed "Done: #close ... status
closed; 0 pending clock(s) cancelled", as if the incident had been open
until then, while "#reopen" of an open one was refused. A member's mail
carrying two tags went, as documented, to the first, but the duty team
was told that "a mail's subject tag was not followed".
"""

from __future__ import annotations

from typing import Any

import pytest
import test_csirt_env as env
from test_csirt_env import World, at

# The `w` fixture: a mailbot on a private Dovecot and SMTP sink.
pytest_plugins = ("test_csirt_env",)

DUTY = "duty@csirt.example.org"


def _member(w: World, subject: str, body: str, when: str, n: int) -> list[Any]:
    w.new_mail()
    w.deliver(env.member_mail(
        subject=subject, body=body, when=at(when),
        message_id=f"<noop-{n}@csirt.example.org>",
    ), at(when))  # fmt: skip
    # The site's acknowledgement leaves with the first poll after its report.
    return [m for m in w.new_mail() if m.recipients != (env.SITE_A,)]


def _subject(tag: str) -> str:
    return f"Re: [{tag}] [TLP:AMBER] Security incident"


@pytest.mark.parametrize(
    ("command", "status", "said"),
    [
        ("#close", "closed", "already closed"),
        ("#false-positive", "false_positive", "already a false positive"),
    ],
)
def test_ending_an_ended_incident_again_changes_nothing_and_says_so(
    w: World, command: str, status: str, said: str
) -> None:
    tag = env.site_report(w)
    [done] = _member(w, _subject(tag), command, "2026-11-30T10:00:00", 1)
    assert done.headline.startswith("Done")
    before = w.show(tag)
    [reply] = _member(w, _subject(tag), command, "2026-11-30T11:00:00", 2)
    assert not reply.headline.startswith("Done")
    assert said in env.body_of(reply) and "nothing changed" in env.body_of(reply)
    assert reply.recipients == (env.ALICE,)
    after = w.show(tag)
    assert (after["status"], after["deadlines"]) == (status, before["deadlines"])
    ended = [a for a in after["audit"] if a["action"] == command[1:]]
    assert len(ended) == 1


def test_a_command_beside_the_refused_one_still_applies(w: World) -> None:
    tag = env.site_report(w)
    _member(w, _subject(tag), "#close", "2026-11-30T10:00:00", 1)
    sent = _member(
        w, _subject(tag), "#isolated 2026-11-30T09:30:00Z\n#close",
        "2026-11-30T11:00:00", 2,
    )  # fmt: skip
    [done] = [m for m in sent if m.headline.startswith("Done")]
    assert "#isolated" in env.body_of(done) and "#close" not in env.body_of(done)
    [refused] = [m for m in sent if m is not done]
    assert "#close" in env.body_of(refused)
    assert "already closed" in env.body_of(refused)


def test_the_same_tlp_set_again_changes_nothing_and_says_so(w: World) -> None:
    tag = env.site_report(w)
    _member(w, _subject(tag), "#tlp RED", "2026-11-30T10:00:00", 1)
    [reply] = _member(w, _subject(tag), "#tlp red", "2026-11-30T11:00:00", 2)
    assert not reply.headline.startswith("Done")
    assert "already TLP:RED" in env.body_of(reply)
    tlps = [a for a in w.show(tag)["audit"] if a["action"] == "tlp"]
    assert len(tlps) == 1


def test_a_members_second_tag_is_no_tag_passed_over(w: World) -> None:
    first = env.site_report(w)
    w.deliver(
        env.raw_mail(
            subject="Security incident at SITE-C", sender=env.SITE_C,
            body="Miner on 198.51.100.5, discovered 2026-11-30 08:30 UTC.\n",
            when=at("2026-11-30T10:05:00"), message_id="<report-c@site-c.example.com>",
        ),
        at("2026-11-30T10:05:00"),
    )  # fmt: skip
    second = env.listed_mail(w, "<report-c@site-c.example.com>")["tag"]
    assert second != first
    sent = _member(
        w, f"Re: [{second}] [{first}] two incidents", "#no-request\nNoted.",
        "2026-11-30T11:00:00", 3,
    )  # fmt: skip
    mail = env.listed_mail(w, "<noop-3@csirt.example.org>")
    assert mail["tag"] == second
    assert "tag_not_followed" not in mail["flags"]
    assert DUTY not in {r for m in sent for r in m.recipients}
    assert "tag_not_followed" not in {a["action"] for a in w.show(second)["audit"]}


SUBADDRESS = "alice+csirt@csirt.example.org"


def test_commands_from_a_members_sub_address_apply_nothing_and_tell_the_duty_team(
    w: World,
) -> None:
    # Stored as a third party's mail, its "#isolated" dropped without a word:
    # a member who wrote from her sub-address believed it done.
    tag = env.site_report(w)
    w.new_mail()
    sent = []
    for n, when in enumerate(("2026-11-30T10:00:00", "2026-11-30T10:30:00")):
        w.deliver(env.member_mail(
            subject=_subject(tag), body="#isolated 2026-11-30T09:30:00Z\n",
            when=at(when), message_id=f"<sub-{n}@csirt.example.org>",
            sender=SUBADDRESS,
        ), at(when))  # fmt: skip
        sent += [m for m in w.new_mail() if m.recipients != (env.SITE_A,)]
    # The duty team is told once, the sender never.
    [notice] = sent
    assert notice.recipients == (DUTY,)
    assert SUBADDRESS in env.body_of(notice) and env.ALICE in env.body_of(notice)
    assert "#isolated 2026-11-30T09:30:00Z" in env.body_of(notice)
    shown = w.show(tag)
    assert shown["isolated_at"] is None
    mail = env.listed_mail(w, "<sub-0@csirt.example.org>")
    assert (mail["role"], "member_subaddress" in mail["flags"]) == ("reporter", True)
    trail = [a for a in shown["audit"] if a["action"] == "member_subaddress"]
    assert len(trail) == 2 and "duty address told" in trail[0]["detail"]


def test_a_sub_address_without_commands_tells_nobody(w: World) -> None:
    tag = env.site_report(w)
    w.new_mail()
    w.deliver(env.member_mail(
        subject=_subject(tag), body="Thanks, noted.\n", when=at("2026-11-30T10:00:00"),
        message_id="<sub-9@csirt.example.org>", sender=SUBADDRESS,
    ), at("2026-11-30T10:00:00"))  # fmt: skip
    assert DUTY not in {r for m in w.new_mail() for r in m.recipients}
    mail = env.listed_mail(w, "<sub-9@csirt.example.org>")
    assert "member_subaddress" not in mail["flags"]
