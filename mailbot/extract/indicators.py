"""Indicators in one line of text: addresses, networks, URLs, hostnames, DNs, CVEs.

Each scanner reports spans of the line so that later steps can read the words
around an indicator. Order matters: mail addresses are blanked first (their
domains are not hosts), DNs and URLs claim their spans before the hostname
scanner runs, so a host inside a DN or URL is not reported twice.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import NamedTuple

from mailbot.extract.dn import find_dns
from mailbot.extract.hosts import is_hostname

_MAIL = re.compile(
    r"(?<![\w.+%=-])[\w.+%=-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+", re.IGNORECASE
)
_URL = re.compile(
    r"(?<![a-z])(?:https?|ftps?|sftp)://[^\s<>\"'`{}|\\^\[\]]+", re.IGNORECASE
)
# Speed: a pattern whose first item is a character class lets the regex
# engine skip to the positions where that class occurs; a look-behind first,
# or IGNORECASE on letters, makes it try every position of the line. So the
# look-behinds stand after the first character and cases are spelled out.
_DOTTED = re.compile(r"\d(?<![\w.]\d)\d{0,2}(?:\.\d{1,5})+(?:/\d{1,2}(?!\d|\.\d))?")
_V6 = re.compile(
    r"(?=[0-9a-fA-F:])(?<![\w:.])[0-9a-fA-F]{0,4}:[0-9a-fA-F:.]{2,}[0-9a-fA-F]"
    r"(?:%\w+)?"
)
_HOST = re.compile(
    r"(?<![\w@/\\=.:-])(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+"
    r"(?:[a-zA-Z]{2,63}|[xX][nN]--[a-zA-Z0-9-]{1,59})\.?(?![\w@(-]|\.\w)"
)
_CVE = re.compile(r"\bCVE-(\d{4})-(\d{4,7})\b", re.IGNORECASE)
# A dotted number after these words is a version, not an address.
_VERSION = re.compile(
    r"\b(?:version|ver|firmware|build|release|kernel|revision|rev|patch|update"
    r"|agent|v)\b[\s:=#]*(?:is[\s]+|was[\s]+)?\Z",
    re.IGNORECASE,
)
_VO = re.compile(r"\bVOs?[ \t]+\Z")
_CIDR_ONLY = re.compile(r"/\d{1,2}\Z")


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


def scan(line: str, reference_year: int = 9999) -> list[Indicator]:
    """Every indicator in `line` (already refanged), in order of position."""
    found: list[Indicator] = []
    text = _blank(line, _MAIL.finditer(line)) if "@" in line else line
    if "=" in text:
        dns = [Indicator(v, "dn", s, e) for s, e, v in find_dns(text)]
        found += dns
        text = _blank(text, dns)
    if "://" in text:
        urls = list(_urls(text))
        found += urls
        text = _blank(text, urls)
    if ":" in text:
        # First, so that "::ffff:192.0.2.9" does not also yield 192.0.2.9.
        v6 = _ipv6(text)
        found += v6
        text = _blank(text, v6)
    if "." in text:
        found += _ipv4(text)
    if "." in text:
        found += _hosts(text)
    if "cve" in text or "CVE" in text or "Cve" in text:
        found += _cves(text, reference_year)
    found.sort(key=lambda item: item.start)
    return found


def _blank(text: str, spans) -> str:
    # Keep positions: replace each span by as many spaces.
    for span in spans:
        start, end = (
            (span.start, span.end)
            if isinstance(span, Indicator)
            else (span.start(), span.end())
        )
        text = text[:start] + " " * (end - start) + text[end:]
    return text


@functools.lru_cache(maxsize=4096)
def address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """`text` as an address worth reporting, or None (loopback, unspecified...)."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified or ip.is_loopback or ip.is_multicast or ip.is_link_local:
        return None
    if isinstance(ip, ipaddress.IPv4Address) and str(ip).startswith("255."):
        return None
    return ip


def _kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    return "ipv4" if ip.version == 4 else "ipv6"


def _ipv4(text: str) -> list[Indicator]:
    found = []
    for match in _DOTTED.finditer(text):
        following = text[match.end() : match.end() + 1]
        if following.isalpha() or following == "_":
            continue
        item = _dotted_item(match.group(0))
        if item is None:
            continue
        if _VERSION.search(text[max(0, match.start() - 30) : match.start()]):
            continue
        found.append(Indicator(item[0], item[1], match.start(), match.end()))
    return found


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
    ip = address(dotted)
    if ip is None:
        return None
    if prefix:
        iface = ipaddress.ip_interface(dotted + prefix)
        if iface.ip == iface.network.network_address and iface.network.prefixlen < 32:
            return str(iface.network), "ipv4"
    return str(ip), "ipv4"


def _ipv6(text: str) -> list[Indicator]:
    found = []
    for match in _V6.finditer(text):
        candidate = match.group(0).split("%", 1)[0]
        if candidate.count(":") < 2 or len(candidate) > 60:
            continue
        ip = address(candidate)
        if ip is None and "." in candidate:
            # "2001:db8::5.22": a port written after a dot, as BSD netstat does.
            ip = address(candidate.rpartition(".")[0])
        if ip is None:
            continue
        found.append(Indicator(str(ip), _kind(ip), match.start(), match.end()))
    return found


def _urls(text: str):
    for match in _URL.finditer(text):
        url = _trim_url(match.group(0))
        scheme, _, rest = url.partition("://")
        authority = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        host = _url_host(authority.rpartition("@")[2])
        if not host:
            continue
        path = rest[len(authority) :]
        value = f"{scheme.lower()}://{authority.lower()}{path}"
        yield Indicator(value, "url", match.start(), match.start() + len(url), host)


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


def _hosts(text: str) -> list[Indicator]:
    found = []
    for match in _HOST.finditer(text):
        name = match.group(0).lower().rstrip(".")
        if not is_hostname(name):
            continue
        # Virtual organisations have names like domains: "VO example.eu".
        if not _VO.search(text, max(0, match.start() - 6), match.start()):
            found.append(Indicator(name, "hostname", match.start(), match.end()))
    return found


def _cves(text: str, reference_year: int) -> list[Indicator]:
    found = []
    for match in _CVE.finditer(text):
        year, number = int(match.group(1)), match.group(2)
        if not 1999 <= year <= reference_year + 1:
            continue
        if len(number) > 4 and number.startswith("0"):
            continue
        value = f"CVE-{year}-{number}"
        found.append(Indicator(value, "cve", match.start(), match.end()))
    return found
