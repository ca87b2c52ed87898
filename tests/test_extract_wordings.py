"""Wordings a tester found read wrongly (fixE's round).

Each is a kind of wording, tested in several forms: a mail called not bad
before a pasted header block, agent verbs passive and active, German and
French labels with bare answers, hosts apart by ";", a pasted header block
inside a report, and X.509 DNs cut in URLs or by a wrap.
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
HOPS = """\
Received: from relay.mailhost.example.net (relay.mailhost.example.net
\t[198.51.100.40]) by mx01.site-a.example.org (Postfix) with ESMTP id 9B1C2
\tfor <user@site-a.example.org>; Thu, 3 Dec 2026 21:14:05 +0100 (CET)
Received: from [10.1.2.3] (unknown [203.0.113.66])
\tby relay.mailhost.example.net with ESMTPA id 77; Thu, 3 Dec 2026 20:14:01 +0000
"""


def _found(text: str) -> set[tuple[str, str]]:
    found = extract.extract((TextPart("1", "text/plain", "body", text),), SITE)
    return {(f.field, f.value) for f in found}


def _values(text: str) -> set[tuple[str, str]]:
    found = extract.extract((TextPart("1", "text/plain", "body", text),), SITE)
    return {(f.field, f.value) for f in found if f.kind != "text"}


def _fields(text: str, field: str) -> set[str]:
    return {value for name, value in _found(text) if name == field}


# 1. A mail the text says is not bad names no attacker by its headers.


@pytest.mark.parametrize(
    "intro",
    [
        "There is nothing malicious in it, headers:",
        "This is not phishing, as far as we can tell. Headers:",
        "It is no spam and not a scam; headers below:",
        "We checked it: it isn't phishing, it's a legitimate mail. Headers:",
        "No sign of phishing or spoofing here, headers:",
        "The mail was not sent by an attacker, headers:",
        "The mail did not come from the attacker, headers:",
        "We do not think this is phishing. Headers:",
        "This mail is not in any way malicious, headers:",
        "Keine Phishing-Mail, nur ein Newsletter. Headers:",
    ],
)
def test_a_mail_called_not_bad_names_no_attacker(intro: str) -> None:
    found = _values(f"Hello,\n\n{intro}\n\n{HOPS}")
    assert ("unclassified", "203.0.113.66") in found
    assert not {value for field, value in found if field == "attacker_ips"}


@pytest.mark.parametrize(
    "intro",
    [
        "This is not spam but phishing, headers:",
        "Nothing in our logs, but the mail is phishing. Headers:",
        "We are not sure yet; it looks like phishing. Headers:",
        "No user clicked the phishing link, headers:",
        "We have never seen such a well made phishing mail. Headers:",
        "Nothing happened, but many users got this phishing mail. Headers:",
    ],
)
def test_a_bad_word_not_negated_still_names_the_origin(intro: str) -> None:
    found = _values(f"Hello,\n\n{intro}\n\n{HOPS}")
    assert ("attacker_ips", "203.0.113.66") in found


# 3. Agent verbs, passive ("broken into by X") and active ("X exploited it").


@pytest.mark.parametrize(
    "sentence",
    [
        "Our host wn01.site-a.example.org was broken into by 203.0.113.5.",
        "wn01.site-a.example.org was taken over by 203.0.113.5 on Monday.",
        "The VM 192.0.2.9 was exploited by 203.0.113.5 last night.",
        "The portal was abused by 203.0.113.5 to send spam.",
        "The server was brute-forced by 203.0.113.5.",
        "Le serveur a été compromis par 203.0.113.5.",
        "Unser Rechner wurde von 203.0.113.5 angegriffen.",
        "wn01.site-a.example.org wurde durch 203.0.113.5 kompromittiert.",
        "Der Server ist am Montag von 203.0.113.5 aus übernommen worden.",
    ],
)
def test_a_passive_agent_is_the_attacker(sentence: str) -> None:
    assert ("attacker_ips", "203.0.113.5") in _values(sentence)


@pytest.mark.parametrize(
    "sentence",
    [
        "203.0.113.77 exploited it.",
        "203.0.113.77 exploited wn01.site-a.example.org.",
        "Then 203.0.113.77 attacked our web server.",
        "203.0.113.77 compromised the account of a user.",
        "Address 203.0.113.77 broke into our host.",
        "203.0.113.77 brute-forced the SSH service.",
        "203.0.113.77 hacked several of our VMs.",
    ],
)
def test_an_active_agent_is_the_attacker(sentence: str) -> None:
    found = _values(sentence)
    assert ("attacker_ips", "203.0.113.77") in found
    if "wn01" in sentence:
        assert ("affected_hosts", "wn01.site-a.example.org") in found


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        # The harmed host before the verb stays affected.
        ("192.0.2.9 compromised on Monday.", {("affected_hosts", "192.0.2.9")}),
        ("203.0.113.8 was compromised.", {("affected_hosts", "203.0.113.8")}),
        ("203.0.113.8 compromised, we think.", {("affected_hosts", "203.0.113.8")}),
    ],
)
def test_a_host_harmed_stays_affected(sentence: str, expected: set) -> None:
    assert _values(sentence) == expected


# 4. German and French labels and bare answers, as English ones.


@pytest.mark.parametrize(
    ("line", "field", "value"),
    [
        ("Maßnahmen: keine", "actions_taken", "keine"),
        ("Ergriffene Maßnahmen: keine", "actions_taken", "keine"),
        ("Getroffene Massnahmen: Rechner vom Netz genommen", "actions_taken",
         "Rechner vom Netz genommen"),
        ("Actions entreprises : aucune", "actions_taken", "aucune"),
        ("Mesures prises : aucune", "actions_taken", "aucune"),
        ("Datenverlust: nein", "losses", "nein"),
        ("Datenverluste: keine", "losses", "keine"),
        ("Schäden: keine", "losses", "keine"),
        ("Perte de données : non", "losses", "non"),
        ("Pertes de données : aucune", "losses", "aucune"),
        ("Data loss: no", "losses", "no"),
        ("Actions: none", "actions_taken", "none"),
        ("Actions : aucune", "actions_taken", "aucune"),
    ],
)  # fmt: skip
def test_a_label_in_german_or_french_gives_its_answer(
    line: str, field: str, value: str
) -> None:
    assert _fields(f"Hello,\n\n{line}\n", field) == {value}


@pytest.mark.parametrize(
    "text",
    [
        "Maßnahmen: noch offen\n",
        "Actions entreprises : à compléter\n",
        "Datenverlust: noch unbekannt\n",
        "Perte de données : inconnue\n",
    ],
)
def test_a_placeholder_under_such_a_label_is_no_value(text: str) -> None:
    found = _found(f"Hello,\n\n{text}")
    assert not {f for f, _ in found} & {"actions_taken", "losses"}


# 2. A host the attack went on from is a stepping stone: an entry point.

UI = "ui01.site-a.example.org"
WN = "wn17.site-a.example.org"
WN18 = "wn18.site-a.example.org"


@pytest.mark.parametrize(
    "sentence",
    [
        f"The attacker used {UI} to reach {WN} and later moved to {WN18}.",
        f"The attacker came in via {UI} and pivoted to {WN}, then to {WN18}.",
        f"They got in through {UI}, moved to {WN} and later on to {WN18}.",
        f"Via {UI} the attacker reached {WN}, and from there {WN18}.",
        f"Access was gained through {UI}; the attacker moved from {WN} to {WN18}.",
        f"They entered via {UI} and used {WN} as a stepping stone to {WN18}.",
        f"The attacker came in through {UI}. {WN} was then used to reach {WN18}.",
    ],
)
def test_a_stepping_stone_is_an_entry_point(sentence: str) -> None:
    assert _values(sentence) == {
        ("entry_points", UI),
        ("entry_points", WN),
        ("affected_hosts", WN18),
    }


def test_a_stepping_stone_by_its_addresses() -> None:
    found = _values(
        "The attacker used 192.0.2.1 to reach 192.0.2.17 and later moved to "
        "192.0.2.18, then to 192.0.2.19."
    )
    assert found == {
        ("entry_points", "192.0.2.1"),
        ("entry_points", "192.0.2.17"),
        ("entry_points", "192.0.2.18"),
        ("affected_hosts", "192.0.2.19"),
    }


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        # A range and a connection are no moves.
        ("Scans from 192.0.2.10 to 192.0.2.20.", None),
        ("Please block 192.0.2.10, then 192.0.2.20.", None),
    ],
)
def test_what_is_no_move_stays(sentence: str, expected: None) -> None:
    assert not {f for f, _ in _values(sentence)} & {"entry_points"}


# 5. ";" opens a clause: the host after it keeps the role its words say.


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        (
            f"The attacker came in through {UI}; {WN} was compromised.",
            {("entry_points", UI), ("affected_hosts", WN)},
        ),
        (
            "Compromised: 192.0.2.5; 203.0.113.9 is the attacker.",
            {("affected_hosts", "192.0.2.5"), ("attacker_ips", "203.0.113.9")},
        ),
        (
            "affected 192.0.2.5; 203.0.113.9 (attacker)",
            {("affected_hosts", "192.0.2.5"), ("attacker_ips", "203.0.113.9")},
        ),
        (
            f"Scans came from 203.0.113.9; {WN} was hacked.",
            {("attacker_ips", "203.0.113.9"), ("affected_hosts", WN)},
        ),
    ],
)
def test_a_host_after_a_semicolon_keeps_its_own_words(
    sentence: str, expected: set
) -> None:
    assert _values(sentence) == expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        # A list after ";" that its words say the role of is one clause:
        # "... 192.0.2.28, 192.0.2.29 were infected" made both entry points.
        (
            "The attacker came through 192.0.2.27; 192.0.2.28, 192.0.2.29 were"
            " then infected.",
            {"192.0.2.27"},
        ),
        (
            "The attacker came through 192.0.2.27; 192.0.2.28 and 192.0.2.29"
            " were then infected.",
            {"192.0.2.27"},
        ),
        # A plural verb: the hosts from the first ";" on are its subject
        # (192.0.2.28 was kept as an entry point); a singular one has
        # only the last.
        (
            "The attacker came through 192.0.2.27; 192.0.2.28; 192.0.2.29 were"
            " then infected.",
            {"192.0.2.27"},
        ),
        (
            "The attacker came through 192.0.2.27; 192.0.2.28; 192.0.2.29 was"
            " then infected.",
            {"192.0.2.27", "192.0.2.28"},
        ),
    ],
)
def test_the_clause_after_a_semicolon_takes_its_list(
    sentence: str, expected: set
) -> None:
    found = _values(sentence)
    assert {v for f, v in found if f == "entry_points"} == expected
    assert {v for f, v in found if f == "affected_hosts"} == {
        "192.0.2.28",
        "192.0.2.29",
    } - expected


@pytest.mark.parametrize(
    "sentence",
    [
        "Attacker: 203.0.113.9; 203.0.113.10",
        "Attacker IPs 203.0.113.9 ; 203.0.113.10 ; 203.0.113.11.",
        "Blocked at the border: 203.0.113.9; 203.0.113.10 and 203.0.113.11",
    ],
)
def test_a_list_apart_by_semicolons_shares_its_role(sentence: str) -> None:
    found = _values(sentence)
    assert {field for field, _ in found} == {"attacker_ips"}
    assert len(found) == sentence.count("203.")


# 6. A mail's header block pasted into a report is not a quoted reply.

PASTED = """\
From: IT Helpdesk <helpdesk@evil.example.com>
Date: Thu, 3 Dec 2026 20:14:01 +0000
To: user@site-a.example.org
Subject: Your mailbox is full

Click here to keep your mailbox.
"""
FINDINGS = (
    "\nThe account was then abused to log in to wn17.site-a.example.org "
    "from 203.0.113.9.\n"
)


@pytest.mark.parametrize(
    "intro",
    [
        "Several users got this phishing mail:",
        "Here are the headers of the mail:",
        "Suspicious mail received by our staff:",
        "Die Kopfzeilen der Mail:",
        "Voici les en-têtes :",
    ],
)
def test_a_pasted_header_block_keeps_the_text_after_it(intro: str) -> None:
    found = _values(f"Hello,\n\n{intro}\n\n{PASTED}{FINDINGS}")
    assert ("attacker_ips", "203.0.113.9") in found
    assert ("affected_hosts", "wn17.site-a.example.org") in found


def test_raw_headers_above_the_block_are_pasted_too() -> None:
    raw = (
        "Received: from [10.1.2.3] (unknown [198.51.100.66])\n"
        "\tby relay.mailhost.example.net; Thu, 3 Dec 2026 20:14:01 +0000\n"
        "Return-Path: <helpdesk@evil.example.com>\nMessage-ID: <1@x>\n" + PASTED
    )
    found = _values(f"Hello,\n\nHeaders of the phishing mail:\n\n{raw}{FINDINGS}")
    assert ("attacker_ips", "203.0.113.9") in found
    assert ("attacker_ips", "198.51.100.66") in found


def test_a_bounce_returning_the_mail_stays_quoted() -> None:
    raw = "Return-Path: <helpdesk@evil.example.com>\nMessage-ID: <1@x>\n" + PASTED
    intro = "------ This is a copy of the headers of the message."
    found = _values(f"Delivery failed.\n\n{intro}\n\n{raw}{FINDINGS}")
    assert "203.0.113.9" not in {value for _, value in found}


@pytest.mark.parametrize(
    "above",
    [
        "Thanks, we will have a look.",
        "See my answers below:",
        "Thanks, we will have a look.\n\nBest regards,\nJohn",
    ],
)
def test_a_reply_header_still_starts_the_quote(above: str) -> None:
    reply = PASTED.replace("Date:", "Sent:").replace("Your mailbox", "RE: incident")
    found = _values(f"Hello,\n\n{above}\n\n{reply}{FINDINGS}")
    assert "203.0.113.9" not in {value for _, value in found}


# 7. X.509 DNs in a URL's query, and DNs broken by a narrow wrap or at "/".

DN = "/DC=org/DC=example/CN=Jane Doe 1234"


def _kinds(text: str) -> dict[str, set[str]]:
    found = extract.extract((TextPart("1", "text/plain", "body", text),), SITE)
    kinds: dict[str, set[str]] = {}
    for f in found:
        kinds.setdefault(f.kind, set()).add(f.value)
    return kinds


@pytest.mark.parametrize(
    ("url", "dn"),
    [
        (
            "https://voms.example.org/admin/user?dn=/DC=org/DC=example/CN=Jane"
            "%20Doe%201234",
            DN,
        ),
        (
            "https://voms.example.org/user?id=5&dn=/DC=org/DC=example/CN=Jane"
            "%20Doe&vo=atlas",
            "/DC=org/DC=example/CN=Jane Doe",
        ),
        (
            "https://portal.example.org/x?subject=/C=DE/O=GermanGrid/CN=Jane%20Doe#top",
            "/C=DE/O=GermanGrid/CN=Jane Doe",
        ),
    ],
)
def test_a_dn_in_a_url_leaves_the_url_whole(url: str, dn: str) -> None:
    kinds = _kinds(f"Please suspend {url} now and tell us.")
    assert kinds["url"] == {url}
    assert kinds["dn"] == {dn}


@pytest.mark.parametrize(
    "text",
    [
        # Wrapped at 50 columns (the part's longest line says so).
        "The certificate used was /DC=org/DC=example/CN=Jane\n"
        "Doe 1234 and we banned it at once.\n"
        "This line is as long as the part's other lines.\n",
        # Broken after a "/", at any width.
        "The attacker used the certificate\n/DC=org/DC=example/\nCN=Jane Doe 1234 "
        "to log in.\n",
        "Banned: /DC=org/DC=example/\nCN=Jane Doe 1234\n",
    ],
)
def test_a_dn_broken_over_two_lines_is_read_whole(text: str) -> None:
    assert _kinds(text).get("dn") == {DN}


def test_a_short_part_with_whole_dns_stays_as_it_was() -> None:
    text = (
        "Banned: /DC=org/DC=example/CN=Jane Doe 1234\n"
        "Please also check other DNs of the CA.\n"
    )
    assert _kinds(text).get("dn") == {DN}
