"""A date-only tag ([EGI-YYYYMMDD]) and a counter cut short ([EGI-...-2])
name the incident of that day that the sender's site takes part in: breaker
findings brk7 K, K2 and C2, where a closure report under DOMAIN.md's
recommended heading, a site's answer to a report opened without a tag and a
merged-in site's answer each opened a new incident."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import test_csirt_env as env
from test_csirt_env import SITE_A, SITE_C, World, at

from mailbot import views

# The `w` fixture: a mailbot on a private Dovecot and SMTP sink.
pytest_plugins = ("test_csirt_env",)


def writes(w: World, sender: str, subject: str, when: str, n: int) -> dict[str, Any]:
    """A site's new mail (no references); returns it as `show` lists it."""
    message_id = f"<dated-{n}@{sender.split('@')[1]}>"
    w.deliver(env.raw_mail(
        subject=subject, sender=sender, when=at(when), message_id=message_id,
        body="TLP:AMBER\n\nClosure report\n\nResolution: wn12 reinstalled.\n",
    ), at(when))  # fmt: skip
    return env.listed_mail(w, message_id)


def member(w: World, tag: str, body: str, when: str, n: int) -> None:
    w.deliver(env.member_mail(
        subject=f"Re: [{tag}] x", body=body, when=at(when),
        message_id=f"<member-{n}@csirt.example.org>",
    ), at(when))  # fmt: skip


def tags(w: World) -> list[str]:
    return [str(r["tag"]) for r in views.incident_list(w.app, all_=True)]


def test_a_closure_report_with_the_date_tag_reaches_the_resolved_incident(
    w: World, tmp_path: Path
) -> None:
    tag = env.site_report(w)
    member(
        w,
        tag,
        "#resolved 2026-11-30T12:00:00Z\n#no-request\n",
        "2026-11-30T12:00:00",
        1,
    )
    assert w.show(tag)["status"] == "resolved"
    w.new_mail()
    heading = "Closure report: Security incident at SITE-A [EGI-20261130] TLP: AMBER"
    mail = writes(w, SITE_A, heading, "2026-12-04T10:00:00", 1)
    assert (mail["tag"], mail["thread_reason"]) == (tag, "date_tag")
    assert tags(w) == [tag]
    # No acknowledgement of a new incident to the site.
    assert not [m for m in w.new_mail() if SITE_A in m.recipients]
    closure = [d for d in w.show(tag)["deadlines"] if d["rule"] == "closure_report"]
    assert [d["state"] for d in closure] == ["met"]


def test_a_date_tag_finds_an_incident_opened_without_one(
    w: World, tmp_path: Path
) -> None:
    when = at("2026-11-30T09:55:00")
    w.deliver(env.raw_mail(
        subject="Miner at SITE-A", sender=SITE_A, when=when,
        message_id="<untagged@site-a.example.com>", body="Miner on 192.0.2.45.\n",
    ), when)  # fmt: skip
    [tag] = tags(w)
    assert tag.startswith("EGI-20261130-")
    mail = writes(w, SITE_A, "Miner at SITE-A [EGI-20261130]", "2026-12-01T08:00:00", 1)
    assert (mail["tag"], mail["thread_reason"]) == (tag, "date_tag")
    assert tags(w) == [tag]


def site_c_report(w: World) -> str:
    """SITE-C reports an incident of the same day; returns its tag."""
    when = at("2026-11-30T10:20:00")
    w.deliver(env.raw_mail(
        subject="Suspicious SSH logins at SITE-C", sender=SITE_C, when=when,
        message_id="<report-c@site-c.example.com>", body="Logins to 198.51.100.140.\n",
    ), when)  # fmt: skip
    return tags(w)[-1]


def _merged(w: World) -> tuple[str, str]:
    """SITE-A's incident and SITE-C's, merged into SITE-A's."""
    mine = env.site_report(w)
    other = site_c_report(w)
    member(w, other, f"#merge {mine}\n#no-request\n", "2026-11-30T11:00:00", 1)
    w.new_mail()
    return mine, other


def test_a_merged_in_site_with_the_date_tag_or_a_cut_counter(
    w: World, tmp_path: Path
) -> None:
    mine, other = _merged(w)
    cut = other[:-2] + other[-1]  # "EGI-20261130-02" as "EGI-20261130-2"
    for n, subject in enumerate(
        ("RE: [EGI-20261130] logins", f"RE: [{cut}] logins", f"RE: {cut} logins")
    ):
        mail = writes(w, SITE_C, subject, f"2026-11-30T12:0{n}:00", n)
        assert (mail["tag"], mail["thread_reason"]) in {
            (mine, "date_tag"),
            (mine, "tag"),
        }
        assert not mail["flags"]
    assert tags(w) == [mine]
    assert not [m for m in w.new_mail() if SITE_C in m.recipients]


def test_a_cut_counter_of_the_sites_own_incident(w: World, tmp_path: Path) -> None:
    env.site_report(w)
    other = site_c_report(w)
    cut = other[:-2] + other[-1]
    mail = writes(w, SITE_C, f"Re: [{cut}] logins", "2026-11-30T12:00:00", 1)
    assert (mail["tag"], mail["thread_reason"]) == (other, "tag")


def test_a_date_tag_of_no_incident_of_the_site(w: World, tmp_path: Path) -> None:
    mine = env.site_report(w)
    # SITE-C takes no part in SITE-A's incident of that day: its own.
    mail = writes(
        w, SITE_C, "[EGI-20261130] logins at SITE-C", "2026-11-30T12:00:00", 1
    )
    assert mail["tag"] != mine and mail["thread_reason"] == "new"
    assert w.show(mine)["sites"] == ["SITE-A"]
    # A cut counter naming no incident opens one under a new tag, no "-5"
    # left in its subject.
    mail = writes(
        w, SITE_C, "Re: [EGI-20261130-5] more logins", "2026-11-30T12:10:00", 2
    )
    assert mail["thread_reason"] in {"new", "date_tag"}
    assert mail["tag"] != "EGI-20261130-05"
    assert all("-5" not in str(r["subject"]) for r in views.incident_list(w.app))


def test_a_closed_incidents_date_tag_opens_a_new_incident(
    w: World, tmp_path: Path
) -> None:
    tag = env.site_report(w)
    member(w, tag, "#close\n", "2026-11-30T12:00:00", 1)
    assert w.show(tag)["status"] == "closed"
    mail = writes(w, SITE_A, "Again at SITE-A [EGI-20261130]", "2026-12-05T10:00:00", 1)
    assert mail["tag"] != tag and mail["thread_reason"] == "new"
