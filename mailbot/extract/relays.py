"""Pasted `Received:` headers: a relay chain, read for what it is.

A site reporting a phishing or spam mail pastes its headers. Every hop
names a host "from" which the mail came, and that word made each relay an
attacker's address and the site's own mail server an affected host. A
relay chain says no role by itself: its addresses are unclassified, and
only the first hop's sender (the external address the mail was first
handed over from) is the attacker's, when the mail's own text calls the
mail phishing, spam or malicious, or the block's intro line says it came
from the attacker.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Sequence
from typing import Final

from mailbot.extract.indicators import scan
from mailbot.extract.roles import denied

# Addresses of a sender's own network or of no network: a mail submitted
# from a private address came in from the hop above it.
_INTERNAL: Final = tuple(
    ipaddress.ip_network(name)
    for name in (
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
        "127.0.0.0/8", "169.254.0.0/16", "0.0.0.0/8", "fc00::/7", "fe80::/10",
        "::1/128",
    )
)  # fmt: skip
_FROM: Final = re.compile(r"^[ \t]*received[ \t]*:[ \t]*from[ \t]+(\S+)", re.I)
_BY: Final = re.compile(r"\bby[ \t]+([\w.-]+)", re.IGNORECASE)
# Words by which a mail's text calls the pasted mail bad.
_BAD_MAIL: Final = re.compile(
    r"phish|\bspam|malicious|\bscam|fraud|attacker|spoof", re.IGNORECASE
)
_HEADER_LINE: Final = re.compile(r"^(?:[A-Za-z][\w-]*:|[ \t])")


# One Received header: its (line number, text) lines. An alias, not a
# subclass of list: the compiled build (mypyc) cannot subclass a builtin.
Hop = list[tuple[int, str]]


def origin(
    hops: Sequence[Hop], owned: Callable[[str, str], bool]
) -> tuple[int, str, str] | None:
    """(line number, address, kind) of the first hop's external sender.

    The chain starts at the hop whose sending host no other hop received
    by (pasted newest first, as mail carries them, or oldest first); a
    sender that is the site's or internal is no origin.
    """
    read = [_read(hop) for hop in hops]
    receivers = {by for _, by, _ in read if by}
    starts = [senders for name, _, senders in read if name not in receivers]
    for chain in (starts, [senders for _, _, senders in read]):
        for senders in reversed(chain):
            for number, value, kind in senders:
                if not owned(value, kind) and not _internal(value):
                    return number, value, kind
    return None


def _read(hop: Hop) -> tuple[str, str, list[tuple[int, str, str]]]:
    """The sending host's name, the receiving host's, and the addresses
    written before "by" (the sender's), with their line numbers."""
    name = by = ""
    senders = []
    sending = True
    for number, text in hop:
        start = _FROM.match(text)
        if start is not None and not name:
            name = start.group(1).lower()
        received = _BY.search(text) if sending else None
        clause = text[: received.start()] if received else text
        if sending:
            senders += [
                (number, i.value, i.kind)
                for i in scan(clause, 9999)
                if i.kind in ("ipv4", "ipv6")
            ]
        if received is not None:
            by, sending = received.group(1).lower(), False
    return name, by, senders


@functools.lru_cache(maxsize=1024)
def _internal(value: str) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return True
    return any(address in network for network in _INTERNAL)


def calls_mail_bad(lines: Sequence[str]) -> bool:
    """Whether the text (header lines aside) calls a pasted mail phishing,
    spam, malicious or the attacker's, in words no denial takes back
    ("there is nothing malicious in it", "not phishing")."""
    return any(
        not _HEADER_LINE.match(line) and _says_bad(line)
        for line in lines
        if _BAD_MAIL.search(line)
    )


# What joins two words of one denial: "no sign of phishing or spoofing".
_JOINED: Final = re.compile(r"[ \t]*,?[ \t]+(?:or|and|nor|oder|und|ou|et)[ \t]+")


def _says_bad(line: str) -> bool:
    # "no sign of phishing or spoofing": a word joined to a denied one by
    # "or", "and", "nor" is denied with it.
    previous_end, previous_denied = -1, False
    for word in _BAD_MAIL.finditer(line):
        joined = _JOINED.fullmatch(line, previous_end, word.start())
        if not (previous_denied and joined) and not denied(line, word.start()):
            return True
        previous_end, previous_denied = _word_end(line, word.end()), True
    return False


def _word_end(line: str, at: int) -> int:
    """Where the word that holds `at` ends ("phish" of "phishing")."""
    while at < len(line) and (line[at].isalnum() or line[at] in "-'"):
        at += 1
    return at
