"""The context extraction reads a mail in, from configuration alone.

Which sites an incident involves (their networks and time zone), mailbot's
own addresses, the relays the mail came through, a third party's own
domains: built here without the database, so that worker processes
(ahead.py) build it as the main process does.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Set
from email.utils import getaddresses

from mailbot import extract
from mailbot.extract.hosts import is_within, registered_domain
from mailbot.mail import ParsedMail
from mailbot.settings import Settings
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


def reporter_domains(parsed: ParsedMail, directory: Directory) -> tuple[str, ...]:
    """The registered domains a third party writes from: its From, Sender and
    Reply-To. A domain that holds a site's domain is left out: a site's own
    mail taken for a third party's (DMARC failed), a university's security
    team writing about its grid site, still name the site's hosts."""
    addresses = [a.addr for a in (parsed.from_, *parsed.reply_to) if a is not None]
    addresses += [addr for _, addr in getaddresses(parsed.header_all("Sender"))]
    found: list[str] = []
    for address in addresses:
        domain = registered_domain(address.rpartition("@")[2]) if address else None
        if domain is None or domain in found:
            continue
        held = (own for site in directory.sites for own in site.domains)
        if not any(is_within(own, (domain,)) for own in held):
            found.append(domain)
    return tuple(found)


def context_of(
    settings: Settings,
    directory: Directory,
    names: Set[str],
    parsed: ParsedMail,
    role: str,
    written: dt.datetime | None,
) -> extract.Context:
    """The context of a mail by an author of `role` (roles.py) in an incident
    that involves the sites `names`, written at `written` (its plausible Date:
    "yesterday" and a year left out are read from it)."""
    sites = [s for s in (directory.site(n) for n in sorted(names)) if s is not None]
    networks = tuple(net for s in sites for net in s.networks)
    own = settings.own_addresses | set(settings.csirt.members)
    return extract.Context(
        site_networks=networks,
        site_domains=tuple(domain for s in sites for domain in s.domains),
        ignored_addresses=frozenset(own),
        ignored_ips=relay_addresses(parsed),
        ignored_domains=frozenset({settings.mailbot.domain}),
        timezone=sites[0].timezone if sites else settings.mailbot.timezone,
        reference_time=written,
        reporter_domains=(
            reporter_domains(parsed, directory) if role == "reporter" else ()
        ),
    )
