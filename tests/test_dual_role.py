"""A CSIRT member who is also a site's security contact.

Carol is in `[csirt] members` and among SITE-A's security contacts: in an
incident SITE-A takes part in she speaks for SITE-A as well (her mail meets
and gives SITE-A's facts, her commands act as a member's, a request she
sends does not ask SITE-A); and mail to SITE-A never cites another site's
mails because she reads the mailbox.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mailbot_env import make_app
from test_csirt_env import (
    ABUSE,
    ALICE,
    MX,
    SITE_A,
    SITE_C,
    SITES,
    World,
    at,
    member_mail,
    raw_mail,
    site_report,
)
from test_merge import merge, merged, second_report

from mailbot import respond
from mailbot.deadlines.sweep import sweep
from mailbot.reextract import mails_to_read, reextract
from mailbot.send import deliver_due

CAROL = "carol@site-a.example.com"
CAROL_DKIM = f"{MX}; dkim=pass header.d=site-a.example.com header.s=s1"
DUAL_SITES = SITES.replace(
    '["admin@site-a.example.com", "admin-old@site-a.example.com"]',
    f'["{CAROL}", "admin@site-a.example.com"]',
)
MEMBERS = f'["{ALICE}", "bob@csirt.example.org", "{CAROL}"]'


@pytest.fixture
def w(
    tmp_path: Path, database_url: str, dovecot: Any, smtp_sink: Any
) -> Iterator[World]:
    """A mailbot where Carol is a member and one of SITE-A's contacts."""
    assert CAROL in DUAL_SITES
    app = make_app(
        tmp_path, database_url, dovecot=dovecot, smtp=smtp_sink,
        now=at("2026-11-30T08:00:00"), sites=DUAL_SITES,
        extra={"MAILBOT_CSIRT_MEMBERS": MEMBERS},
    )  # fmt: skip
    built = World(app, dovecot, smtp_sink)
    yield built
    app.close()


def carol_mail(
    *,
    subject: str,
    body: str,
    when: str,
    message_id: str,
    to: str = ABUSE,
    cc: str | None = None,
    reply_to: str | None = None,
    auth: str = CAROL_DKIM,
) -> bytes:
    headers = [("Authentication-Results", auth)]
    return raw_mail(
        subject=subject, body=body, sender=f"Carol <{CAROL}>", when=at(when),
        message_id=message_id, to=to, cc=cc, headers=headers, reply_to=reply_to,
    )  # fmt: skip


def clocks(w: World, tag: str) -> list[tuple[str, str, str]]:
    return [(d["rule"], d["site"], d["state"]) for d in w.show(tag)["deadlines"]]


def ask_site_a(w: World, tag: str) -> None:
    """Alice asks SITE-A's contacts (Carol among them) for the logs."""
    w.deliver(member_mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Security incident suspected at SITE-A",
        body="Hi,\n\nplease send the logs.\n\nAlice\n", when=at("2026-11-30T10:30:00"),
        to=f"{SITE_A}, {CAROL}", cc=ABUSE, message_id="<ask@csirt.example.org>",
    ), at("2026-11-30T10:30:00"))  # fmt: skip


@pytest.mark.parametrize("copy", [None, SITE_A])
def test_her_answer_meets_her_sites_request(w: World, copy: str | None) -> None:
    tag = site_report(w)
    ask_site_a(w, tag)
    w.new_mail()
    # Carol answers for her site; copying her colleague asks SITE-A nothing.
    w.deliver(carol_mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Security incident suspected at SITE-A",
        body="Hi Alice,\n\nhere are the logs:\nNov 30 07:58:01 wn12 sshd[99]:"
        " Accepted publickey for x from 203.0.113.50 port 4444 ssh2\n\nCarol\n",
        when="2026-11-30T11:00:00", to=ALICE, cc=f"{ABUSE}, {copy}" if copy else ABUSE,
        message_id="<answer@site-a.example.com>", reply_to="<ask@csirt.example.org>",
    ), at("2026-11-30T11:00:00"))  # fmt: skip
    analysis = [c for c in clocks(w, tag) if c[0] == "analysis"]
    assert analysis == [("analysis", "SITE-A", "met")]
    shown = w.show(tag)
    answer = next(m for m in shown["messages"] if m["from"] == CAROL)
    assert (answer["role"], answer["flags"]) == ("csirt", ["for_site"])
    assert "203.0.113.50" in str(shown["fields"])
    # SITE-A is chased for nothing it answered (its report said no
    # isolation: containment alone is owed).
    for when in ("2026-12-01T12:00:00", "2026-12-02T12:00:00", "2026-12-03T12:00:00"):
        w.app.clock.set(at(when))
        sweep(w.app)
        deliver_due(w.app)
    chased = {d["rule"] for d in w.show(tag)["deadlines"] if d["chases"]}
    assert chased == {"containment"}


def test_her_report_of_her_sites_incident_starts_and_meets_its_clocks(
    w: World,
) -> None:
    w.deliver(carol_mail(
        subject="Security incident suspected at SITE-A [EGI-20261130] TLP: AMBER",
        body="Dear EGI CSIRT,\n\nwe discovered a compromise of wn12.site-a.example.com"
        " on 2026-11-30 08:10 UTC.\n\nCarol\n",
        when="2026-11-30T09:00:00", message_id="<carol-report@site-a.example.com>",
    ), at("2026-11-30T09:00:00"))  # fmt: skip
    [ack] = w.new_mail()
    assert ack.recipients == (CAROL,)
    tag = str(ack.message["Subject"]).split("]")[0].lstrip("[")
    shown = w.show(tag)
    assert shown["site"] == "SITE-A"
    assert shown["discovered_at"] == "2026-11-30T08:10:00Z"
    assert ("report", "SITE-A", "met") in clocks(w, tag)
    assert ("containment", "SITE-A", "pending") in clocks(w, tag)
    w.deliver(carol_mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Security incident suspected at SITE-A",
        body="Update: the host was isolated at 10:00 UTC, no downtime needed.\n",
        when="2026-11-30T10:30:00", message_id="<carol-update@site-a.example.com>",
        reply_to="<carol-report@site-a.example.com>",
    ), at("2026-11-30T10:30:00"))  # fmt: skip
    shown = w.show(tag)
    assert shown["isolated_at"] == "2026-11-30T10:00:00Z"
    assert ("containment", "SITE-A", "met") in clocks(w, tag)
    assert ("downtime", "SITE-A", "met") in clocks(w, tag)


def test_her_commands_still_act_as_a_members(w: World) -> None:
    tag = site_report(w)
    w.new_mail()
    w.deliver(carol_mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Security incident suspected at SITE-A",
        body="#isolated 2026-11-30T10:00:00Z\n\nThe host is cut off.\n",
        when="2026-11-30T10:30:00", to=ABUSE, cc=SITE_A,
        message_id="<carol-cmd@site-a.example.com>",
    ), at("2026-11-30T10:30:00"))  # fmt: skip
    sent = w.new_mail()
    assert [m.recipients for m in sent] == [(CAROL,)]
    assert "Done: #isolated" in str(sent[0].message)
    shown = w.show(tag)
    assert shown["isolated_at"] == "2026-11-30T10:00:00Z"
    assert shown["audit"][-1]["action"] == "isolated"
    # Her mail copied to her own site is no request to it.
    assert [c for c in clocks(w, tag) if c[0] == "analysis"] == []


def test_in_another_sites_incident_she_is_a_member_only(w: World) -> None:
    w.deliver(raw_mail(
        subject="Suspicious SSH logins at SITE-C", sender=SITE_C,
        when=at("2026-11-30T09:00:00"), message_id="<report-c@site-c.example.com>",
        body="Logins from 203.0.113.77 to ui01.site-c.example.com.\n",
    ), at("2026-11-30T09:00:00"))  # fmt: skip
    [ack] = w.new_mail()
    tag = str(ack.message["Subject"]).split("]")[0].lstrip("[")
    w.deliver(carol_mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Suspicious SSH logins at SITE-C",
        body="Hi,\n\nwas the host isolated at 10:00 UTC?\n\nCarol\n",
        when="2026-11-30T11:00:00", to=SITE_C, cc=ABUSE,
        message_id="<carol-ask@site-a.example.com>",
    ), at("2026-11-30T11:00:00"))  # fmt: skip
    shown = w.show(tag)
    assert shown["sites"] == ["SITE-C"]
    assert shown["isolated_at"] is None
    assert ("analysis", "SITE-C", "pending") in clocks(w, tag)
    assert {c[1] for c in clocks(w, tag)} == {"SITE-C"}


def test_reminders_to_her_site_of_a_merged_incident_cite_none_of_the_others(
    w: World,
) -> None:
    first = site_report(w)
    [ack_a] = w.new_mail()
    second = second_report(w)
    [ack_c] = w.new_mail()
    merge(w, second, first)
    w.new_mail()
    # SITE-C answers the mailbox alone: Carol reads it as a member.
    w.deliver(raw_mail(
        subject=f"Re: [{second}] [TLP:AMBER] Suspicious SSH logins at SITE-C",
        sender=SITE_C, when=at("2026-11-30T12:00:00"),
        message_id="<more-c@site-c.example.com>", body="More logs follow.\n",
    ), at("2026-11-30T12:00:00"))  # fmt: skip
    w.new_mail()

    w.app.clock.set(at("2026-12-01T12:00:00"))
    assert sweep(w.app)["reminders"] == 2
    deliver_due(w.app)
    reminders = {m.recipients: m.message for m in w.new_mail()}
    to_a = reminders[(CAROL, SITE_A)]
    own_a = ["<report-a@site-a.example.com>", ack_a.message["Message-ID"]]
    assert to_a["In-Reply-To"] == own_a[-1]
    assert to_a["References"].split() == own_a
    assert "SITE-C" not in to_a["Subject"]
    to_c = reminders[(SITE_C,)]
    assert "site-a.example.com" not in to_c["References"]
    assert ack_a.message["Message-ID"] not in to_c["References"]


@pytest.mark.parametrize(
    ("recipients", "cited"),
    [
        # The CSIRT's people alone read the mailbox: every mail is theirs.
        ((ALICE,), True),
        (("duty@csirt.example.org",), True),
        # Carol reads it too, but mail to her goes to a site's contact.
        ((CAROL,), False),
        ((CAROL, SITE_A), False),
        # A member in copy of mail to a site lends the site nothing.
        ((ALICE, SITE_A), False),
        ((SITE_A, "ngi-sec@ngi-a.example.org"), False),
    ],
)
def test_mail_to_the_mailbox_is_cited_only_to_the_csirt_alone(
    tmp_path: Path, database_url: str, recipients: tuple[str, ...], cited: bool
) -> None:
    app = make_app(
        tmp_path, database_url, sites=DUAL_SITES,
        extra={"MAILBOT_CSIRT_MEMBERS": MEMBERS},
    )  # fmt: skip
    other_sites = respond.ThreadMail("<c@site-c.example.com>", SITE_C, (ABUSE,))
    own = respond.ThreadMail("<a@site-a.example.com>", SITE_A, (ABUSE,))
    found = respond.known_to(app, [other_sites, own], recipients)
    assert ("<c@site-c.example.com>" in found) is cited
    assert ("<a@site-a.example.com>" in found) is (cited or SITE_A in recipients)
    app.close()


def test_her_answer_while_closed_is_her_sites_on_reopening(w: World) -> None:
    tag = site_report(w)
    ask_site_a(w, tag)
    w.deliver(member_mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Security incident suspected at SITE-A",
        body="#close\n", when=at("2026-11-30T11:00:00"),
        message_id="<close@csirt.example.org>",
    ), at("2026-11-30T11:00:00"))  # fmt: skip
    w.deliver(carol_mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Security incident suspected at SITE-A",
        body="Hi Alice,\n\nthe logs show nothing more.\n\nCarol\n",
        when="2026-11-30T12:00:00", to=ALICE, cc=ABUSE,
        message_id="<closed-answer@site-a.example.com>",
        reply_to="<ask@csirt.example.org>",
    ), at("2026-11-30T12:00:00"))  # fmt: skip
    w.deliver(member_mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Security incident suspected at SITE-A",
        body="#reopen\n#no-request\n", when=at("2026-11-30T13:00:00"),
        message_id="<reopen@csirt.example.org>",
    ), at("2026-11-30T13:00:00"))  # fmt: skip
    # SITE-A answered while the incident was closed: not asked again.
    analysis = [c for c in clocks(w, tag) if c[0] == "analysis"]
    assert ("analysis", "SITE-A", "pending") not in analysis


@pytest.mark.parametrize("c_involved", [True, False])
def test_her_question_to_another_site_is_no_answer_for_her_own(
    w: World, c_involved: bool
) -> None:
    # SITE-C takes part (merged in), or is brought in by her question.
    first = merged(w)[0] if c_involved else site_report(w)
    ask_site_a(w, first)
    w.new_mail()
    assert ("analysis", "SITE-A", "pending") in clocks(w, first)
    # Carol, as a member, asks SITE-C alone: SITE-A has still not answered.
    w.deliver(carol_mail(
        subject=f"Re: [{first}] [TLP:AMBER] Security incident suspected at SITE-A",
        body="Hi SITE-C,\n\ncould you tell us which kernel ui01 runs?\n\nCarol\n",
        when="2026-11-30T12:00:00", to=SITE_C, cc=ABUSE,
        message_id="<carol-asks-c@site-a.example.com>",
        reply_to="<ask@csirt.example.org>",
    ), at("2026-11-30T12:00:00"))  # fmt: skip
    analysis = sorted(c for c in clocks(w, first) if c[0] == "analysis")
    assert analysis == [
        ("analysis", "SITE-A", "pending"),
        ("analysis", "SITE-C", "pending"),
    ]
    mine = next(m for m in w.show(first)["messages"] if m["from"] == CAROL)
    assert (mine["role"], mine["flags"]) == ("csirt", [])
    # SITE-A is chased for the request it never answered.
    w.app.clock.set(at("2026-12-01T12:00:00"))
    sweep(w.app)
    chased = {(d["rule"], d["site"]) for d in w.show(first)["deadlines"] if d["chases"]}
    assert ("analysis", "SITE-A") in chased


UNSIGNED = (
    f"{MX}; dkim=fail header.d=site-a.example.com header.s=s1;"
    " spf=fail smtp.mailfrom=site-a.example.com"
)
DMARC_FAIL = f"{UNSIGNED}; dmarc=fail header.from=site-a.example.com"


@pytest.mark.parametrize("auth", [UNSIGNED, DMARC_FAIL])
def test_her_unauthenticated_answer_counts_as_a_contacts(w: World, auth: str) -> None:
    tag = site_report(w)
    ask_site_a(w, tag)
    w.new_mail()
    w.deliver(carol_mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Security incident suspected at SITE-A",
        body="#close\n\nHi Alice,\n\nhere are the logs:\nNov 30 07:58:01 wn12"
        " sshd[99]: Accepted publickey for x from 203.0.113.50 port 4444 ssh2\n",
        when="2026-11-30T11:00:00", to=ALICE, cc=ABUSE, auth=auth,
        message_id="<answer@site-a.example.com>", reply_to="<ask@csirt.example.org>",
    ), at("2026-11-30T11:00:00"))  # fmt: skip
    shown = w.show(tag)
    # Not trusted as a member's: no command applied, the duty team told.
    assert shown["status"] == "open"
    told = w.new_mail()
    assert [m.recipients for m in told] == [("duty@csirt.example.org",)]
    assert "Possible forgery" in str(told[0].message)
    answer = next(m for m in shown["messages"] if m["from"] == CAROL)
    assert "possible_forgery" in answer["flags"]
    analysis = [c for c in clocks(w, tag) if c[0] == "analysis"]
    if auth == UNSIGNED:
        # An unsigned mail of a site's contact is the site's: so is hers.
        assert answer["role"] == "site"
        assert analysis == [("analysis", "SITE-A", "met")]
        assert "203.0.113.50" in str(shown["fields"])
        # `reextract` reads it again (its commands still unread).
        assert answer["id"] in [m for m, _ in mails_to_read(w.app, tag)]
        reextract(w.app, tag)
        assert "203.0.113.50" in str(w.show(tag)["fields"])
        assert w.show(tag)["status"] == "open"
    else:
        # DMARC disowns it: a third party's, as a contact's would be.
        assert answer["role"] == "reporter"
        assert analysis == [("analysis", "SITE-A", "pending")]
