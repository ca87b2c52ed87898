"""One sentence naming the way in and the host compromised (breaker F16).

The site's own host the attack came in through, or went on from, is an
entry point; the host it then compromised is affected. Before, the cue
nearest each host decided alone: both came out affected, or the entry
point took the attacker's "from".
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
UI = "ui01.site-a.example.org"
WN = "wn17.site-a.example.org"


def _values(text: str) -> set[tuple[str, str]]:
    found = extract.extract((TextPart("1", "text/plain", "body", text),), SITE)
    return {(f.field, f.value) for f in found if f.kind != "text"}


@pytest.mark.parametrize(
    "sentence",
    [
        f"The attacker came in through {UI} and then compromised {WN}.",
        f"{WN} was compromised via ssh from {UI}.",
        f"The attacker logged in to {UI} and from there compromised {WN}.",
        f"The intruder used {UI} as a jump host to reach {WN}.",
        f"The attacker compromised {UI} and then moved to {WN}.",
        f"{WN} was compromised by {UI}.",
        f"They got in through {UI}, then pivoted to {WN}.",
    ],
)
def test_entry_point_and_affected_host_in_one_sentence(sentence: str) -> None:
    assert _values(sentence) == {("entry_points", UI), ("affected_hosts", WN)}


def test_short_name_compromised_from_the_sites_host() -> None:
    # "wn17" is no host name of its own: the host it came from is the entry.
    found = _values(f"wn17 was compromised via ssh from {UI}.")
    assert found == {("entry_points", UI)}


def test_addresses_and_names_together() -> None:
    found = _values(
        f"They got in through {UI} (192.0.2.10), then moved to {WN} (192.0.2.17)."
    )
    assert found == {
        ("entry_points", UI),
        ("entry_points", "192.0.2.10"),
        ("affected_hosts", WN),
        ("affected_hosts", "192.0.2.17"),
    }


def test_a_host_not_the_sites_keeps_its_role() -> None:
    found = _values(
        f"{WN} was compromised from {UI}, which the attacker reached from"
        " 203.0.113.5; ui02.site-a.example.org was compromised by 203.0.113.6."
    )
    assert found == {
        ("affected_hosts", WN),
        ("entry_points", UI),
        ("attacker_ips", "203.0.113.5"),
        ("affected_hosts", "ui02.site-a.example.org"),
        ("attacker_ips", "203.0.113.6"),
    }


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        # The site's host attacking is affected, not a way in.
        ("Scans came from 192.0.2.10.", {("affected_hosts", "192.0.2.10")}),
        (
            "The compromised VM sent spam from 192.0.2.40.",
            {("affected_hosts", "192.0.2.40")},
        ),
        # Mail comes "via" a mail server, which is no entry point.
        (
            "Phishing mails came from 203.0.113.33 via our relay 192.0.2.25.",
            {("attacker_ips", "203.0.113.33"), ("affected_hosts", "192.0.2.25")},
        ),
        # "from" another's address stays the attacker's.
        (
            "Our host 192.0.2.5 was infected via a phishing mail from 203.0.113.5.",
            {("affected_hosts", "192.0.2.5"), ("attacker_ips", "203.0.113.5")},
        ),
        ("The attacker logged in via 203.0.113.5.", {("attacker_ips", "203.0.113.5")}),
        # Going on to a mining pool is no move to another of the site's hosts.
        (
            f"{WN} was compromised and connected to the mining pool 203.0.113.150.",
            {("affected_hosts", WN), ("attacker_ips", "203.0.113.150")},
        ),
        (
            "We isolated 192.0.2.10 and then reinstalled 192.0.2.11.",
            {("affected_hosts", "192.0.2.10"), ("affected_hosts", "192.0.2.11")},
        ),
    ],
)
def test_what_stays_as_it_was(sentence: str, expected: set) -> None:
    assert _values(sentence) == expected


# A stepping stone said in other words, or in German or French (fixE3).
@pytest.mark.parametrize(
    "sentence",
    [
        f"{UI} served as a jump host to reach {WN}.",
        f"{UI} was used as a stepping stone to {WN}.",
        f"{UI} wurde als Sprungbrett genutzt, um {WN} zu erreichen.",
        f"Der Angreifer kam über {UI} herein und kompromittierte dann {WN}.",
        f"Der Angreifer hat sich über {UI} eingeloggt und von dort aus {WN}"
        " kompromittiert.",
        f"L'attaquant est entré par {UI} puis a compromis {WN}.",
        f"{UI} a servi de rebond pour atteindre {WN}.",
        f"L'attaquant a compromis {UI} puis s'est déplacé vers {WN}.",
        f"À partir de {UI}, l'attaquant s'est déplacé vers {WN}.",
    ],
)
def test_stepping_stone_in_other_words_and_languages(sentence: str) -> None:
    assert _values(sentence) == {("entry_points", UI), ("affected_hosts", WN)}


WN18 = "wn18.site-a.example.org"


@pytest.mark.parametrize(
    "sentence",
    [
        f"{WN} was compromised via {UI} and then used to reach {WN18}.",
        f"{WN} wurde über {UI} kompromittiert und dann benutzt, um {WN18} zu"
        " erreichen.",
        f"{WN} a été compromis via {UI} puis utilisé pour atteindre {WN18}.",
    ],
)
def test_compromised_through_one_host_then_used_to_reach_another(
    sentence: str,
) -> None:
    assert _values(sentence) == {
        ("affected_hosts", WN),
        ("entry_points", UI),
        ("affected_hosts", WN18),
    }


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        # The way in named in German, another's address: the attacker's.
        (
            "Der Angreifer hat sich über 203.0.113.5 eingeloggt.",
            {("attacker_ips", "203.0.113.5")},
        ),
        (
            "192.0.2.17 wurde über 203.0.113.5 kompromittiert.",
            {("affected_hosts", "192.0.2.17"), ("attacker_ips", "203.0.113.5")},
        ),
        # Mail comes "über" or "par" a relay, which is no way in.
        (
            "Die Phishing-Mail kam über unseren Relay 192.0.2.25.",
            {("affected_hosts", "192.0.2.25")},
        ),
        (
            "Le mail de phishing est passé par notre relais 192.0.2.25.",
            {("affected_hosts", "192.0.2.25")},
        ),
    ],
)
def test_german_and_french_words_that_name_no_way_in(
    sentence: str, expected: set
) -> None:
    assert _values(sentence) == expected
