"""The context extraction reads a mail in, from configuration alone.

Which sites an incident involves (their networks and time zone), mailbot's
own addresses, the relays the mail came through: built here without the
database, so that worker processes (ahead.py) build it as the main process
does.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Set

from mailbot import extract
from mailbot.config import Settings
from mailbot.mail import ParsedMail
from mailbot.sites import Directory

_RECEIVED_IP_RE = re.compile(
    r"[\[(]((?:\d{1,3}\.){3}\d{1,3}|[0-9a-f:.]*:[0-9a-f:.]+)[\])]", re.I
)


def relay_addresses(parsed: ParsedMail) -> frozenset[str]:
    """Every address in the Received headers: mail relays are never indicators."""
    found: set[str] = set()
    for header in parsed.header_all("Received"):
        for candidate in _RECEIVED_IP_RE.findall(header):
            try:
                found.add(str(ipaddress.ip_address(candidate.removeprefix("IPv6:"))))
            except ValueError:
                continue
    return frozenset(found)


def context_of(
    settings: Settings, directory: Directory, names: Set[str], parsed: ParsedMail
) -> extract.Context:
    """The context of a mail in an incident that involves the sites `names`."""
    sites = [s for s in (directory.site(n) for n in sorted(names)) if s is not None]
    networks = tuple(net for s in sites for net in s.networks)
    own = settings.own_addresses | set(settings.csirt.members)
    return extract.Context(
        site_networks=networks,
        ignored_addresses=frozenset(own),
        ignored_ips=relay_addresses(parsed),
        ignored_domains=frozenset({settings.mailbot.domain}),
        timezone=sites[0].timezone if sites else settings.mailbot.timezone,
        reference_time=parsed.date,
    )
