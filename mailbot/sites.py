"""Who is who: NGIs, sites, VOs and CAs from the sites file, and lookups."""

from __future__ import annotations

import ipaddress
import logging
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mailbot import toml_text
from mailbot.address import address_problem, addresses_in
from mailbot.config_env import nearest
from mailbot.config_section import valid_zone
from mailbot.errors import ConfigError

log = logging.getLogger(__name__)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Ngi:
    name: str
    security_contacts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Site:
    name: str
    ngi: str | None = None
    timezone: str = "UTC"
    country: str | None = None
    security_contacts: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    networks: tuple[IPNetwork, ...] = ()
    # Extra days off (ISO dates) beyond the country's public holidays.
    holidays: tuple[str, ...] = ()
    working_hours: tuple[str, str] = ("09:00", "17:00")
    # The working week, as three-letter day names ("sun" to "thu" in Israel).
    weekdays: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")

    def owns_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)

    def owns_domain(self, domain: str) -> bool:
        domain = domain.lower().rstrip(".")
        return any(domain == d or domain.endswith("." + d) for d in self.domains)


@dataclass(frozen=True)
class Contactable:
    """A VO or a CA: something with a name and security contacts to notify."""

    name: str
    security_contacts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Directory:
    """Every NGI, site, VO and CA mailbot knows, with the lookups it needs."""

    ngis: tuple[Ngi, ...] = ()
    sites: tuple[Site, ...] = ()
    vos: tuple[Contactable, ...] = ()
    cas: tuple[Contactable, ...] = ()
    _name_re: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def site(self, name: str | None) -> Site | None:
        if not name:
            return None
        wanted = name.lower()
        return next((s for s in self.sites if s.name.lower() == wanted), None)

    def ngi(self, name: str | None) -> Ngi | None:
        if not name:
            return None
        wanted = name.lower()
        return next((n for n in self.ngis if n.name.lower() == wanted), None)

    def vo(self, name: str) -> Contactable | None:
        return next((v for v in self.vos if v.name.lower() == name.lower()), None)

    def ca(self, name: str) -> Contactable | None:
        return next((c for c in self.cas if c.name.lower() == name.lower()), None)

    def site_by_domain(self, domain: str) -> Site | None:
        """The site whose mail domain is `domain` or a parent of it."""
        best: tuple[int, Site] | None = None
        for site in self.sites:
            if site.owns_domain(domain):
                depth = max(len(d) for d in site.domains if site.owns_domain(domain))
                if best is None or depth > best[0]:
                    best = (depth, site)
        return best[1] if best else None

    def site_by_contact(self, address: str) -> Site | None:
        found = self.sites_by_contact(address)
        return found[0] if found else None

    def sites_by_contact(self, address: str) -> tuple[Site, ...]:
        """The sites giving `address` as a security contact, in file order
        (several when they share one, as a university's central CERT)."""
        address = address.lower()
        return tuple(s for s in self.sites if address in s.security_contacts)

    def site_by_address(self, address: IPAddress) -> Site | None:
        """The site whose networks hold `address`, the most specific first."""
        best: tuple[int, Site] | None = None
        for site in self.sites:
            for network in site.networks:
                if address.version != network.version or address not in network:
                    continue
                if best is None or network.prefixlen > best[0]:
                    best = (network.prefixlen, site)
        return best[1] if best else None

    def sites_named_in(self, text: str) -> list[Site]:
        """Sites whose name stands in `text` as a whole word, in order of mention."""
        if not self.sites:
            return []
        pattern = self._name_re
        if pattern is None:
            names = sorted(
                (re.escape(s.name) for s in self.sites), key=len, reverse=True
            )
            pattern = re.compile(r"(?<![\w-])(" + "|".join(names) + r")(?![\w-])", re.I)
            object.__setattr__(self, "_name_re", pattern)
        seen: list[Site] = []
        for match in pattern.finditer(text):
            site = self.site(match.group(1))
            if site is not None and site not in seen:
                seen.append(site)
        return seen

    def sites_of_ngi_contact(self, address: str) -> tuple[Site, ...]:
        """The sites whose NGI gives `address` as a security contact, in
        file order."""
        address = address.lower()
        return tuple(s for s in self.sites if address in self.ngi_contacts(s))

    def ngi_contacts(self, site: Site) -> tuple[str, ...]:
        ngi = self.ngi(site.ngi)
        return ngi.security_contacts if ngi else ()


def load_directory(path: Path) -> Directory:
    """Read a sites file (TOML, see INTERFACE.md); errors name the entry and key."""
    try:
        _, data = read_sites_toml(path, "point sites.file at one")
    except FileNotFoundError:
        raise ConfigError(
            "sites.file",
            f'{path} does not exist: write it (README, "The sites file"), make'
            " it from GOCDB with `mailbot sites import FILE...`, or point"
            " sites.file at yours",
        ) from None
    directory = directory_from_dict(data, origin=str(path))
    for contact, names in shared_contacts(directory.sites):
        log.warning(
            "security contact %s is given by sites %s: its mail counts for the"
            " one in its thread's incident, else the one its subject or text"
            " names (by name or network), else for %s",
            contact,
            ", ".join(names),
            names[0],
        )
    for first, second in overlapping_networks(directory.sites):
        log.warning(
            "site %s: network %s overlaps site %s's %s; an address in both is"
            " the site's of the smaller network",
            *first,
            *second,
        )
    return directory


def read_sites_toml(path: Path, elsewhere: str) -> tuple[str, dict]:
    """The text of the sites file at `path` and its data. What keeps it from
    being read is a ConfigError of sites.file saying what to correct, or
    `elsewhere` (the other way out: "point sites.file at one"); a file not
    there is the caller's to judge (FileNotFoundError)."""
    if path.exists() and not (path.is_file() or path.is_dir()):
        # A FIFO or a device: reading it would wait, or never end.
        raise ConfigError("sites.file", _unreadable(path, "not a file", elsewhere))
    text = ""
    try:
        text = path.read_text(encoding="utf-8")
        return text, tomllib.loads(text)
    except FileNotFoundError:
        raise
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("sites.file", toml_text.problem(path, text, exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        # Another user's file (the daemon runs as its own), a folder, a
        # file in another encoding: a configuration error, not a crash.
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8"
        problem = _unreadable(path, reason or str(exc), elsewhere)
        raise ConfigError("sites.file", problem) from None


def _unreadable(path: Path, reason: str, elsewhere: str) -> str:
    return (
        f"cannot read {path} ({reason}): make it a UTF-8 file the user mailbot"
        f" runs as can read, or {elsewhere}"
    )


# The keys of each kind of entry; any other is refused as a likely typo.
KEYS = {
    "ngi": ("name", "security_contacts"),
    "site": (
        "name",
        "ngi",
        "timezone",
        "country",
        "security_contacts",
        "domains",
        "networks",
        "holidays",
        "working_hours",
        "weekdays",
    ),
    "vo": ("name", "security_contacts"),
    "ca": ("name", "security_contacts"),
}


def directory_from_dict(data: dict, origin: str = "sites file") -> Directory:
    ngis = tuple(_ngi(e, w) for e, w in _entries(data, "ngi"))
    sites = tuple(_site(e, w) for e, w in _entries(data, "site"))
    vos = tuple(_contactable(e, w) for e, w in _entries(data, "vo"))
    cas = tuple(_contactable(e, w) for e, w in _entries(data, "ca"))
    _check_unique("site", [s.name for s in sites])
    _check_unique("ngi", [n.name for n in ngis])
    _check_ngis_known(sites, ngis)
    return Directory(ngis=ngis, sites=sites, vos=vos, cas=cas)


def _entries(data: dict, kind: str) -> Iterable[tuple[dict, str]]:
    """The entries of one kind, each checked to hold only known keys."""
    for table in sorted(set(data) - set(KEYS)):
        raise ConfigError(
            table,
            f"is no table of a sites file{nearest(table, KEYS)} (ngi, site, vo, ca)",
        )
    entries = data.get(kind, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(kind, f"must be tables written [[{kind}]]")
    for index, entry in enumerate(entries):
        where = f"{kind}[{index}]"
        if isinstance(entry.get("name"), str) and entry["name"].strip():
            where = f"{kind} {entry['name'].strip()}"
        for key in sorted(set(entry) - set(KEYS[kind])):
            raise ConfigError(
                f"{where}.{key}",
                f"is no key of a {kind}{nearest(key, KEYS[kind])} (keys:"
                f" {', '.join(KEYS[kind])})",
            )
        yield entry, where


def check_not_own(directory: Directory, own: frozenset[str]) -> None:
    """No security contact may be mailbot's own address: reminders, copies
    to an NGI and notices to a VO or CA would come back as new mail."""
    from mailbot.config import own_address_problem

    whom = "the entry's own security contacts (or security_contacts = [])"
    for kind, entries in (
        ("ngi", directory.ngis),
        ("site", directory.sites),
        ("vo", directory.vos),
        ("ca", directory.cas),
    ):
        for entry in entries:
            for contact in entry.security_contacts:
                if problem := own_address_problem(contact, own, whom):
                    raise ConfigError(f"{kind} {entry.name}.security_contacts", problem)


def _check_ngis_known(sites: Iterable[Site], ngis: Iterable[Ngi]) -> None:
    # A site's NGI is who its escalations go to: a misspelt name would
    # leave them with no recipient and no word said.
    known = {n.name.lower(): n.name for n in ngis}
    for site in sites:
        if site.ngi is not None and site.ngi.lower() not in known:
            listed = ", ".join(sorted(known.values())) or "none"
            guess = nearest(site.ngi, known.values())
            raise ConfigError(
                f"site {site.name}.ngi",
                f"{site.ngi!r} is no NGI of this file{guess}"
                f" (its NGIs: {listed}); add an [[ngi]] entry named {site.ngi}"
                " (security_contacts may be empty), or correct the name",
            )


def shared_contacts(sites: Iterable[Site]) -> list[tuple[str, list[str]]]:
    """Security contacts that several sites give, with those sites' names."""
    holders: dict[str, list[str]] = {}
    for site in sites:
        for contact in site.security_contacts:
            holders.setdefault(contact, []).append(site.name)
    return [(c, names) for c, names in sorted(holders.items()) if len(names) > 1]


def overlapping_networks(
    sites: Iterable[Site],
) -> list[tuple[tuple[str, IPNetwork], tuple[str, IPNetwork]]]:
    """Pairs of (site, network) of two sites whose networks overlap.

    Two CIDR networks overlap only when one holds the other: sorted by
    first address, widest first, each network's holders are on a stack.
    """
    owned = sorted(
        ((n, s.name) for s in sites for n in s.networks),
        key=lambda item: (item[0].version, item[0].network_address, item[0].prefixlen),
    )
    found: dict[frozenset[str], tuple] = {}
    holders: list[tuple[IPNetwork, str]] = []
    for network, site in owned:
        while holders and not _holds(holders[-1][0], network):
            holders.pop()
        for outer, other in holders:
            if other != site:
                found.setdefault(
                    frozenset((site, other)), ((other, outer), (site, network))
                )
        holders.append((network, site))
    return list(found.values())


def _holds(outer: IPNetwork, inner: IPNetwork) -> bool:
    return outer.version == inner.version and inner.subnet_of(outer)  # type: ignore[arg-type]


def _check_unique(kind: str, names: Iterable[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name.lower() in seen:
            raise ConfigError(f"{kind}.name", f"{name!r} is defined twice")
        seen.add(name.lower())


def _text(entry: dict, key: str, where: str, default: str | None = None) -> str:
    value = entry.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}.{key}", "must be a non-empty string")
    return value.strip()


def _list(entry: dict, key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}.{key}", "must be a list of strings")
    return tuple(
        v.strip().lower() if "@" in v or "." in v else v.strip() for v in value
    )


def _contacts(entry: dict, where: str) -> tuple[str, ...]:
    """Security contacts: each one bare address, as mail headers need."""
    contacts = _list(entry, "security_contacts", where)
    given = entry.get("security_contacts", [])
    # Shown as written: the list above is in lower case.
    for contact in [given] if isinstance(given, str) else given:
        if problem := address_problem(contact.strip()):
            held = addresses_in(contact) or ("a@x.example", "b@x.example")
            listed = ", ".join(f'"{a}"' for a in held[:2])
            raise ConfigError(
                f"{where}.security_contacts",
                f"{contact!r} is not one mail address: it {problem}; write each"
                f" bare address as its own string: [{listed}]",
            )
    return contacts


def _ngi(entry: dict, where: str) -> Ngi:
    return Ngi(
        name=_text(entry, "name", where),
        security_contacts=_contacts(entry, where),
    )


def _contactable(entry: dict, where: str) -> Contactable:
    return Contactable(
        name=_text(entry, "name", where),
        security_contacts=_contacts(entry, where),
    )


def _site(entry: dict, where: str) -> Site:
    name = _text(entry, "name", where)
    timezone = _text(entry, "timezone", where, default="UTC")
    if problem := valid_zone(timezone):
        raise ConfigError(f"{where}.timezone", problem)
    networks = []
    for text in _list(entry, "networks", where):
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ConfigError(f"{where}.networks", f"{text!r} is no network") from None
    hours = entry.get("working_hours", ["09:00", "17:00"])
    if not (isinstance(hours, list) and len(hours) == 2):
        raise ConfigError(f"{where}.working_hours", 'must be like ["09:00", "17:00"]')
    country = entry.get("country")
    ngi = entry.get("ngi")
    if ngi is not None and not isinstance(ngi, str):
        raise ConfigError(f"{where}.ngi", "must be the name of an [[ngi]] entry")
    return Site(
        name=name,
        ngi=ngi.strip() if ngi else None,
        timezone=timezone,
        country=country.upper() if isinstance(country, str) else None,
        security_contacts=_contacts(entry, where),
        domains=tuple(d.lower().rstrip(".") for d in _list(entry, "domains", where)),
        networks=tuple(networks),
        holidays=_list(entry, "holidays", where),
        working_hours=(str(hours[0]), str(hours[1])),
        weekdays=_weekdays(entry, where),
    )


_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = (
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
)  # fmt: skip


def _weekdays(entry: dict, where: str) -> tuple[str, ...]:
    """The site's working days, in week order: English day names, short
    ("Sun") or whole ("Sunday"), at least one."""
    if "weekdays" not in entry:
        return Site.weekdays
    value = entry["weekdays"]
    example = 'like ["Sun", "Mon", "Tue", "Wed", "Thu"]'
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}.weekdays", f"must be a list of day names {example}")
    days = set()
    for day in value:
        name = day.strip().lower() if isinstance(day, str) else ""
        if name in _FULL_DAY_NAMES:
            name = name[:3]
        if name not in _DAY_NAMES:
            raise ConfigError(
                f"{where}.weekdays",
                f"{day!r} is no day name: write Mon, Tue, Wed, Thu, Fri, Sat or"
                f" Sun, {example}",
            )
        days.add(name)
    return tuple(d for d in _DAY_NAMES if d in days)
