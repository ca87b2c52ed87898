"""IP addresses worth reporting, read from the text of a candidate.

An address is worth reporting unless it is unspecified, loopback,
multicast or link-local; an IPv4-mapped IPv6 address is its IPv4 address. A
dotted number ("192.0.2.5", "10.0.0.0/8", BSD's "192.0.2.5.22") is read
without ipaddress where it can be: a log holds thousands of addresses.
The scanners of indicators.py find the candidates.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Final

# Digits first, the look-behind after the first one: see the note on speed
# in indicators.py.
DOTTED: Final = re.compile(
    r"\d(?<![\w.]\d)\d{0,2}(?:\.\d{1,5})+(?:/\d{1,2}(?!\d|\.\d))?"
)
_CIDR_ONLY: Final = re.compile(r"/\d{1,2}\Z")


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


@functools.lru_cache(maxsize=4096)
def dotted_item(run: str) -> tuple[str, str] | None:
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


@functools.lru_cache(maxsize=4096)
def v6_item(run: str) -> tuple[str, str] | None:
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
