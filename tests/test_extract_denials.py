"""Wordings a tester found read wrongly (retest10, fixE2's round).

A passive's agent taken back ("not attacked by X but by Y") in English,
German and French, and a German "von X aus"; "not only" that takes nothing
back; a verb of harm before a kind of host; the site's copying of logs,
which is no loss; an action asked for, which is none taken; and a way in
said below an "Attacker:" line.
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


def _found(text: str) -> set[tuple[str, str]]:
    found = extract.extract((TextPart("1", "text/plain", "body", text),), SITE)
    return {(f.field, f.value) for f in found}


def _fields(text: str, field: str) -> set[str]:
    return {value for name, value in _found(text) if name == field}


# 1. The denied agent of a passive is not the attacker; the one named in its
# stead is.


@pytest.mark.parametrize(
    "text",
    [
        "Der Rechner 192.0.2.14 wurde nicht von 203.0.113.43 angegriffen, "
        "sondern von 203.0.113.44.",
        "Der Server 192.0.2.14 wurde nie durch 203.0.113.43 kompromittiert, "
        "sondern durch 203.0.113.44.",
        "Our host 192.0.2.14 was not attacked by 203.0.113.43 but by 203.0.113.44.",
        "The node 192.0.2.14 was never compromised by 203.0.113.43, "
        "but rather by 203.0.113.44.",
        "Notre serveur 192.0.2.14 a été attaqué non pas par 203.0.113.43 "
        "mais par 203.0.113.44.",
        "Notre serveur 192.0.2.14 n'a pas été compromis par 203.0.113.43 "
        "mais par 203.0.113.44.",
    ],
)
def test_a_denied_agent_is_not_the_attacker(text: str) -> None:
    found = _found(f"Hello,\n\n{text}\n")
    assert ("attacker_ips", "203.0.113.43") not in found
    assert ("attacker_ips", "203.0.113.44") in found
    assert ("affected_hosts", "192.0.2.14") in found


@pytest.mark.parametrize(
    "text",
    [
        "Our host 192.0.2.14 was not only attacked by 203.0.113.43.",
        "Der Rechner 192.0.2.14 wurde nicht nur von 203.0.113.43 angegriffen.",
        "Der Rechner 192.0.2.14 wurde durch 203.0.113.43 kompromittiert.",
    ],
)
def test_an_agent_not_taken_back_stays_the_attacker(text: str) -> None:
    assert "203.0.113.43" in _fields(f"Hello,\n\n{text}\n", "attacker_ips")


@pytest.mark.parametrize(
    "text",
    [
        "Von 203.0.113.42 aus wurde der Server 192.0.2.13 angegriffen.",
        "Von 203.0.113.42 aus hat der Angreifer 192.0.2.13 übernommen.",
        "Der Server 192.0.2.13 wurde von 203.0.113.42 aus gescannt.",
    ],
)
def test_von_x_aus_names_where_the_attack_came_from(text: str) -> None:
    found = _found(f"Hallo,\n\n{text}\n")
    assert ("attacker_ips", "203.0.113.42") in found
    assert ("affected_hosts", "192.0.2.13") in found


def test_aus_dem_after_an_address_names_no_origin() -> None:
    text = "Die Adresse 203.0.113.42 aus dem Netz des Anbieters ist bekannt."
    assert "203.0.113.42" not in _fields(f"Hallo,\n\n{text}\n", "attacker_ips")


# 2. "Not only" takes nothing back, and a verb of harm names the host it
# was done to, whatever kind of host it is.

HEADERS = """\
Received: from [10.1.2.3] (unknown [203.0.113.66])
\tby relay.mailhost.example.net with ESMTPA id 77; Thu, 3 Dec 2026 20:14:01 +0000
From: helpdesk@evil.example.com
Subject: Your mailbox is full
"""


@pytest.mark.parametrize(
    "intro",
    [
        "This is not only spam but phishing, headers:",
        "Not only the attacker sent this, headers:",
        "Das ist nicht nur Phishing vom Angreifer, Headers:",
    ],
)
def test_not_only_denies_nothing(intro: str) -> None:
    found = _fields(f"Hello,\n\n{intro}\n\n{HEADERS}", "attacker_ips")
    assert "203.0.113.66" in found


@pytest.mark.parametrize(
    "text",
    [
        "It is not only phishing: 203.0.113.31 also brute-forced our login "
        "node 192.0.2.11.",
        "203.0.113.31 attacked the bastion host 192.0.2.11 all night.",
        "The attacker scanned our gateway 192.0.2.11.",
    ],
)
def test_the_kind_of_host_harmed_makes_no_entry_point(text: str) -> None:
    found = _found(f"Hello,\n\n{text}\n")
    assert ("affected_hosts", "192.0.2.11") in found
    assert ("entry_points", "192.0.2.11") not in found


@pytest.mark.parametrize(
    "text",
    [
        "The attacker came in through the login node 192.0.2.11.",
        "Jump host: 192.0.2.11",
        "He logged in to our bastion host 192.0.2.11 and then compromised 192.0.2.12.",
    ],
)
def test_a_way_in_stays_an_entry_point(text: str) -> None:
    assert "192.0.2.11" in _fields(f"Hello,\n\n{text}\n", "entry_points")


# 3. Losses are what the attacker took, not the logs the site copied; and
# (4.) an action asked for is none taken.


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("We copied the logs from 192.0.2.18 to 192.0.2.19 for analysis.", "losses"),
        ("The logs were copied to our file server 192.0.2.19.", "losses"),
        ("I have copied the auth logs of 192.0.2.18 to the ticket.", "losses"),
        ("Our admins copied a disk image of 192.0.2.18 first.", "losses"),
        ("The certificate of the compromised user must be revoked.", "actions_taken"),
        ("The VM should be shut down and needs to be reinstalled.", "actions_taken"),
        ("The account will be suspended tomorrow.", "actions_taken"),
    ],
)
def test_words_of_the_field_that_say_no_such_item(text: str, field: str) -> None:
    # The site's copying of its logs is no loss; an action asked for or
    # planned (4.) is none taken.
    assert not _fields(f"Hello,\n\n{text}\n", field)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("The attacker copied /home from 192.0.2.18 to 203.0.113.9.", "losses"),
        ("Data was copied to 203.0.113.9.", "losses"),
        ("We copied the logs; the attacker exfiltrated data.", "losses"),
        ("We isolated the VM; it will be reinstalled.", "actions_taken"),
        ("The host was isolated and must be reinstalled.", "actions_taken"),
        ("The certificate has been revoked.", "actions_taken"),
    ],
)
def test_the_item_said_beside_them_stays(text: str, field: str) -> None:
    assert _fields(f"Hello,\n\n{text}\n", field)


# 5. Words that name the way in hold below an "Attacker:" line.


def test_a_way_in_below_an_attacker_line_is_an_entry_point() -> None:
    text = (
        "Attacker: 203.0.113.51; 192.0.2.26 was compromised.\n"
        "The intruder came through 192.0.2.27; 192.0.2.29 was then infected.\n"
    )
    found = _found(f"Hello,\n\n{text}\n")
    assert ("attacker_ips", "203.0.113.51") in found
    assert ("entry_points", "192.0.2.27") in found
    assert ("affected_hosts", "192.0.2.27") not in found
    assert ("affected_hosts", "192.0.2.26") in found
    assert ("affected_hosts", "192.0.2.29") in found


def test_the_sites_host_below_an_attacker_line_stays_affected() -> None:
    text = "Attacker:\n203.0.113.51\n192.0.2.26\n"
    found = _found(f"Hello,\n\n{text}\n")
    assert ("attacker_ips", "203.0.113.51") in found
    assert ("affected_hosts", "192.0.2.26") in found


# 4. An action asked for or planned is none taken ("... must be revoked"
# after a URL with a DN was read as one).


def test_a_revocation_asked_for_after_a_dn_is_no_action_taken() -> None:
    text = (
        "The stolen credential was used here:\n"
        "https://portal.example.org/user?dn=/DC=org/DC=example/O=Example%20"
        "Institute/CN=Jane%20Doe%201234&vo=atlas now\n"
        "The certificate subject of the compromised user is /DC=org/DC=example/"
        "O=Example\nInstitute/CN=John Smith 5678 and it must be revoked.\n"
    )
    found = _found(f"Hello,\n\n{text}\n")
    assert not {value for name, value in found if name == "actions_taken"}
    assert (
        "x509_dns",
        "/DC=org/DC=example/O=Example Institute/CN=John Smith 5678",
    ) in found
