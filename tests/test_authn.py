"""Who is a CSIRT member: our MTA's Authentication-Results, nobody else's."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_csirt_env import (
    ABUSE,
    ALICE,
    MX,
    World,
    at,
    body_of,
    member_mail,
    site_report,
)

from mailbot.authn import verify_sender

OURS = [MX]

# The `w` fixture: a mailbot on a private Dovecot and SMTP sink.
pytest_plugins = ("test_csirt_env",)


@pytest.mark.parametrize(
    ("headers", "verified", "how"),
    [
        ([f"{MX}; dkim=pass header.d=csirt.example.org"], True, "dkim"),
        ([f"{MX} 1; dkim=pass (good) header.i=@csirt.example.org"], True, "dkim"),
        (
            [f"{MX}; dkim=none; spf=pass smtp.mailfrom=alice@csirt.example.org"],
            True,
            "spf",
        ),
        ([f"{MX}; spf=pass smtp.mailfrom=bounces.csirt.example.org"], True, "spf"),
        # Nobody vouched, or someone other than our MTA did.
        ([], False, "not authenticated by our MTA"),
        (
            ["mx.attacker.example; dkim=pass header.d=csirt.example.org"],
            False,
            "not authenticated by our MTA",
        ),
        # Passing for another domain, or for a parent that may be a public suffix.
        ([f"{MX}; dkim=pass header.d=attacker.example"], False, "no passing result"),
        ([f"{MX}; spf=pass smtp.mailfrom=example.org"], False, "no passing result"),
        (
            [f"{MX}; dkim=fail header.d=csirt.example.org; spf=fail"],
            False,
            "no passing result",
        ),
        # A forged header with our authserv-id that our own real one denies.
        (
            [
                f"{MX}; dkim=none; spf=softfail smtp.mailfrom=x@attacker.example",
                f"{MX}; dkim=pass header.d=csirt.example.org",
            ],
            False,
            "contradict",
        ),
        (
            [
                f"{MX}; dmarc=fail header.from=csirt.example.org",
                f"{MX}; spf=pass smtp.mailfrom=csirt.example.org",
            ],
            False,
            "our MTA found DMARC fail for csirt.example.org",
        ),
    ],
)
def test_verify_sender(headers: list[str], verified: bool, how: str) -> None:
    verdict = verify_sender(ALICE, headers, OURS)
    assert verdict.verified is verified
    assert how in verdict.how


def test_no_authserv_ids_configured_trusts_nobody() -> None:
    header = f"{MX}; dkim=pass header.d=csirt.example.org"
    assert not verify_sender(ALICE, [header], []).verified


FORGED = {
    "none": None,
    "other-authserv": "mx.attacker.example; dkim=pass header.d=csirt.example.org",
    "other-domain": f"{MX}; dkim=pass header.d=attacker.example;"
    " spf=pass smtp.mailfrom=x@attacker.example",
}


def test_forged_member_mails_change_nothing(w: World, tmp_path: Path) -> None:
    tag = site_report(w)
    before = w.show(tag)
    w.new_mail()
    for n, (name, auth) in enumerate(FORGED.items()):
        when = at(f"2026-11-30T1{n}:00:00")
        w.deliver(member_mail(
            subject=f"Re: [{tag}] incident", auth=auth, when=when,
            message_id=f"<forged-{name}@attacker.example>",
            cc="admin@site-a.example.com",
            body="#close\n#tlp CLEAR\n#site SITE-C\n#resolved\n"
            "#notify-vo vo.example.org\n",
        ), when)  # fmt: skip
    after = w.show(tag)
    for key in ("status", "tlp", "site", "sites", "deadlines", "fields", "resolved_at"):
        assert after[key] == before[key], key
    forged = [m for m in after["messages"] if m["message_id"].startswith("<forged-")]
    assert len(forged) == 3
    assert all(
        m["flags"] == ["possible_forgery"] and m["role"] != "csirt" for m in forged
    )
    assert [a["action"] for a in after["audit"]] == ["possible_forgery"] * 3

    # The duty address is told once (per incident and claimed address);
    # nobody else hears anything, the member gets no confirmation.
    sent = w.new_mail()
    assert [m.recipients for m in sent] == [("duty@csirt.example.org",)]
    assert ALICE in body_of(sent[0]) and "possible_forgery" in body_of(sent[0])
    assert sent[0].message["Subject"].startswith(f"[{tag}] [TLP:AMBER] ")


def test_authenticated_member_is_csirt(w: World, tmp_path: Path) -> None:
    tag = site_report(w)
    when = at("2026-11-30T10:30:00")
    w.deliver(
        member_mail(
            subject=f"Re: [{tag}] incident",
            body="#close",
            when=when,
            message_id="<real@csirt.example.org>",
            to=ABUSE,
        ),
        when,
    )
    shown = w.show(tag)
    mine = [
        m for m in shown["messages"] if m["message_id"] == "<real@csirt.example.org>"
    ]
    assert mine[0]["role"] == "csirt" and mine[0]["flags"] == []
    assert shown["status"] == "closed"
