"""Received: headers pasted in a site's report (breaker F11).

The relay chain says no role by itself: each hop's "from" made a relay an
attacker's address and the site's own mail server an affected host. Only
the first hop's external sender is the attacker's, and only when the text
calls the mail bad (phishing, spam, malicious) or says it came from the
attacker.
"""

from __future__ import annotations

import ipaddress

import pytest

from mailbot import extract
from mailbot.mail import TextPart

SITE = extract.Context(
    site_networks=(ipaddress.ip_network("192.0.2.0/25"),),
    site_domains=("site-a.example.org",),
)
# Newest first, as a mail carries them: the site's MX, a relay, the sender.
CHAIN = """\
Received: from mx01.site-a.example.org (mx01.site-a.example.org [192.0.2.25])
\tby imap.site-a.example.org (Postfix) with ESMTPS id 4F2A1
\tfor <user@site-a.example.org>; Thu, 3 Dec 2026 21:14:07 +0100 (CET)
Received: from relay.mailhost.example.net (relay.mailhost.example.net
\t[198.51.100.40]) by mx01.site-a.example.org (Postfix) with ESMTP id 9B1C2
\tfor <user@site-a.example.org>; Thu, 3 Dec 2026 21:14:05 +0100 (CET)
Received: from [10.1.2.3] (unknown [203.0.113.66])
\tby relay.mailhost.example.net with ESMTPA id 77; Thu, 3 Dec 2026 20:14:01 +0000
Received: from webmail (localhost [10.1.2.3]) by [10.1.2.3]; Thu, 3 Dec 2026
Authentication-Results: mx01.site-a.example.org; spf=fail
\tsmtp.mailfrom=evil.example.com; dkim=none header.d=evil.example.com
User-Agent: Mozilla/5.0 (X11; Linux x86_64;
 rv:1.9.2.17) Gecko/20110516 Thunderbird/3.1.10
From: "IT Helpdesk" <helpdesk@evil.example.com>
Subject: Your mailbox is full
"""


def _values(text: str) -> set[tuple[str, str]]:
    found = extract.extract((TextPart("1", "text/plain", "body", text),), SITE)
    return {(f.field, f.value) for f in found if f.kind != "text"}


@pytest.mark.parametrize(
    "intro",
    [
        "Several of our users received the phishing mail below. Headers:",
        "The spam came from the attacker, headers:",
        "Headers of the malicious mail:",
    ],
)
def test_only_the_first_hops_sender_is_the_attacker(intro: str) -> None:
    found = _values(f"Hello,\n\n{intro}\n\n{CHAIN}")
    assert ("attacker_ips", "203.0.113.66") in found
    # The site's MX relayed the mail: not affected; the relay: no attacker.
    assert ("unclassified", "192.0.2.25") in found
    assert ("unclassified", "198.51.100.40") in found
    assert {field for field, _ in found} == {"attacker_ips", "unclassified"}
    # A version in a folded User-Agent line is no address.
    assert "1.9.2.17" not in {value for _, value in found}


def test_chain_pasted_oldest_first() -> None:
    hops = CHAIN.split("Authentication-Results")[0].split("Received: ")[1:]
    reordered = "".join("Received: " + hop for hop in reversed(hops))
    found = _values(f"A phishing mail reached our users:\n\n{reordered}")
    assert ("attacker_ips", "203.0.113.66") in found
    assert ("attacker_ips", "198.51.100.40") not in found


def test_headers_without_a_word_of_harm_say_no_role() -> None:
    found = _values(f"Please have a look at this mail, headers:\n\n{CHAIN}")
    assert {field for field, _ in found} == {"unclassified"}


def test_prose_naming_an_address_still_speaks() -> None:
    text = f"Hi,\nthe logins came from 198.51.100.40 as the headers show:\n\n{CHAIN}"
    found = _values(text)
    assert ("attacker_ips", "198.51.100.40") in found
    assert ("unclassified", "192.0.2.25") in found
