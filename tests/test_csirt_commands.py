"""Each command of a CSIRT member, by mail through Dovecot and out through SMTP."""

from __future__ import annotations

import datetime as dt
import email
import email.message
import email.policy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mailbot_env import make_app
from sqlalchemy import select
from test_csirt_env import (
    ALICE,
    SITE_A,
    World,
    at,
    body_of,
    member_mail,
    site_report,
)
from test_csirt_env import SITES as CSIRT_SITES

from mailbot.csirt.commands import SPEC, read_commands
from mailbot.csirt.replies import confirm_purpose
from mailbot.db.models import FieldValue, Mail, Outbox
from mailbot.incidents import by_tag

_COUNTER = iter(range(1, 1000))
# Every mail in the thread is subjected with the thread's subject
# (INTERFACE.md); what it is heads its body (ReceivedMail.headline).
THREAD_SUBJECT = re.compile(r"\[EGI-\d{8}-\d{2}\] \[TLP:[A-Z]+\] \S.*")
BASE = "Security incident suspected at SITE-A"

# The `w` fixture: a mailbot on a private Dovecot and SMTP sink.
pytest_plugins = ("test_csirt_env",)


def _command(
    w: World, tag: str, body: str, when: str, *, to: str = "abuse@csirt.example.org"
) -> list:  # type: ignore[type-arg]
    """Alice replies in the thread; returns the mails mailbot sent for it."""
    w.new_mail()
    n = next(_COUNTER)
    w.deliver(
        member_mail(subject=f"Re: [{tag}] [TLP:AMBER] Security incident", body=body,
                    when=at(when), message_id=f"<cmd-{n}@csirt.example.org>", to=to),
        at(when),
    )  # fmt: skip
    return w.new_mail()


def _confirmed(sent: list, commands: int = 1) -> str:  # type: ignore[type-arg]
    """One mail, to the member alone: the confirmation of the mail's
    `commands` applied commands. Returns its body."""
    assert len(sent) == 1, [(m.recipients, m.message["Subject"]) for m in sent]
    [message] = sent
    assert message.recipients == (ALICE,)
    assert THREAD_SUBJECT.fullmatch(message.message["Subject"])
    assert message.headline.startswith("Done: #" if commands < 4 else "Done: ")
    body = body_of(message)
    assert body.splitlines()[0].startswith("TLP:")
    listed = [line for line in body.splitlines() if line.startswith("    #")]
    assert len(listed) == commands, listed
    return body


def _text(message) -> str:  # type: ignore[no-untyped-def]
    return body_of(message).replace("\r\n", "\n")


def _trail(w: World, tag: str) -> list[tuple[str, str, str]]:
    return [(a["actor"], a["action"], a["message_id"]) for a in w.show(tag)["audit"]]


def test_status_and_time_commands(w: World, tmp_path: Path) -> None:
    tag = site_report(w)
    sent = _command(
        w,
        tag,
        "#discovered 2026-11-30T07:30:00Z\n"
        "#isolated 2026-11-30T10:15:00+01:00\n\nThanks.",
        "2026-11-30T10:30:00",
    )
    _confirmed(sent, 2)
    shown = w.show(tag)
    assert shown["discovered_at"] == "2026-11-30T07:30:00Z"
    assert shown["isolated_at"] == "2026-11-30T09:15:00Z"
    report = [d for d in shown["deadlines"] if d["rule"] == "report"]
    assert report and report[0]["started_at"] == "2026-11-30T07:30:00Z"
    assert report[0]["due_at"] == "2026-11-30T11:30:00Z"
    containment = [d for d in shown["deadlines"] if d["rule"] == "containment"]
    assert containment[0]["state"] == "met"
    assert containment[0]["met_at"] == "2026-11-30T09:15:00Z"
    downtime = [d for d in shown["deadlines"] if d["rule"] == "downtime"]
    assert downtime[0]["started_at"] == "2026-11-30T09:15:00Z"

    # #resolved without a time: the mail's own time, closure-report clocks start.
    _confirmed(_command(w, tag, "#resolved", "2026-12-01T10:00:00"))
    shown = w.show(tag)
    assert shown["resolved_at"] == "2026-12-01T10:00:00Z"
    assert shown["status"] == "resolved"
    closure = [d for d in shown["deadlines"] if d["rule"] == "closure_report"]
    assert [(d["site"], d["due_at"]) for d in closure] == [
        ("SITE-A", "2027-01-01T10:00:00Z")
    ]

    # #reopen, then #close: every pending clock cancelled.
    _confirmed(_command(w, tag, "#reopen", "2026-12-01T11:00:00"))
    assert w.show(tag)["status"] == "open"
    body = _confirmed(_command(w, tag, "#close", "2026-12-01T12:00:00"))
    shown = w.show(tag)
    assert shown["status"] == "closed"
    assert not [d for d in shown["deadlines"] if d["state"] == "pending"]
    assert "pending clock(s) cancelled" in body
    actions = [a for _, a, _ in _trail(w, tag)]
    assert actions == ["discovered", "isolated", "resolved", "reopen", "close"]
    assert all(actor == ALICE and mid for actor, _, mid in _trail(w, tag))


def test_an_older_confirmation_template_still_renders(
    tmp_path: Path,
    database_url: str,
    dovecot,
    smtp_sink,  # type: ignore[no-untyped-def]
) -> None:
    """An operator's confirm.txt.j2 written for one command a mail (it reads
    `command` and `outcome`) still renders, naming the first command."""
    own = tmp_path / "own-templates"
    own.mkdir()
    (own / "confirm.txt.j2").write_text(
        "Subject: OK {{ command }}\n\n{{ command }}: {{ outcome }}\n",
        encoding="utf-8",
    )
    app = make_app(
        tmp_path, database_url, dovecot=dovecot, smtp=smtp_sink,
        now=at("2026-11-30T08:00:00"), sites=CSIRT_SITES,
        extra={"MAILBOT_TEMPLATES_DIRECTORY": str(own)},
    )  # fmt: skip
    w = World(app, dovecot, smtp_sink)
    try:
        tag = site_report(w)
        w.new_mail()
        w.deliver(
            member_mail(
                subject=f"Re: [{tag}] Security incident", body="#close\n#tlp GREEN\n",
                when=at("2026-11-30T10:30:00"), message_id="<old@csirt.example.org>",
            ),
            at("2026-11-30T10:30:00"),
        )  # fmt: skip
        [sent] = w.new_mail()
        assert sent.headline == "OK #close"
        assert "\n#close: status closed" in _text(sent)
    finally:
        app.close()


def test_a_mail_of_several_commands_gets_one_confirmation(
    w: World, tmp_path: Path
) -> None:
    """A member expects one answer to one mail: three applied commands were
    confirmed by three mails. One now lists each with its outcome, in the
    order written; the trail keeps one entry per command; the same mail
    delivered again, or recorded by a backfill, sends nothing."""
    tag = site_report(w)
    body = (
        "#isolated 2026-11-30T10:00:00Z\n#discovered 2026-11-30T07:30:00Z\n"
        "#close\n\nThanks.\n"
    )
    when = at("2026-11-30T10:30:00")
    raw = member_mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Security incident", body=body, when=when,
        message_id="<three@csirt.example.org>",
    )  # fmt: skip
    w.new_mail()
    w.deliver(raw, when)
    sent = w.new_mail()
    assert [(m.recipients, m.headline) for m in sent] == [
        ((ALICE,), "Done: #isolated, #discovered, #close")
    ]
    text = _text(sent[0])
    said = [line.strip() for line in text.split("in the order you wrote them:")[1]
            .split("Each is recorded")[0].splitlines() if line.strip()]  # fmt: skip
    assert said[0::2] == [
        "#isolated 2026-11-30T10:00:00Z", "#discovered 2026-11-30T07:30:00Z", "#close"
    ]  # fmt: skip
    assert said[1].startswith("isolated at 2026-11-30T10:00:00Z")
    assert said[3].startswith("discovered at 2026-11-30T07:30:00Z")
    assert said[5].startswith("status closed;")
    assert "<three@csirt.example.org>" in text
    shown = w.show(tag)
    assert shown["status"] == "closed"
    assert shown["isolated_at"] == "2026-11-30T10:00:00Z"
    assert shown["discovered_at"] == "2026-11-30T07:30:00Z"
    assert _trail(w, tag) == [
        (ALICE, action, "<three@csirt.example.org>")
        for action in ("isolated", "discovered", "close")
    ]
    with w.app.db.transaction() as session:
        purposes = session.scalars(select(Outbox.purpose).order_by(Outbox.id)).all()
    assert purposes[-1] == "confirm-isolated+discovered+close"
    assert purposes.count("confirm-isolated+discovered+close") == 1

    # The same mail again (a second copy in the mailbox): nothing more.
    w.deliver(raw, when + dt.timedelta(minutes=5))
    assert w.new_mail() == []
    assert len(w.show(tag)["audit"]) == 3

    # Recorded by a backfill, the commands apply and nobody hears of them.
    w.app.backfill = True
    w.deliver(
        member_mail(
            subject=f"Re: [{tag}] [TLP:AMBER] Security incident",
            body="#reopen\n#tlp GREEN\n#no-request\n", when=at("2026-11-30T11:00:00"),
            message_id="<backfilled@csirt.example.org>",
        ),
        at("2026-11-30T11:00:00"),
    )  # fmt: skip
    shown = w.show(tag)
    assert (shown["status"], shown["tlp"]) == ("open", "GREEN")
    assert [a["action"] for a in shown["audit"]][3:] == ["reopen", "tlp", "no-request"]
    with w.app.db.transaction() as session:
        assert session.scalars(select(Outbox.purpose)).all() == purposes
    assert w.new_mail() == []


def test_the_confirmation_purpose_fits_the_outbox_column() -> None:
    assert confirm_purpose(["close"]) == "confirm-close"
    assert confirm_purpose(["notify-vo", "notify-vo"]) == "confirm-notify-vo"
    long = ["tlp", "notify-vo", "notify-ca", "false-positive"]
    assert confirm_purpose(long) == "confirm-4-commands"
    assert max(len(confirm_purpose([n] * 3)) for n in SPEC) <= 40


def test_tlp_site_extend_and_no_request(w: World, tmp_path: Path) -> None:
    tag = site_report(w)
    _confirmed(_command(w, tag, "#tlp GREEN", "2026-11-30T10:00:00"))
    assert w.show(tag)["tlp"] == "GREEN"

    # #site moves the incident to SITE-C: its contacts, zone and clocks.
    _confirmed(_command(w, tag, "#site SITE-C", "2026-11-30T10:05:00"))
    shown = w.show(tag)
    assert shown["site"] == "SITE-C" and shown["sites"] == ["SITE-C"]
    assert {d["site"] for d in shown["deadlines"] if d["state"] == "pending"} == {
        "SITE-C"
    }

    # A request to the site starts an analysis clock; #extend moves it.
    sent = _command(
        w,
        tag,
        "Please send the logs.",
        "2026-11-30T10:30:00",
        to="soc@site-c.example.com",
    )
    assert sent == []
    analysis = [d for d in w.show(tag)["deadlines"] if d["rule"] == "analysis"]
    assert len(analysis) == 1 and analysis[0]["site"] == "SITE-C"
    _confirmed(
        _command(w, tag, "#extend analysis 2026-12-02T12:00:00Z", "2026-11-30T11:00:00")
    )
    analysis = [d for d in w.show(tag)["deadlines"] if d["rule"] == "analysis"]
    assert analysis[0]["due_at"] == "2026-12-02T12:00:00Z"

    # #no-request: a mail to the site that starts no clock, whatever else it says.
    _confirmed(
        _command(
            w,
            tag,
            "#no-request\n\nFYI only.",
            "2026-11-30T11:30:00",
            to="soc@site-c.example.com",
        )
    )
    assert len([d for d in w.show(tag)["deadlines"] if d["rule"] == "analysis"]) == 1
    # Without #no-request but with another command, it is still a request.
    _confirmed(
        _command(
            w,
            tag,
            "#tlp AMBER\nPlease answer.",
            "2026-11-30T12:00:00",
            to="soc@site-c.example.com",
        )
    )
    assert len([d for d in w.show(tag)["deadlines"] if d["rule"] == "analysis"]) == 2
    assert w.show(tag)["tlp"] == "AMBER"


def test_notify_vo_and_ca(w: World, tmp_path: Path) -> None:
    tag = site_report(w)
    dn = "/DC=org/DC=example/CN=Jane Doe 1234"
    with w.app.db.transaction() as session:
        # The DN as extraction records it (extraction is tested on its own).
        incident = by_tag(session, tag)
        mail = session.scalars(select(Mail).where(Mail.direction == "in")).first()
        assert incident is not None and mail is not None
        session.add(
            FieldValue(
                incident_id=incident.id,
                mail_id=mail.id,
                field="x509_dns",
                value=dn,
                kind="dn",
            )
        )
    sent = _command(
        w,
        tag,
        "#notify-vo vo.example.org\n#notify-ca Example Grid CA",
        "2026-11-30T10:00:00",
    )
    notices = [m for m in sent if m.recipients != (ALICE,)]
    assert sorted(m.recipients for m in notices) == [
        ("ca@ca.example.org",),
        ("vo-security@vo.example.org",),
    ]
    for message in notices:
        assert dn in body_of(message)
        assert message.message["Subject"].startswith(
            f"[{tag}] [TLP:AMBER] Compromised credentials"
        )
        assert body_of(message).splitlines()[0] == "TLP:AMBER"
    _confirmed([m for m in sent if m.recipients == (ALICE,)], 2)


def test_bad_commands_get_one_reply_listing_the_valid_ones(
    w: World, tmp_path: Path
) -> None:
    tag = site_report(w)
    before = w.show(tag)
    sent = _command(
        w,
        tag,
        "#frobnicate now\n#discovered yesterday\n#site NOWHERE\n"
        "#merge EGI-20991231-01\n#notify-vo nobody.example\n"
        "#isolated 2099-01-01T00:00:00Z\n#resolved 1800-01-01T00:00:00Z\n",
        "2026-11-30T10:00:00",
    )
    assert len(sent) == 1 and sent[0].recipients == (ALICE,)
    text = body_of(sent[0])
    for expected in (
        "#frobnicate is not a command",
        "ISO 8601",
        "'NOWHERE' is no site",
        "no incident is named EGI-20991231-01",
        "'nobody.example' is no VO",
        "2099-01-01T00:00:00Z is after this mail",
        "1800-01-01T00:00:00Z is more than a year before the incident opened",
        "#notify-ca CA",
        "#extend RULE TIME",
    ):
        assert expected in text, expected
    after = w.show(tag)
    assert after["audit"] == [] and after["site"] == before["site"]
    assert after["deadlines"] == before["deadlines"]


def test_quoted_commands_do_nothing_and_later_lines_are_refused(
    w: World, tmp_path: Path
) -> None:
    tag = site_report(w)
    body = (
        "Thanks, looking into it.\n#close\n\nWe should not #close yet.\n\n"
        "On Mon, 30 Nov 2026 at 10:00, Bob <bob@csirt.example.org> wrote:\n"
        "> #false-positive\n"
    )
    sent = _command(w, tag, body, "2026-11-30T10:00:00")
    assert len(sent) == 1 and sent[0].recipients == (ALICE,)
    text = _text(sent[0])
    assert "#close\n        commands must come before other text" in text
    assert "#false-positive" not in text.split("The valid commands are:")[0]
    assert "not #close yet" not in text
    assert w.show(tag)["status"] == "open" and w.show(tag)["audit"] == []


def test_a_command_below_the_sign_off_is_refused_not_dropped(
    w: World, tmp_path: Path
) -> None:
    tag = site_report(w)
    for when, body in (
        ("10:00", "Please send us the logs of wn12.\n\nThanks,\nAlice\n\n#close\n"),
        ("10:05", "We keep it open for now.\n-- \nAlice, EGI CSIRT\n#tlp RED\n"),
    ):
        sent = _command(w, tag, body, f"2026-11-30T{when}:00")
        assert [m.headline for m in sent] == [
            "Not applied: 1 command line(s) of your mail"
        ]
        assert [m.message["Subject"] for m in sent] == [f"[{tag}] [TLP:AMBER] {BASE}"]
        command = body.rstrip().rsplit("\n", 1)[1]
        assert f"{command}\n        commands must come before" in _text(sent[0])
    # A hashtag in a signature names no command: nothing to say.
    signed = "Logs received, thanks.\n\nCheers,\nAlice\n#EGI-CSIRT #duty-week\n"
    assert _command(w, tag, signed, "2026-11-30T10:10:00") == []
    shown = w.show(tag)
    assert shown["status"] == "open" and shown["tlp"] == "AMBER"
    assert shown["audit"] == []


def test_commands_after_a_greeting_are_applied(w: World, tmp_path: Path) -> None:
    tag = site_report(w)
    for when, body in (
        ("10:00", "Hi all,\n\n#tlp GREEN\n\nAs agreed on the phone.\nAlice"),
        ("10:05", "Hallo zusammen,\n#discovered 2026-11-30T07:30:00Z\n"),
        ("10:10", "Bonjour à tous,\n\n\n#isolated 2026-11-30T10:00:00Z\n\nMerci."),
        ("10:15", "Dear colleagues,\n\n#tlp AMBER\n\n#no-request\nThanks"),
        ("10:20", "Hi all,\n\n#false-positive\n\nThis was our own scanner.\nAlice"),
    ):
        sent = _command(w, tag, body, f"2026-11-30T{when}:00")
        _confirmed(sent, body.count("\n#"))
    shown = w.show(tag)
    assert shown["tlp"] == "AMBER" and shown["status"] == "false_positive"
    assert shown["discovered_at"] == "2026-11-30T07:30:00Z"
    assert shown["isolated_at"] == "2026-11-30T10:00:00Z"
    assert [a for _, a, _ in _trail(w, tag)] == [
        "tlp", "discovered", "isolated", "tlp", "no-request", "false-positive"
    ]  # fmt: skip


def test_late_no_request_and_forwarded_commands(w: World, tmp_path: Path) -> None:
    tag = site_report(w)
    # A late #no-request is refused, so the mail to the site is a request.
    body = "Dear SITE-A team,\nplease send the logs of wn12.\n\n#no-request\n"
    sent = _command(w, tag, body, "2026-11-30T10:00:00", to=SITE_A)
    assert [m.headline for m in sent] == ["Not applied: 1 command line(s) of your mail"]
    assert [m.message["Subject"] for m in sent] == [f"[{tag}] [TLP:AMBER] {BASE}"]
    assert "#no-request\n        commands must come" in _text(sent[0])
    analysis = [d for d in w.show(tag)["deadlines"] if d["rule"] == "analysis"]
    assert len(analysis) == 1
    # Forwarded material is no member's command, neither applied nor refused.
    forward = (
        "#tlp GREEN\n\n---------- Forwarded message ---------\n"
        "From: Bob <bob@csirt.example.org>\nDate: Mon, 30 Nov 2026 09:00\n"
        "Subject: old\n\n#close\n"
    )
    _confirmed(_command(w, tag, forward, "2026-11-30T10:10:00"))
    assert w.show(tag)["status"] == "open" and w.show(tag)["tlp"] == "GREEN"


def test_command_lines_are_no_evidence(w: World, tmp_path: Path) -> None:
    tag = site_report(w)
    body = (
        "Hi all,\n\n#isolated 2026-11-30T10:00:00Z\n\n"
        "The site confirmed it.\n#site SITE-C\n"
    )
    sent = _command(w, tag, body, "2026-11-30T10:30:00")
    assert len(sent) == 2 and sent[0].headline.startswith("Done: #isolated")
    assert "#site SITE-C\n        commands must come" in _text(sent[1])
    shown = w.show(tag)
    assert shown["isolated_at"] == "2026-11-30T10:00:00Z"
    # Neither line is site evidence nor an extracted value of the mail.
    assert shown["site"] == "SITE-A" and shown["sites"] == ["SITE-A"]
    with w.app.db.transaction() as session:
        mail = session.scalars(
            select(Mail).where(Mail.subject.contains(tag), Mail.from_addr == ALICE)
        ).one()
        values = list(
            session.scalars(
                select(FieldValue.value).where(FieldValue.mail_id == mail.id)
            )
        )
    assert not [v for v in values if "#" in v or v.startswith("2026-11-30T10:00")]


def test_a_tlp_command_is_no_label_of_the_mail(w: World, tmp_path: Path) -> None:
    """ "#tlp RED" sets the label when applied; as text it is no RED banner,
    applied or refused: the confirmation says what the label was before."""
    tag = site_report(w)
    assert w.show(tag)["tlp"] == "AMBER"
    sent = _command(w, tag, "Noted.\n#tlp RED\n", "2026-11-30T09:58:00")
    assert len(sent) == 1 and "commands must come before" in _text(sent[0])
    assert w.show(tag)["tlp"] == "AMBER"

    body = _confirmed(_command(w, tag, "#tlp RED", "2026-11-30T10:00:00"))
    assert "TLP:RED (was TLP:AMBER)" in body
    assert w.show(tag)["tlp"] == "RED"


def test_show_lists_the_trail_in_json_and_text(w: World, tmp_path: Path) -> None:
    tag = site_report(w)
    _confirmed(_command(w, tag, "#tlp RED", "2026-11-30T10:00:00"))
    config = tmp_path / "mailbot.toml"
    s = w.app.settings
    config.write_text(
        f'[mailbot]\naddress = "{s.mailbot.address}"\n'
        f'[database]\nurl = "{s.database.url}"\n'
        f'[source]\nkind = "maildir"\n[maildir]\npath = "{tmp_path / "inbox"}"\n'
        f'[smtp]\nkind = "maildir"\npath = "{tmp_path / "sent"}"\n'
        f'[sites]\nfile = "{s.sites.file}"\n',
        encoding="utf-8",
    )
    run = lambda *a: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "mailbot", "--config", str(config), "show", tag, *a],
        capture_output=True,
        text=True,
        timeout=60,
    )
    data = json.loads(run("--json").stdout)
    assert [(e["actor"], e["action"]) for e in data["audit"]] == [(ALICE, "tlp")]
    assert data["audit"][0]["message_id"].startswith("<cmd-")
    assert data["audit"][0]["at"] == "2026-11-30T10:01:00Z"
    text = run().stdout
    assert "Audit trail:" in text and f"{ALICE}: tlp #tlp RED" in text


def test_commands_of_one_mail_that_contradict_or_repeat(
    w: World, tmp_path: Path
) -> None:
    """A second status change or value in one mail is refused, not applied
    over the first in silence; a repeated command acts once; an incident the
    mail closed takes no more facts from it."""
    tag = site_report(w)
    sent = _command(w, tag, "#tlp RED\n#tlp GREEN", "2026-11-30T10:00:00")
    assert len(sent) == 2 and sent[0].headline.startswith("Done: #tlp RED")
    assert "#tlp GREEN\n        contradicts #tlp RED above" in _text(sent[1])
    assert "The other command of that mail was applied: a separate mail" in _text(
        sent[1]
    )
    assert w.show(tag)["tlp"] == "RED"

    sent = _command(
        w, tag, "#close\n#isolated 2026-11-30T10:00:00Z\n#reopen", "2026-11-30T11:00:00"
    )
    assert len(sent) == 2 and sent[0].headline.startswith("Done: #close")
    refused = _text(sent[1])
    assert "#isolated 2026-11-30T10:00:00Z\n        comes after #close" in refused
    assert "#reopen\n        contradicts #close above" in refused
    shown = w.show(tag)
    assert shown["status"] == "closed" and shown["isolated_at"] is None

    # Once each, one confirmation: "#Close" is "#close" again.
    _confirmed(_command(w, tag, "#reopen\n#Reopen", "2026-11-30T12:00:00"))
    _confirmed(_command(w, tag, "#close\n#Close", "2026-11-30T13:00:00"))
    actions = [a for _, a, _ in _trail(w, tag)]
    assert actions == ["tlp", "close", "reopen", "close"]

    # In the other order the facts are recorded, then the incident closed.
    _command(w, tag, "#reopen", "2026-11-30T14:00:00")
    _confirmed(
        _command(
            w, tag, "#isolated 2026-11-30T10:00:00Z\n#close", "2026-11-30T15:00:00"
        ),
        2,
    )
    assert w.show(tag)["isolated_at"] == "2026-11-30T10:00:00Z"


def test_a_time_past_the_calendar_is_refused_and_the_rest_applies(
    w: World, tmp_path: Path
) -> None:
    # Each overflowed converting to UTC: the mail was quarantined at
    # "record", no reply, and #tlp red and #close were lost with it.
    tag = site_report(w)
    overflowing = (
        "#discovered 0001-01-01T00:00:00+01:00",
        "#resolved 9999-12-31T23:59:59-00:01",
        "#extend analysis 9999-12-31T23:00:00-05:00",
        "#isolated 9999-06-01T00:00:00Z",
    )
    body = "#tlp red\n" + "\n".join(overflowing) + "\n#close\n"
    sent = _command(w, tag, body, "2026-11-30T10:00:00")
    assert [(m.recipients, m.headline) for m in sent] == [
        ((ALICE,), "Done: #tlp, #close"),
        ((ALICE,), "Not applied: 4 command line(s) of your mail"),
    ]
    assert "    #tlp red\n    TLP:RED (was TLP:AMBER)" in _text(sent[0])
    assert "    #close\n    status closed" in _text(sent[0])
    text = _text(sent[1])
    assert "The other 2 commands of that mail were applied: one separate" in text
    for line in overflowing:
        time = line.rsplit(" ", 1)[1]
        assert f"{line}\n        #" in text, line
        assert f"{time!r} is out of range" in text, line
    shown = w.show(tag)
    assert shown["status"] == "closed" and shown["tlp"] == "RED"
    assert [a["action"] for a in shown["audit"]] == ["tlp", "close"]


def test_a_zone_beyond_14_hours_is_no_time() -> None:
    # ISO 8601 allows +23:59; no zone in use is more than 14 hours from UTC
    # (the Date header is read the same way, parse/headers.py).
    good, bad = read_commands("#discovered 2026-11-30T09:00:00+23:00\n")
    assert good == [] and len(bad) == 1
    assert "zone offset beyond 14 hours" in bad[0].problem
    good, bad = read_commands("#discovered 2026-11-30T09:00:00+14:00\n")
    assert bad == [] and good[0].when == at("2026-11-29T19:00:00")


def test_commands_in_full_width_or_set_in_bold_are_applied(
    w: World, tmp_path: Path
) -> None:
    """ "＃close" (a full-width number sign, as Japanese and Chinese input
    methods type it) and "*#close*" (a client's plain text of bold) got no
    reply at all: neither applied nor refused."""
    tag = site_report(w)
    for when, body in (
        ("10:00", "＃tlp GREEN\n\nAs agreed.\nAlice"),
        ("10:05", "Hi all,\n\n*#discovered 2026-11-30T07:30:00Z*\n"),
        ("10:10", "**#isolated 2026-11-30T10:00:00Z**\n\nThanks"),
        ("10:15", "_#notify-vo some_vo_\n"),
        ("10:20", "＃ｃｌｏｓｅ\n"),
    ):
        sent = _command(w, tag, body, f"2026-11-30T{when}:00")
        assert sent, body
    shown = w.show(tag)
    assert shown["tlp"] == "GREEN" and shown["status"] == "closed"
    assert shown["discovered_at"] == "2026-11-30T07:30:00Z"
    assert shown["isolated_at"] == "2026-11-30T10:00:00Z"
    trail = [a for _, a, _ in _trail(w, tag)]
    assert trail[:3] == ["tlp", "discovered", "isolated"] and trail[-1] == "close"


def test_prose_in_bold_is_no_command() -> None:
    assert read_commands("*Important*: host isolated\n") == ([], [])
    assert read_commands("**Note** #close is sent later\n") == ([], [])


@pytest.mark.parametrize(
    ("line", "read"),
    [
        ("\u200b#close", "#close"),  # a zero-width space before it
        ("\ufeff#close", "#close"),  # a byte order mark
        ("`#close`", "#close"),  # set as code
        ("- #close", "#close"),  # a list item
        ("\u2022 #tlp RED", "#tlp RED"),
        ("*#tlp* RED", "#tlp RED"),  # only the name in bold
        ("#\uff43\uff4c\uff4f\uff53\uff45", "#close"),  # full-width letters
        ("#extend analysis \uff12\uff10\uff12\uff16-12-05T12:00Z",
         "#extend analysis 2026-12-05T12:00Z"),
    ],
)  # fmt: skip
def test_a_command_behind_invisible_or_list_marks_is_read(line: str, read: str) -> None:
    """Each of these got no answer at all, or was refused as malformed
    (retester of the full-width and bold fix)."""
    good, bad = read_commands(line + "\n")
    assert ([c.line for c in good], bad) == ([read], [])


def _as_alternative(
    raw: bytes, html: str, *, plain: bool = True, related: bool = False
) -> bytes:
    """The member's mail as an HTML mail client sends it: the text part and
    an HTML copy of it as alternatives (the copy inside multipart/related,
    with an image, as Apple Mail and Outlook do); `plain=False` leaves the
    text part empty (a client whose text alternative is blank)."""
    original = email.message_from_bytes(raw, policy=email.policy.default)
    message = email.message.EmailMessage()
    for key, value in original.items():
        if key.lower() not in (
            "content-type",
            "content-transfer-encoding",
            "mime-version",
        ):
            message[key] = value
    text = original.get_content() if plain else "\n"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    if related:
        html_part = message.get_payload()[1]
        html_part.add_related(b"\x89PNG\r\n\x1a\n", "image", "png", cid="<logo@csirt>")
    return message.as_bytes()


@pytest.mark.parametrize(
    ("plain", "related"), [(True, False), (True, True), (False, False)]
)
def test_an_html_mail_of_commands_is_read_once(
    w: World, tmp_path: Path, plain: bool, related: bool
) -> None:
    """An HTML mail client sends the commands twice, as text and as HTML
    alternatives: both were read, one after the other, so the HTML copy's
    commands came below the text's sign-off and after other text. The member
    heard "Done" and "Not applied" for the same lines (retest9 B1). One
    alternative is the mail's text; a blank text part leaves the HTML."""
    tag = site_report(w)
    when = at("2026-11-30T10:30:00")
    raw = member_mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Security incident",
        body="#no-request\n#isolated 2026-11-30T10:00:00Z\n\nNoted.\nAlice\n",
        when=when, message_id="<html-cmd@csirt.example.org>",
    )  # fmt: skip
    html = (
        "<html><body><div>#no-request</div><div>#isolated 2026-11-30T10:00:00Z</div>"
        "<div><br></div><div>Noted.</div><div>Alice</div></body></html>"
    )
    w.new_mail()
    w.deliver(_as_alternative(raw, html, plain=plain, related=related), when)
    sent = w.new_mail()
    assert [(m.recipients, m.headline) for m in sent] == [
        ((ALICE,), "Done: #no-request, #isolated")
    ]
    assert [a["action"] for a in w.show(tag)["audit"]] == ["no-request", "isolated"]


def test_a_copy_of_a_command_mail_applies_nothing_again(
    w: World, tmp_path: Path
) -> None:
    """A mailing list (or a relay adding its disclaimer) delivers a member's
    mail again with a footer: the same Message-ID, other bytes, so another
    mail (BR-19). Its commands were applied a second time, the trail
    doubled and the member got a second "Done" (retest9). A copy applies
    what its original did not, and nothing it did."""
    tag = site_report(w)
    when = at("2026-11-30T10:30:00")
    body = "#isolated 2026-11-30T10:00:00Z\n#no-request\n\nThanks.\n"
    raw = member_mail(
        subject=f"Re: [{tag}] [TLP:AMBER] Security incident", body=body, when=when,
        message_id="<listed@csirt.example.org>",
    )  # fmt: skip
    w.new_mail()
    w.deliver(raw, when)
    assert [m.headline for m in w.new_mail()] == ["Done: #isolated, #no-request"]
    trail = _trail(w, tag)
    footer = b"\r\n-- \r\nEGI CSIRT list: https://lists.example.org/csirt\r\n"
    w.deliver(raw + footer, when + dt.timedelta(minutes=2))
    assert w.new_mail() == []
    assert _trail(w, tag) == trail
    # A copy that says more (the member's client reused the Message-ID):
    # what is new applies, and only that is confirmed.
    more = raw.replace(b"#no-request\n", b"#no-request\n#close\n") + footer
    assert more != raw + footer
    w.deliver(more, when + dt.timedelta(minutes=4))
    assert [m.headline for m in w.new_mail()] == ["Done: #close"]
    assert [a[1] for a in _trail(w, tag)] == ["isolated", "no-request", "close"]
