"""The typed values of the extraction stage: what it is given and what it finds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network

# The Incident Analysis Guideline fields of DOMAIN.md, in the template's order.
FIELDS = (
    "detected_by",
    "affected_hosts",
    "evidence",
    "actions_taken",
    "x509_dns",
    "entry_points",
    "attacker_ips",
    "virtual_appliances",
    "losses",
    "suspected_ips",
    "vulnerabilities",
)
EXPECTED_FIELDS = ("detected_by", "affected_hosts", "evidence", "actions_taken")
FACTS = ("discovered_at", "isolated_at", "resolved_at", "lessons_learnt", "resolution")
UNCLASSIFIED = "unclassified"
KINDS = ("ipv4", "ipv6", "hostname", "url", "dn", "cve", "timestamp", "text")


@dataclass(frozen=True)
class Context:
    """What extraction knows besides the text: the site, mailbot itself, the mail.

    `site_domains` (the site's DNS domains) and `subject` (the mail's subject,
    whose forward prefix marks an unlabelled header block as forwarded
    material) extend the contract; both may stay empty. So does
    `reporter_domains`: the registered domains of a third party who wrote
    the mail (its From, Sender and Reply-To). Names and URLs under them are
    the reporter's own (its portal, documentation, download and unsubscribe
    links), not indicators, unless they are also under `site_domains`; an
    address is read as ever. Empty for a site's and the CSIRT's mail.
    """

    site_networks: tuple[IPv4Network | IPv6Network, ...] = ()
    ignored_addresses: frozenset[str] = frozenset()
    ignored_ips: frozenset[str] = frozenset()
    ignored_domains: frozenset[str] = frozenset()
    timezone: str = "UTC"
    reference_time: dt.datetime | None = None
    site_domains: tuple[str, ...] = ()
    subject: str = ""
    reporter_domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finding:
    """One value found in one line of one text part."""

    field: str
    value: str
    kind: str
    part: str
    line: int


def missing(fields: Mapping[str, Sequence[str]]) -> list[str]:
    """The expected fields (DOMAIN.md) that have no value yet, in template order."""
    return [name for name in EXPECTED_FIELDS if not fields.get(name)]
