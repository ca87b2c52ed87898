"""Indicators in one line of text: addresses, networks, URLs, hostnames, DNs, CVEs.

Each scanner reports spans of the line so that later steps can read the words
around an indicator. Order matters: DNs claim their spans first (a mail
address may be part of one), then mail addresses are blanked (their domains
are not hosts), URLs claim their spans before the hostname scanner runs, so a
host inside a DN or URL is not reported twice.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable
from typing import Final, NamedTuple

from mailbot.extract.dn import dn_at, dn_runs, in_url
from mailbot.extract.hosts import is_hostname
from mailbot.extract.shape import has_digit, keep_plan, shape

_MAIL: Final = re.compile(
    r"(?<![\w.+%=-])[\w.+%=-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+", re.IGNORECASE
)
_URL: Final = re.compile(
    r"(?<![a-z])(?:https?|ftps?|sftp)://[^\s<>\"'`{}|\\^\[\]]+", re.IGNORECASE
)
# Speed: a pattern whose first item is a character class lets the regex
# engine skip to the positions where that class occurs; a look-behind first,
# or IGNORECASE on letters, makes it try every position of the line. So the
# look-behinds stand after the first character and cases are spelled out.
_DOTTED: Final = re.compile(
    r"\d(?<![\w.]\d)\d{0,2}(?:\.\d{1,5})+(?:/\d{1,2}(?!\d|\.\d))?"
)
_V6: Final = re.compile(
    r"(?=[0-9a-fA-F:])(?<![\w:.])[0-9a-fA-F]{0,4}:[0-9a-fA-F:.]{2,}[0-9a-fA-F]"
    r"(?:%\w+)?"
)
_HOST: Final = re.compile(
    r"(?<![\w@/\\=.:-])(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+"
    r"(?:[a-zA-Z]{2,63}|[xX][nN]--[a-zA-Z0-9-]{1,59})\.?(?![\w@(-]|\.\w)"
)
_CVE: Final = re.compile(r"\bCVE-(\d{4})-(\d{4,7})\b", re.IGNORECASE)
# A dotted number after these words is a version, not an address.
_VERSION: Final = re.compile(
    r"\b(?:version|ver|firmware|build|release|kernel|revision|rev|patch|update"
    r"|upgrade|agent|v)\b[\s:=#]*(?:is[\s]+|was[\s]+)?\Z",
    re.IGNORECASE,
)
# ... and so is one right after the name of a package, a library or a tool
# whose versions have four numbers ("openssl 1.1.1.1", "glibc 2.34.0.1",
# "nordugrid-arc-6.20.1.0", "xmrig/6.21.0.1"), written with a blank, "-" or
# "/". Names of services that are also hosts' names (squid, redis, a
# database) are not here: "squid 192.0.2.3" names the proxy's address. No
# name holds a digit: refusals are kept per shape of the line.
_SOFTWARE_WORDS: Final = (
    "openssl openssh glibc libc cvmfs arc xmrig cpuminer sudo polkit pkexec bash"
    " systemd curl wget libssh zlib xz busybox python perl php ruby java openjdk"
    " jdk jre firefox chrome chromium linux centos rhel almalinux rocky ubuntu"
    " debian fedora windows macos jenkins gitlab wordpress drupal moodle voms"
    " globus gridftp singularity apptainer docker podman kubernetes kubelet slurm"
    " htcondor condor dcache xrootd dirac rucio openstack esxi vmware qemu"
    " libvirt samba openldap exim postfix dovecot"
    # Applications sites run and name with their version ("running Zimbra
    # 8.8.15.1 when it was hacked", a retester's finding).
    " zimbra confluence jira exchange nextcloud owncloud tomcat fortios"
    " fortigate ivanti citrix netscaler roundcube vcenter keycloak jupyterhub"
    " openvpn webmin cpanel plesk phpmyadmin teamcity struts elasticsearch"
    " proftpd vsftpd mattermost"
)
_SOFTWARE: Final = frozenset(_SOFTWARE_WORDS.split())
# ... and so are both numbers of an upgrade: "updated Zimbra from 8.8.15.1
# to 8.8.15.2", "upgraded from 4.3.2.1 to 4.3.3.0", "patched openssl from
# version 1.1.1.1 to 1.1.1.2". Only the words tell: "from 203.0.113.7 to
# 192.0.2.10" is a connection, and a range of addresses ("192.0.2.10 to
# 192.0.2.20") reads like a pair of versions, so its numbers decide nothing
# (and they may not: a refusal holds for every line of a shape). The verb
# (not the noun "update": the malware "downloaded an update from" its C2)
# comes at most three words before "from", none ending a clause.
_UPGRADE: Final = (
    r"\b(?:upgrad(?:e|ed|es|ing)|downgrad(?:e|ed|es|ing)|updat(?:ed|ing)"
    r"|patch(?:ed|ing)|bump(?:s|ed|ing)?)(?:[ \t]+[\w+/-]+(?:\.[\w+/-]+)*){0,3}[ \t]+"
)
_VERSION_WORD: Final = r"(?:version[ \t]+|ver\.?[ \t]*|v)?"
_UPGRADE_FROM: Final = re.compile(
    _UPGRADE + r"from[ \t]+" + _VERSION_WORD + r"\Z", re.I
)
# The first number of "from X to Y", that a version makes a version too.
_FROM_TO: Final = re.compile(
    r"\bfrom[ \t]+"
    + _VERSION_WORD
    + r"(\d+(?:\.\d+)+)[ \t]+to[ \t]+"
    + _VERSION_WORD
    + r"\Z",
    re.I,
)
# "X -> Y": the second number of a pair whose first is a version.
_ARROW: Final = re.compile(
    r"(\d+(?:\.\d+)+)[ \t]*(?:->|→|=>)[ \t]*" + _VERSION_WORD + r"\Z", re.I
)
# "openssh from", "Our Zimbra went from", "patched sudo to": a name of
# _SOFTWARE among the three words before "from" or "to" (the verb need not
# be one of _UPGRADE then).
_WORDS_BEFORE: Final = re.compile(
    r"((?:[\w+/-]+[ \t]+){1,3})(from|to)[ \t]+" + _VERSION_WORD + r"\Z", re.I
)
# After "from X": " to " and another dotted number.
_TO_VERSION: Final = re.compile(
    r"\d+(?:\.\d+)+[ \t]+to[ \t]+" + _VERSION_WORD + r"\d+\.\d", re.I
)
# "upgraded (Zimbra) to 8.8.15.2": not "updated the record to 192.0.2.5".
_UPGRADE_TO: Final = re.compile(
    r"\b(?:upgrad|downgrad)\w*(?:[ \t]+[\w+/-]+(?:\.[\w+/-]+)*){0,3}[ \t]+to[ \t]+"
    + _VERSION_WORD
    + r"\Z",
    re.I,
)
# A dotted number followed by the extension of an archive or a package is
# a version in a file's name ("kinsing-1.2.3.4.tgz",
# "pkg-10.20.30.40.dist-info", "1.2.3.4.tar.gz"); so is one joined by "-"
# or "_" to a name with a letter and followed by no extension
# ("kinsing-1.2.3.4 was started"), while "auth-203.0.113.44.log" is the log
# of an address.
_NAMED: Final = re.compile(r"[A-Za-z][\w]*[-_]\Z")
_PACKAGE_FILE: Final = re.compile(
    r"\.(?:tar\.(?:gz|bz2|xz|zst)|tgz|tbz2?|txz|zip|7z|rpm|s?rpm|deb|whl|egg"
    r"|dist-info|egg-info|jar|war|ear|gem|apk|msi|dmg|pkg|nupkg|snap)(?![\w-])",
    re.I,
)
_VO: Final = re.compile(r"\bVOs?[ \t]+\Z")
_CIDR_ONLY: Final = re.compile(r"/\d{1,2}\Z")


# The `host` of a DN whose last value may have run into prose.
UNSURE_DN: Final = "?"


class Indicator(NamedTuple):
    """One indicator and where it stands in its line.

    A named tuple, not a dataclass: a line may give many, and a tuple is made
    several times faster.
    """

    value: str
    kind: str
    start: int
    end: int
    host: str = ""  # for a URL: the host it names (an address or a hostname)
    # (for a DN: UNSURE_DN when where it ends is unsure)


def _made(fields: tuple[str, str, int, int, str]) -> Indicator:
    """`Indicator(*fields)`, without the Python-level `__new__` of a named tuple.

    That `__new__` only hands its arguments to `tuple.__new__`; called
    directly, a compiled scanner (setup.py) makes its indicator in C instead
    of in a Python frame, and an interpreted one saves a frame too.
    """
    return tuple.__new__(Indicator, fields)


def scan(line: str, reference_year: int = 9999) -> list[Indicator]:
    """Every indicator in `line` (already refanged), in order of position."""
    # A line without digits has no shape but itself: the line cache answers it.
    if len(line) > _PLANNED or not has_digit(line):
        return _read(line, reference_year)[0]
    key = shape(line)
    plan = _PLANS.get(key)
    if plan is not None:
        found = _follow_plan(line, reference_year, plan)
        if found is not None:
            return found
        earlier = _EARLIER_PLANS.get(key)
        if earlier is not None:
            for other in reversed(earlier):
                found = _follow_plan(line, reference_year, other)
                if found is not None:
                    return found
    steps: list[_Step] = []
    found, unordered = _read(line, reference_year, steps)
    keep_plan(_PLANS, _EARLIER_PLANS, _PLANS_KEPT, key, (steps, unordered))
    return found


# A line's plan: the candidate runs of each scanner, and which of them were
# indicators. No pattern tells one ASCII digit from another, so a line whose
# digits differ (the next record of a log) has the same candidates; only
# whether each is an indicator (an octet over 255, a date, a suffix such as
# 0.bg) depends on the digits and is checked again. When every candidate
# decides as in the plan, the text blanked between the scanners is the same
# too, and so are the candidates of the next scanner, and which scanners
# its guards let run. Per scanner that found candidates (the index of
# _SCANNERS, _MAILS for the mail addresses blanked after the DNs): its candidate
# runs, and what became of each (_NONE, _KEPT, _REFUSED). A scanner without
# candidates finds nothing in any line of the shape, and is not in the plan.
# And whether the scanners' indicators, one scanner after the other, are out
# of order of position (most lines have one scanner's, in order).
_Step = tuple[int, list[tuple[int, int]], list[int]]
_Plan = tuple[list[_Step], bool]
_PLANS: Final[dict[bytes, _Plan]] = {}
_EARLIER_PLANS: Final[dict[bytes, list[_Plan]]] = {}  # see shape.keep_plan
_PLANS_KEPT: Final = 4096
_PLANNED: Final = 500  # longer lines are read without a plan
_MAILS: Final = -1
_AFTER_DNS: Final = 1  # mail addresses are blanked before this scanner


def _read(
    line: str, year: int, record: list[_Step] | None = None
) -> tuple[list[Indicator], bool]:
    """The indicators of `line`, whether they needed sorting, and the steps of
    the plan of its shape in `record`."""
    found: list[Indicator] = []
    text = line
    for index, (guard, hint, candidates, make, keep, blanks) in enumerate(_SCANNERS):
        if index == _AFTER_DNS and "@" in line:
            # Mail addresses after the DNs: an address in a DN is its value
            # ("CN=David Jones djones@example.nl", "/emailAddress=...").
            spans = [match.span() for match in _MAIL.finditer(text)]
            if record is not None and spans:
                record.append((_MAILS, spans, []))
            text = _blank(text, spans)
        present = guard in text if guard else _may_name_cve(text)
        if not present:
            continue
        # Without the hint there are no candidates.
        runs = candidates(text) if hint is None or hint(text) else []
        if not runs:
            continue
        kept, decided = _decide(text, runs, year, make, keep)
        if record is not None:
            record.append((index, runs, decided))
        if kept:
            found += kept
            if blanks:
                text = _blank(text, _claimed(text, kept))
    unordered = any(found[i - 1].start > found[i].start for i in range(1, len(found)))
    if unordered:
        found.sort(key=_start)
    return found, unordered


def _follow_plan(line: str, year: int, plan: _Plan) -> list[Indicator] | None:
    """The indicators of `line` by the plan of its shape; None where it departs."""
    found: list[Indicator] = []
    text = line
    steps, unordered = plan
    for index, runs, decided in steps:
        if index == _MAILS:
            text = _blank(text, runs)
            continue
        _, _, _, make, keep, blanks = _SCANNERS[index]
        kept = _follow(text, runs, decided, year, make, keep)
        if kept is None:
            return None
        if kept:
            found += kept
            if blanks:
                text = _blank(text, _claimed(text, kept))
    if unordered:
        found.sort(key=_start)
    return found


def _start(item: Indicator) -> int:
    return item.start


# What became of a run: no indicator (the digits may decide), an indicator,
# or an indicator that the words before it refuse (which the digits do not
# change: "version 1.2.3.4", "VO example.eu").
_NONE: Final = 0
_KEPT: Final = 1
_REFUSED: Final = 2


# A scanner's halves, typed so that the compiled build calls them as such.
_Runs = list[tuple[int, int]]
_Make = Callable[[str, int, int, int], Indicator | None]
_Keep = Callable[[str, int], bool] | None


def _decide(
    text: str, runs: _Runs, year: int, make: _Make, keep: _Keep
) -> tuple[list[Indicator], list[int]]:
    kept: list[Indicator] = []
    decided: list[int] = []
    for start, stop in runs:
        item = make(text, start, stop, year)
        if item is None:
            decided.append(_NONE)
        elif keep is not None and not keep(text, start):
            decided.append(_REFUSED)
        else:
            decided.append(_KEPT)
            kept.append(item)
    return kept, decided


def _follow(
    text: str, runs: _Runs, decided: list[int], year: int, make: _Make, keep: _Keep
) -> list[Indicator] | None:
    """The indicators of `runs` as the plan decided them; None where it differs."""
    kept: list[Indicator] = []
    for (start, stop), was in zip(runs, decided, strict=True):
        if was == _REFUSED:
            continue
        item = make(text, start, stop, year)
        if was == _KEPT:
            if item is None:
                return None
            kept.append(item)
        elif item is not None and (keep is None or keep(text, start)):
            return None
    return kept


def _claimed(text: str, kept: list[Indicator]) -> list[tuple[int, int]]:
    """The spans that `kept` claims from the next scanners: all but a DN in a
    URL's query, which the URL holds whole ("...?dn=/DC=org/CN=Jane%20Doe")."""
    return [
        (item.start, item.end)
        for item in kept
        if item.kind != "dn" or not in_url(text, item.start)
    ]


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    # Keep positions: replace each span by as many spaces.
    for start, end in spans:
        text = text[:start] + " " * (end - start) + text[end:]
    return text


@functools.lru_cache(maxsize=4096)
def address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """`text` as an address worth reporting, or None (loopback, unspecified...)."""
    number = ipv4_number(text)
    if number is not None:
        return ipaddress.IPv4Address(number) if _reported_v4(number) else None
    if ":" not in text:
        # Not IPv4 as ipaddress reads it (ipv4_number reads the same), and
        # IPv6 needs a colon: ip_address would raise twice, several
        # microseconds for each hostname of a URL and each dotted number
        # with an octet over 255.
        return None
    try:
        # With a colon it is no IPv4 address: ip_address would first try
        # one and raise.
        ip = ipaddress.IPv6Address(text)
    except ValueError:
        return None
    # What ipaddress's properties test, on the number (each property is a
    # test of membership in a network, a microsecond or so): an IPv4-mapped
    # address as its IPv4 address, unspecified, loopback, multicast
    # (ff00::/8), link-local (fe80::/10).
    number = int(ip)
    if number >> 32 == 0xFFFF:
        mapped = number & 0xFFFFFFFF
        return ipaddress.IPv4Address(mapped) if _reported_v4(mapped) else None
    if number <= 1 or number >> 120 == 0xFF or number >> 118 == 0x3FA:
        return None
    return ip


def _reported_v4(number: int) -> bool:
    """Whether the IPv4 address `number` is worth reporting: what ipaddress's
    properties test in `address`, on the number (a log holds thousands of
    addresses, each new to the caches)."""
    first = number >> 24
    if not number or first in (127, 255) or first >> 4 == 14:
        return False  # unspecified, loopback, 255.x, multicast
    return number >> 16 != 0xA9FE  # link-local, 169.254/16


# Cached: a new address is read as a candidate (_v4_item) and then asked
# whether it is the site's (owners.in_networks).
@functools.lru_cache(maxsize=4096)
def ipv4_number(text: str) -> int | None:
    """The number of the IPv4 address `text`, as ipaddress reads it, or None.

    Several times cheaper than ipaddress.IPv4Address(text): four decimal
    octets of at most three ASCII digits, none above 255, no leading zero.
    """
    octets = text.split(".")
    if len(octets) != 4 or not text.isascii():
        return None
    number = 0
    for octet in octets:
        if not octet.isdigit() or len(octet) > 3 or (octet[0] == "0" and octet != "0"):
            return None
        value = int(octet)
        if value > 255:
            return None
        number = number << 8 | value
    return number


def _kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    return "ipv4" if ip.version == 4 else "ipv6"


# Each scanner has two halves: the candidate runs of a text, which do not
# depend on its digits, and the indicator of one run (or None), which may.


def _dotted_runs(text: str) -> list[tuple[int, int]]:
    runs = []
    for match in _DOTTED.finditer(text):
        start, end = match.span()
        following = text[end : end + 1]
        if following.isalpha() or following == "_":
            continue
        if following == "." and _PACKAGE_FILE.match(text, end):
            continue
        runs.append((start, end))
    return runs


def _ipv4(text: str, start: int, end: int, year: int) -> Indicator | None:
    item = _dotted_item(text[start:end])
    return None if item is None else _made((item[0], item[1], start, end, ""))


def _not_version(text: str, start: int) -> bool:
    before = text[max(0, start - 30) : start]
    if _VERSION.search(before) or _after_software(before):
        return False
    if before[-1:] in ("-", "_"):
        if _NAMED.search(before) is None:
            return True
        # "auth-203.0.113.44.log" is a log of the address.
        run = _DOTTED.match(text, start)
        return run is not None and text[run.end() : run.end() + 1] == "."
    if before[-1:] not in (" ", "\t", "v", "."):
        return True
    # The words of an upgrade stand further back.
    before = text[max(0, start - 100) : start]
    if _UPGRADE_FROM.search(before):
        return _TO_VERSION.match(text, start) is None
    if _UPGRADE_TO.search(before):
        return False
    if _software_changed(text, start, before):
        return False
    pair = _FROM_TO.search(before) or _ARROW.search(before)
    return pair is None or _not_version(text, start - len(before) + pair.start(1))


def _software_changed(text: str, start: int, before: str) -> bool:
    """Whether the dotted number at `start` is a version of a software that
    the words before it name: "openssh from X to Y", "Zimbra went from X to
    Y", "patched sudo to X", "updated the kernel to X" (not "updated the DNS
    record to X", "logins via ssh from X to Y")."""
    words = _WORDS_BEFORE.search(before)
    if words is None:
        return False
    named = any(
        word.lower().strip("()") in _SOFTWARE or _VERSION.search(word + " ")
        for word in words.group(1).split()
    )
    if not named:
        return False
    if words.group(2).lower() == "from":
        return _TO_VERSION.match(text, start) is not None
    # "to": only after a verb of change among or before those words.
    return _CHANGE_VERB.search(before, max(0, words.start(1) - 30)) is not None


_CHANGE_VERB: Final = re.compile(
    r"\b(?:updat|patch|bump|upgrad|downgrad)\w*[ \t]+(?:[\w+/-]+[ \t]+){0,2}to[ \t]+"
    + _VERSION_WORD
    + r"\Z",
    re.I,
)


def _after_software(before: str) -> bool:
    """Whether `before` ends with a name of _SOFTWARE and a blank, "-" or "/"."""
    tail = before.rstrip(" \t")
    if tail[-1:] in ("-", "/"):
        tail = tail[:-1].rstrip(" \t")
    elif len(tail) == len(before):
        return False  # "ab1.2.3.4" is no candidate; "x=1.2.3.4" names nothing
    # The last word, and its last piece ("nordugrid-arc", "xmrig/").
    word = tail.rsplit(None, 1)[-1].lower() if tail.strip() else ""
    piece = word[max(word.rfind("-"), word.rfind("/"), word.rfind("(")) + 1 :]
    return piece in _SOFTWARE or word in _SOFTWARE


@functools.lru_cache(maxsize=4096)
def _dotted_item(run: str) -> tuple[str, str] | None:
    """The address or network that the dotted number `run` writes, if any."""
    network = _CIDR_ONLY.search(run)
    digits = run[: network.start()] if network else run
    pieces = digits.split(".")
    if len(pieces) == 5 and not network and int(pieces[4]) <= 65535:
        # BSD netstat and tcpdump write the port as a fifth component.
        pieces = pieces[:4]
    if len(pieces) != 4 or any(len(p) > 3 for p in pieces):
        return None
    return _v4_item(".".join(pieces), network.group(0) if network else "")


def _v4_item(dotted: str, prefix: str) -> tuple[str, str] | None:
    # `address(dotted) is None`, without making the address: `dotted` has no
    # colon, so only ipv4_number can read it.
    number = ipv4_number(dotted)
    if number is None or not _reported_v4(number):
        return None
    if prefix:
        if int(prefix[1:]) > 32:
            return None  # "/33" and beyond name no IPv4 network
        iface = ipaddress.ip_interface(dotted + prefix)
        if iface.ip == iface.network.network_address and iface.network.prefixlen < 32:
            return str(iface.network), "ipv4"
    # Read as an address, four octets without a leading zero are written as
    # ipaddress writes them.
    return dotted, "ipv4"


def _v6_runs(text: str) -> list[tuple[int, int]]:
    runs = []
    for match in _V6.finditer(text):
        candidate = match.group(0).split("%", 1)[0]
        colons = candidate.count(":")
        # An address has "::", or eight groups, or six and an IPv4 tail:
        # "02:33:07" is a time whatever its digits.
        if (colons >= 6 or "::" in candidate) and len(candidate) <= 60:
            runs.append(match.span())
    return runs


def _ipv6(text: str, start: int, end: int, year: int) -> Indicator | None:
    item = _v6_item(text[start:end])
    return None if item is None else _made((item[0], item[1], start, end, ""))


@functools.lru_cache(maxsize=4096)
def _v6_item(run: str) -> tuple[str, str] | None:
    """The address that the IPv6 run `run` writes, if any, and its kind.

    Cached: ipaddress writes an IPv6 address in Python, several
    microseconds a time.
    """
    candidate = run.split("%", 1)[0]
    ip = address(candidate)
    if ip is None and "." in candidate:
        # "2001:db8::5.22": a port written after a dot, as BSD netstat does.
        ip = address(candidate.rpartition(".")[0])
    if ip is None:
        return None
    return str(ip), _kind(ip)


def _url_runs(text: str) -> list[tuple[int, int]]:
    return [match.span() for match in _URL.finditer(text)]


def _url(text: str, start: int, end: int, year: int) -> Indicator | None:
    url = _trim_url(text[start:end])
    scheme, _, rest = url.partition("://")
    authority = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    host = _url_host(authority.rpartition("@")[2])
    if not host:
        return None
    path = rest[len(authority) :]
    value = f"{scheme.lower()}://{authority.lower()}{path}"
    return _made((value, "url", start, start + len(url), host))


def _trim_url(url: str) -> str:
    url = url.rstrip(".,;:!?'\"")
    # A closing parenthesis belongs to the URL only when it opened one.
    while url.endswith(")") and url.count("(") < url.count(")"):
        url = url[:-1].rstrip(".,;:!?")
    return url


def _url_host(authority: str) -> str:
    if authority.startswith("["):
        ip = address(authority[1:].partition("]")[0])
        return str(ip) if ip else ""
    name = authority.rpartition(":")[0] if authority.count(":") == 1 else authority
    ip = address(name)
    if ip is not None:
        return str(ip)
    name = name.lower().rstrip(".")
    return name if is_hostname(name) else ""


def _may_name_cve(text: str) -> bool:
    return "cve" in text or "CVE" in text or "Cve" in text


def _host_runs(text: str) -> list[tuple[int, int]]:
    return [match.span() for match in _HOST.finditer(text)]


def _host(text: str, start: int, end: int, year: int) -> Indicator | None:
    name = text[start:end].lower().rstrip(".")
    return _made((name, "hostname", start, end, "")) if is_hostname(name) else None


def _not_vo(text: str, start: int) -> bool:
    # Virtual organisations have names like domains: "VO example.eu".
    return not _VO.search(text, max(0, start - 6), start)


def _cve_runs(text: str) -> list[tuple[int, int]]:
    return [match.span() for match in _CVE.finditer(text)]


def _cve(text: str, start: int, end: int, reference_year: int) -> Indicator | None:
    match = _CVE.match(text[start:end])
    if match is None:
        return None
    year, number = int(match.group(1)), match.group(2)
    if not 1999 <= year <= reference_year + 1:
        return None
    if len(number) > 4 and number.startswith("0"):
        return None
    return _made((f"CVE-{year}-{number}", "cve", start, end, ""))


def _dn(text: str, start: int, end: int, year: int) -> Indicator | None:
    found = dn_at(text, start, end)
    if found is None:
        return None
    # A DN whose end is unsure (dn._PROSE) says so where a URL names its host.
    return _made((found[2], "dn", start, found[1], UNSURE_DN if found[3] else ""))


def _may_hold_v6(text: str) -> bool:
    # An IPv6 candidate has "::" or six colons (see _v6_runs).
    return "::" in text or text.count(":") >= 6


# A name's last label starts with a letter after a dot after a letter or
# digit: most prose has dots only before spaces, and _HOST tries every
# position of a line.
_MAY_NAME_HOST: Final = re.compile(r"[a-zA-Z0-9]\.[a-zA-Z]").search

# (guard, hint, candidate runs, indicator of a run, test of the words before
# it, blanked for the next scanners). The guard is a string that the text
# holds (the same for every line of a shape, as the plans need), the hint
# (if any) a cheap test that candidates need, tried only when a line is
# read without a plan.
# DNs and URLs claim their spans before the hostname scanner runs; IPv6 goes
# before IPv4, so that "::ffff:192.0.2.9" does not also yield 192.0.2.9.
_Scanner = tuple[
    str, Callable[[str], object] | None, Callable[[str], _Runs], _Make, _Keep, bool
]
_SCANNERS: tuple[_Scanner, ...] = (
    ("=", None, dn_runs, _dn, None, True),
    ("://", None, _url_runs, _url, None, True),
    (":", _may_hold_v6, _v6_runs, _ipv6, None, True),
    (".", None, _dotted_runs, _ipv4, _not_version, False),
    (".", _MAY_NAME_HOST, _host_runs, _host, _not_vo, False),
    ("", None, _cve_runs, _cve, None, False),  # "" stands for _may_name_cve
)
