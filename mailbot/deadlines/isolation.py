"""Whether a site's words say a host is cut off from the network, and
whether the host they speak of is the site's (deadlines/events.py tells
whether they say it as a fact)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

# Whether an address is in the writing site's own networks (Site.owns_address).
Owns = Callable[[ipaddress.IPv4Address | ipaddress.IPv6Address], bool]

# What a site isolates: a host, by a word or its name ("wn12",
# "ui01.example.org"), or by its address (only one of the site's own
# networks: see _of_a_host).
_HOST_WORDS = (
    r"(?:hosts?|vms?|nodes?|machines?|servers?|instances?|boxe?s?|systems?"
    r"|virtual\s+machines?|worker\s+nodes?)"
)
_HOST_NAME = r"(?:[a-z][\w-]*\d[\w-]*(?:\.[\w-]+)*|[a-z][\w-]*(?:\.[a-z][\w-]*)+)"
# An address as a site writes it, defanged or not ("192.0.2.10",
# "192.0.2[.]10", "2001:db8::10"); whose it is, `_of_a_host` decides.
_ADDRESS = r"(?:\d{1,3}(?:\[?\.\]?\d{1,3}){3}|[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7})"
# The host an action is done to: a word ("the node", "both VMs"), its
# name, "it"; its address may follow ("wn3 (192.0.2.130)").
_HOST_REF = (
    r"(?:it|them|(?:the|this|that|our|both|all|affected|compromised)\s+"
    r"(?:[\w'-]+\s+){0,2}?" + _HOST_WORDS + r"|" + _HOST_NAME + r")"
    r"(?:\s+\(?" + _ADDRESS + r"\)?)?"
)
# Up to 40 characters of one sentence (a dot inside a name or an address
# does not end it).
_GAP = r"(?:[^.;:!?\n]|\.(?=\S)){0,40}?"
ISOLATION_RE = re.compile(
    r"\b(?:isolated|disconnected|firewalled|quarantined|unplugged|taken\s+offline"
    r"|cut\s+off(?:\s+from\s+the\s+network)?|blocked\s+(?:at|on)\s+the\s+(?:network|firewall)"
    r"|network\s+(?:port\s+|access\s+)?(?:was\s+|has\s+been\s+)?(?:blocked|disabled|shut)"
    # "network access of the host was blocked", "network connectivity of
    # wn12 has been cut", "the VM is shut off from the network"
    r"|network\s+(?:access|connectivity)\s+(?:of|to|for)\s+(?:[^.;:!?\n]|\.(?=\S)){1,40}?"
    r"\s+(?:was\s+|were\s+|has\s+been\s+|have\s+been\s+|is\s+)?(?:now\s+)?"
    r"(?:blocked|disabled|cut|shut|removed|revoked)"
    r"|(?:shut|closed|sealed)\s+off(?:\s+from\s+(?:the\s+)?(?:network|net|internet))?"
    r"|(?:vm|instance|virtual\s+machine)\s+(?:was\s+|has\s+been\s+|is\s+)?(?:paused|suspended)"
    r"|(?:paused|suspended)\s+the\s+(?:vm|instance|virtual\s+machine)"
    r"|snapshot\s+(?:was\s+|has\s+been\s+)?taken"
    # "we took ui01 (192.0.2.10) off the network", "took both nodes offline"
    # (a dot inside an address or a name does not end the sentence)
    r"|(?:took|cut|removed)\b(?:[^.;:!?\n]|\.(?=\S)){0,40}?\b(?:off(?:line|\s+(?:from\s+)?(?:the\s+)?"
    r"(?:network|net|internet))|from\s+the\s+network)"
    # German, French, Italian, Dutch, Spanish and Portuguese, and the other
    # languages of the fact words (extract/prose.py): the site's own words
    # that the host is cut off, in its past participle or a past tense.
    r"|isoliert|vom\s+(?:netz|netzwerk|internet)\s+(?:genommen|getrennt)"
    r"|(?:netz|netzwerk)\s+getrennt|offline\s+genommen|in\s+quarantäne"
    r"|isolée?s?|déconnectée?s?|mise?s?\s+hors\s+(?:ligne|réseau)|coupée?s?\s+du\s+réseau"
    r"|mise?s?\s+en\s+quarantaine"
    r"|isolat[oaie]|scollegat[oaie]|disconness[oaie]|mess[oaie]\s+offline|in\s+quarantena"
    r"|ge[ïi]soleerd|losgekoppeld|offline\s+gehaald|(?:van|uit)\s+het\s+netwerk\s+gehaald"
    r"|in\s+quarantaine\s+geplaatst"
    r"|aislad[oa]s?|aislamos|desconectad[oa]s?|desconectamos|isolad[oa]s?|isolamos"
    r"|izolat\w*|deconectat\w*|frånkopplad|odłączon\w*|irrotettiin|odpojen\w*"
    r"|odpojil\w*|leválaszt\w*"
    # Polish and Czech "isolated" (a breaker's brk12: the languages the
    # README promises)
    r"|(?:od)?izolowan\w*|(?:od)?izolov[áa]n\w*)\b",
    re.I,
)
# A VM suspended or a host blocked whatever stands before the verb (a
# breaker's repro-9), apart: these branches start at common words ("is",
# "blocked"), so only a text that holds "paus", "suspend" or "block" is
# searched for them (`MAY_SAY_MORE`).
ISOLATION_MORE_RE = re.compile(
    # "it is suspended now", "the VM was compromised and is suspended now":
    # the subject may stand further back (not a user or an account: see
    # _NOT_A_HOST_RE).
    # "Until we know more, the VM stays suspended"
    r"\b(?:(?:was|is|are|were|got|has\s+been|have\s+been|stays|remains|is\s+kept)\s+"
    r"(?:now\s+)?(?:paused|suspended)"
    r"|(?:paused|suspended)\s+(?:it|them|" + _HOST_WORDS + r""
    # "we suspended the user's VM" (whose it is: see _of_a_host)
    r"|(?:the|this|that|our|both|all|affected|compromised)\s+(?:[\w']+\s+){0,2}?"
    + _HOST_WORDS
    + r")"
    # "we blocked the host at the network (level)", "blocked it on the
    # firewall": the host itself, not an address or the attacker's traffic.
    # An address blocked is the site's host only inside its own networks
    # ("we blocked 192.0.2.130 at the firewall": see _of_a_host).
    r"|blocked\s+(?:" + _HOST_REF + r"|(?:the\s+)?(?:[\w']+\s+){0,2}?" + _ADDRESS + r")"
    # "192.0.2.130 (our UI)"
    r"(?:\s+\([^()\n]{0,40}\))?"
    # "... the host and the attacker's IP at the firewall": the host too
    r"(?:\s+and\s+(?:[^.;:,!?\n]|\.(?=\S)){1,40}?)?"
    r"\s+(?:at|on)\s+(?:the\s+)?(?:network|firewall))\b",
    re.I,
)
MAY_SAY_MORE = ("paus", "suspend", "block")

# The other ways sites say a host is cut off, a family each. Searched when
# a text holds one of their words (`CUT_OFF`).
_CABLE = (
    # "we pulled the network cable (of wn12)", "unplugged the uplink", "the
    # ethernet cable of ui01 was removed", "pulled the plug"
    r"(?:pulled|removed|disconnected|unplugged)\s+(?:the|its|their|all|both)\s+"
    r"(?:(?:network|ethernet|lan|fib(?:re|er)|patch|uplink)\s+)?(?:cables?|plugs?|uplinks?)"
    r"|(?:cables?|uplinks?)\b" + _GAP + r"\s+(?:was|were|has\s+been|have\s+been|is|are)"
    r"\s+(?:now\s+)?(?:pulled|removed|disconnected|unplugged)"
)
_QUARANTINE_NET = (
    # "the host was moved to a quarantine VLAN", "we put wn12 into the
    # isolation network", "the VM is now in a forensic subnet"
    r"(?:(?:moved|put|placed|migrated|transferred|switched|re-?patched|connected)\b"
    + _GAP
    + r"|(?:is|are|was|were|has\s+been|have\s+been|now|sits|stays|remains)\s+"
    r"(?:now\s+)?)"
    r"\b(?:to|into|in|onto|on)\s+(?:an?|the|our|its|their)\s+(?:[\w-]+\s+)?"
    r"(?:quarantine|isolation|forensics?|sandbox|containment)[\s-]*"
    r"(?:vlan|network|subnet|segment|zone|net)s?(?!\s*(?:share|drive|storage|folder))"
)
_AIR_GAPPED = r"air[\s-]?gapped"
ISOLATION_WORDS_RE = re.compile(
    r"\b(?:" + "|".join((_CABLE, _QUARANTINE_NET, _AIR_GAPPED)) + r")\b", re.I
)
# No longer on the network, said of a host named before it: "the node is
# offline", "wn12 has no network access anymore", "the VM no longer has
# network connectivity". Its own negation is the statement: not searched
# for denials inside the match.
NO_NETWORK_RE = re.compile(
    r"\b(?P<object>" + _HOST_REF + r")\s+"
    r"(?:(?:is|are|has\s+been|have\s+been|stays|remains|is\s+kept|are\s+kept)\s+"
    r"(?:now\s+)?offline"
    r"|(?:has|have)\s+no\s+(?:more\s+)?(?:network|internet)\s+(?:access|connectivity)"
    r"|no\s+longer\s+(?:has|have)\s+(?:any\s+)?(?:network|internet)\s+"
    r"(?:access|connectivity))\b",
    re.I,
)
# All its traffic stopped, both ways: "all traffic to/from the host is
# dropped at the firewall", "we drop all inbound and outbound traffic of
# wn12", "the firewall blocks all connections to and from 192.0.2.130" (an
# address only in the site's own networks). One way ("outgoing traffic
# from the host is blocked") leaves the host reachable: no isolation.
_TRAFFIC = (
    r"(?:all\s+)?(?:(?:the|its|their)\s+)?"
    r"(?:(?:network|ip|internet|(?:incoming|inbound)\s+and\s+(?:outgoing|outbound)"
    r"|(?:outgoing|outbound)\s+and\s+(?:incoming|inbound))\s+)?"
    r"(?:traffic|connections|connectivity|communication)"
)
_BOTH_WAYS = (
    r"(?:to\s*(?:/|and|&)\s*from|from\s*(?:/|and|&)\s*to|in\s+and\s+out\s+of|of|for)"
)
_TARGET = r"(?:" + _HOST_REF + r"|" + _ADDRESS + r")"
# "... the host is (now) dropped", "... wn12 has been blocked"
_IS_STOPPED = (
    r"(?:(?:is|are|was|were|has\s+been|have\s+been|gets|got)\s+)?(?:now\s+)?"
    r"(?:dropped|blocked|denied|filtered|rejected|cut|stopped|firewalled)"
)
# "we drop ...", "the firewall blocks ..."
_STOPS = (
    r"(?:drop(?:s|ped)?|block(?:s|ed)?|den(?:y|ies|ied)|reject(?:s|ed)?"
    r"|filter(?:s|ed)?|stop(?:s|ped)?|cut)"
)
_TRAFFIC_OF = _TRAFFIC + r"\s+" + _BOTH_WAYS + r"\s+"
TRAFFIC_CUT_RE = re.compile(
    rf"\b(?:{_TRAFFIC_OF}(?P<object>{_TARGET})\s+{_IS_STOPPED}"
    rf"|{_STOPS}\s+{_TRAFFIC_OF}(?P<active>{_TARGET}))\b",
    re.I,
)
# Each family with the words one of which every match of it holds (only
# the text near them is searched: these patterns start at common words)
# and whether a denial inside a match denies it (see events._stated).
CUT_OFF: tuple[tuple[re.Pattern[str], tuple[str, ...], bool], ...] = (
    (
        ISOLATION_WORDS_RE,
        ("cable", "plug", "uplink", "quarantine", "isolation", "forensic",
         "sandbox", "containment", "gapped"),
        True,
    ),
    (
        NO_NETWORK_RE,
        ("offline", "no network", "no internet", "no more", "no longer"),
        False,
    ),
    (TRAFFIC_CUT_RE, ("traffic", "connecti", "communication"), True),
)  # fmt: skip

# Suspended, paused or blocked: of a host, not of a user, an account, a
# certificate or the attacker's address (those are other actions). Looked
# for in the clause before the word.
_NOT_A_HOST_RE = re.compile(
    r"\b(?:users?|accounts?|certificates?|certs?|credentials?|prox(?:y|ies)|jobs?"
    r"|logins?|passwords?|memberships?|tokens?|keys?|attacker'?s?|ips?|address(?:es)?"
    r"|traffic|sources?|ranges?|subnets?|domains?|urls?|ports?|scanners?|c2)\b",
    re.I,
)
# Whichever is named first is what was suspended or blocked: a host (the
# site's: not the attacker's or a C2 server) or another thing. "The user's
# VM" is a host: a word before "'s" only says whose it is.
_HEAD_RE = re.compile(
    r"\b(?P<owner>attacker'?s?|c2|scanners?|malicious|external)\b"
    r"|\b(?:users?|owners?|customers?|tenants?|members?)(?:'s|s')\s"
    r"|(?P<other>" + _NOT_A_HOST_RE.pattern + r")"
    r"|\b(?P<host>" + _HOST_WORDS + r"|" + _HOST_NAME + r")\b"
    r"|(?<![\w.:])(?P<address>" + _ADDRESS + r")(?![\w.:])",
    re.I,
)
_HOST_ACTION_RE = re.compile(r"suspend|paus|block|shut|closed|sealed|offline", re.I)


def of_the_site(match: re.Match[str], clause: str, owns: Owns | None) -> bool:
    """Whether the host the match acts on is the site's: the object it
    names, or what its clause names first when it suspends, blocks or cuts."""
    named = match.groupdict()
    target = named.get("object") or named.get("active")
    if target:
        return _of_a_host(target, owns)
    if not _HOST_ACTION_RE.search(match.group()):
        return True
    # "we blocked 203.0.113.7 and 192.0.2.130 at the firewall": one of the
    # site's own addresses among those blocked is its host blocked.
    blocked = (
        _address(head.group("address") or "")
        for head in _HEAD_RE.finditer(match.group())
    )
    if owns is not None and any(a is not None and owns(a) for a in blocked):
        return True
    return _of_a_host(clause + " " + match.group(), owns)


def _of_a_host(words: str, owns: Owns | None = None) -> bool:
    """Whether what was suspended or blocked in `words` is the site's host:
    the first thing named, or nothing named ("it is suspended now").

    An address is the site's host when it is in the site's own networks
    (`owns`), whatever the words before it call it ("the attacker IP
    192.0.2.130": DOMAIN.md, such an address is never the attacker's), and
    another's otherwise."""
    heads = list(_HEAD_RE.finditer(words))
    for number, head in enumerate(heads):
        if head.group("address"):
            address = _address(head.group("address"))
            if address is None:
                continue  # a time ("09:30:00"), a version
            return owns is not None and owns(address)
        if head.group("owner") or head.group("other"):
            return _names_own_address(words, heads[number:], owns)
        if head.group("host"):
            return True
    return True


def _names_own_address(
    words: str, heads: list[re.Match[str]], owns: Owns | None
) -> bool:
    """Whether the words that name no host at the head of `heads` name an
    address of the site's own networks: "the attacker IP 192.0.2.130"."""
    end = heads[0].end()
    for head in heads[1:]:
        if head.start() - end > 12 or head.group("host"):
            return False
        if head.group("address"):
            return _of_a_host(words[head.start() :], owns)
        end = head.end()
    return False


def _address(
    text: str,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.replace("[", "").replace("]", ""))
    except ValueError:
        return None
