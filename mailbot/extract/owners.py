"""Whose a value is: the site's, one to leave out, or a third party's own.

An address is the site's when it lies in one of the site's networks, a
hostname when it lies under one of the site's domains. A value the context
says to ignore (the CSIRT's own names and addresses), or a reporter's own
name, is no indicator of the incident. A part names the same few values on
many lines: each answer is found once.
"""

from __future__ import annotations

import functools
import ipaddress

from mailbot.extract.addresses import ipv4_number
from mailbot.extract.hosts import is_within
from mailbot.extract.indicators import Indicator
from mailbot.extract.values import Context


class Owners:
    """Answers, for one part's context, whose each value is."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.ignored_domains = tuple(context.ignored_domains)
        self.networks = tuple(str(network) for network in context.site_networks)
        self.ignoring = bool(
            context.ignored_ips or context.ignored_domains or context.reporter_domains
        )
        self.known: dict[tuple[str, str], bool] = {}  # (value, kind): the site's?

    def owned(self, value: str, kind: str) -> bool:
        known = self.known.get((value, kind))
        if known is None:
            known = self.known[value, kind] = self._is_sites(value, kind)
        return known

    def _is_sites(self, value: str, kind: str) -> bool:
        context = self.context
        if kind in ("ipv4", "ipv6"):
            return in_networks(value, self.networks)
        if kind == "hostname":
            return is_within(value, context.site_domains)
        return False

    def kept(self, indicator: Indicator) -> bool:
        context = self.context
        for value in (indicator.value, indicator.host):
            if not value:
                continue
            if value in context.ignored_ips:
                return False
            if is_within(value, self.ignored_domains):
                return False
            if self._reporters(value):
                return False
        return True

    def _reporters(self, name: str) -> bool:
        # A third party's own names (Shadowserver's download link, its wiki)
        # are boilerplate of its report; a site's name below the reporter's
        # domain (a university's grid site) is still the site's.
        context = self.context
        return is_within(name, context.reporter_domains) and not is_within(
            name, context.site_domains
        )


@functools.lru_cache(maxsize=4096)
def in_networks(value: str, names: tuple[str, ...]) -> bool:
    """Whether address or network `value` lies inside one of the networks `names`.

    The networks come as their names: a tuple of strings hashes in C, one of
    ipaddress networks calls Python for every member at every look-up.
    """
    if "/" not in value:
        # An address: its number under each network's mask, several times
        # cheaper than making it a network of one address.
        number, ip_version = ipv4_number(value), 4
        if number is None:
            try:
                ip = ipaddress.ip_address(value)
            except ValueError:
                return False
            number, ip_version = int(ip), ip.version
        for version, mask, firsts in _network_masks(names):
            if version == ip_version and number & mask in firsts:
                return True
        return False
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return any(
        network.version == net.version and network.subnet_of(net)
        for net in _networks(names)
    )


@functools.lru_cache(maxsize=256)
def _networks(names: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(name) for name in names)


@functools.lru_cache(maxsize=256)
def _network_masks(names: tuple[str, ...]) -> tuple[tuple[int, int, frozenset], ...]:
    """(version, mask, first addresses) of the networks, one entry a mask.

    Networks of one size share a mask: an address is looked up among their
    first addresses at once, a loop over the sizes rather than the networks.
    """
    firsts: dict[tuple[int, int], set[int]] = {}
    for net in _networks(names):
        key = (net.version, int(net.netmask))
        firsts.setdefault(key, set()).add(int(net.network_address))
    return tuple((v, mask, frozenset(f)) for (v, mask), f in firsts.items())
