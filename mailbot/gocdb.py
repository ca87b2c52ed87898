"""Import sites and NGIs from GOCDB XML exports, and write a sites file.

`parse_gocdb` reads one or more exports (get_site and get_ngi output, or one
document holding both) and returns the sites-file structure of INTERFACE.md,
plus a list of warnings under the key "warnings" (the sites file loader
ignores it; sites_merge.render_sites_toml writes it as comments) and, under
"fallbacks", the keys of a site or NGI filled in for want of a usable value
(each with its warning, which sites_merge.merge_sites rewrites when the
existing file's value is kept):

- a site is named by SHORT_NAME (else its NAME attribute), an NGI by NAME,
  in any letter case as mailbot matches them: a site given twice (in two
  spellings too) is the last one, with a warning; ROC is its NGI;
  CSIRT_EMAIL holds its security contacts, several separated by commas,
  semicolons or spaces; TIMEZONE is an IANA zone, or a whole-hour offset
  ("UTC+1") taken as its Etc zone with a warning, else the site gets UTC
  and a warning; COUNTRY_CODE, else COUNTRY (a code or an English name),
  becomes an ISO 3166 alpha-2 code for which public holidays are known;
- its mail domains are those of its CSIRT_EMAIL addresses and of any
  DOMAIN/DOMAIN_NAME elements, leaving out public mail providers and any
  domain that several sites give (NGI-wide security lists are common);
- an NGI comes from an NGI element (NAME, SECURITY_EMAIL) or, without one,
  from the ROC of its sites, with no contacts and a warning;
- a contact that is one of mailbot's own addresses (`own`), and a domain
  holding one, is left out with a warning naming the site or NGI: mailbot
  refuses to start with such a sites file (sites.check_not_own), and the
  import leaves out what it cannot use as it does any bad value.

The XML is untrusted: a document with a DOCTYPE or entity declaration is
refused before any entity is expanded (the parser stops at the declaration),
so neither entity bombs nor external entities can do harm.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zoneinfo
from collections import Counter
from collections.abc import Iterable, Sequence
from xml.parsers import expat

import holidays

from mailbot.config import own_address_problem
from mailbot.errors import MailbotError

MAX_DOCUMENT_BYTES = 64 * 1024 * 1024

PUBLIC_MAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com",
        "yahoo.com", "icloud.com", "gmx.de", "gmx.net", "web.de",
        "protonmail.com", "proton.me", "mail.ru", "yandex.ru",
    }
)  # fmt: skip

# English names GOCDB uses that differ from the holidays package's own.
COUNTRY_ALIASES = {
    "uk": "GB",
    "great britain": "GB",
    "czech republic": "CZ",
    "russian federation": "RU",
    "korea": "KR",
    "republic of korea": "KR",
    "korea, republic of": "KR",
    "macedonia": "MK",
    "fyrom": "MK",
    "moldova, republic of": "MD",
    "republic of moldova": "MD",
    "turkiye": "TR",
    "türkiye": "TR",
    "taiwan, province of china": "TW",
    "viet nam": "VN",
    "iran, islamic republic of": "IR",
    "usa": "US",
    "united states of america": "US",
}
# Two-letter codes in GOCDB that are not ISO 3166.
CODE_ALIASES = {"UK": "GB", "EL": "GR"}

_ADDRESS_RE = re.compile(r"^[^@\s<>]+@([a-z0-9-]+(?:\.[a-z0-9-]+)+)$")


class GocdbError(MailbotError, ValueError):
    """Raised when a GOCDB export cannot be read, or is refused as unsafe."""


def parse_gocdb(
    xml: bytes,
    *more: bytes,
    own: frozenset[str] = frozenset(),
    names: Sequence[str] = (),
) -> dict:
    """The sites-file structure of one or more GOCDB exports, merged;
    `own` holds mailbot's own addresses, which no entry may give, and
    `names` the documents' (file) names, which their errors start with."""
    warnings: list[str] = []
    ngis: dict[str, dict] = {}
    sites: dict[str, dict] = {}
    fallbacks: list[dict] = []
    for index, document in enumerate((xml, *more)):
        try:
            root = _export_root(document)
        except GocdbError as exc:
            if index < len(names):
                raise GocdbError(f"{names[index]}: {exc}") from None
            raise
        for element in root.iter("NGI"):
            _merge_ngi(ngis, _ngi_entry(element, warnings, fallbacks, own), warnings)
        for element in root.iter("SITE"):
            mark = len(fallbacks)
            entry = _site_entry(element, warnings, fallbacks, own)
            if entry is None:
                continue
            key = entry["name"].lower()
            if (first := sites.get(key)) is not None:
                _drop_fallbacks(fallbacks, warnings, key, mark)
                warnings.append(_given_twice("site", first["name"], entry["name"]))
            sites[key] = entry
    _drop_shared_domains(sites.values(), warnings)
    _warn_shared_contacts(sites.values(), warnings)
    _add_roc_ngis(ngis, sites.values(), warnings, fallbacks)
    return {
        "ngi": [ngis[name] for name in sorted(ngis)],
        "site": [sites[name] for name in sorted(sites)],
        "warnings": warnings,
        "fallbacks": fallbacks,
    }


def _given_twice(kind: str, first: str, last: str) -> str:
    if first == last:
        return f"{kind} {last}: given twice, the last wins"
    # The sites file matches names in any case: it cannot hold both.
    return (
        f"{kind} {last}: given also as {first}, the last wins (mailbot tells"
        f" {kind}s apart by name in any letter case)"
    )


def _fallback(
    fallbacks: list[dict], warnings: list[str], where: str, key: str, warning: str
) -> None:
    """Note that `where` ("site NAME", "NGI NAME") gets a default `key`;
    "site" holds a site's name in lower case (an NGI's: "")."""
    kind, name = where.split(" ", 1)
    site = name.lower() if kind == "site" else ""
    fallbacks.append(
        {
            "kind": kind.lower(),
            "name": name,
            "site": site,
            "key": key,
            "warning": warning,
        }
    )
    warnings.append(warning)


def _drop_fallbacks(
    fallbacks: list[dict], warnings: list[str], site: str, before: int
) -> None:
    """Forget the defaults of site `site` noted before index `before`: a
    later entry of the same name replaces that one."""
    for fallback in [f for f in fallbacks[:before] if f["site"] == site]:
        fallbacks.remove(fallback)
        if fallback["warning"] in warnings:
            warnings.remove(fallback["warning"])


def _export_root(document: bytes) -> ET.Element:
    """The root of a GOCDB export, refused when it holds no SITE or NGI."""
    root = parse_xml(document)
    if next(root.iter("NGI"), None) is None and next(root.iter("SITE"), None) is None:
        # A login or error page, or another XML: reading it as an export
        # with no sites would rewrite the sites file for nothing.
        raise GocdbError(
            f"the export holds no SITE or NGI element (its root is"
            f" <{' '.join(root.tag.split())[:40]}>): it is no get_site or get_ngi"
            " output of GOCDB (a login or error page?)"
        )
    return root


def parse_xml(document: bytes) -> ET.Element:
    """Parse untrusted XML into an element tree; refuse any DTD."""
    if len(document) > MAX_DOCUMENT_BYTES:
        raise GocdbError(f"the export is over {MAX_DOCUMENT_BYTES} bytes")
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_entity
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(document, True)
    except expat.ExpatError as exc:
        raise GocdbError(f"the export is not well-formed XML: {exc}") from None
    return builder.close()


def _refuse_doctype(*_: object) -> None:
    raise GocdbError(
        "the export has a DOCTYPE declaration; GOCDB exports have none, and DTDs "
        "can expand entities without bound, so it is refused"
    )


def _refuse_entity(*_: object) -> int:
    raise GocdbError("the export declares or references entities; it is refused")


def _text(element: ET.Element, tag: str) -> str:
    child = element.find(tag)
    return (child.text or "").strip() if child is not None else ""


def _addresses(
    text: str, where: str, warnings: list[str], own: frozenset[str]
) -> list[str]:
    found: list[str] = []
    for part in re.split(r"[,;\s]+", text):
        address = part.strip().strip("<>").removeprefix("mailto:").lower()
        if not address:
            continue
        if _ADDRESS_RE.match(address) is None:
            warnings.append(f"{where}: {part!r} is no mail address, left out")
        elif problem := own_address_problem(address, own, _OWN_FIX):
            warnings.append(f"{where}: {problem}")
        elif address not in found:
            found.append(address)
    return found


# What to do about a contact that is mailbot's own (config.own_address_problem).
_OWN_FIX = "its own security contact in GOCDB (this one is left out)"


def _ngi_entry(
    element: ET.Element, warnings: list[str], fallbacks: list[dict], own: frozenset[str]
) -> dict | None:
    name = _text(element, "NAME")
    if not name:
        return None
    where = f"NGI {name}"
    contacts = _addresses(_text(element, "SECURITY_EMAIL"), where, warnings, own)
    if not contacts:
        warning = f"{where}: no usable SECURITY_EMAIL, no security contact"
        _fallback(fallbacks, warnings, where, "security_contacts", warning)
    return {"name": name, "security_contacts": contacts}


def _merge_ngi(ngis: dict[str, dict], entry: dict | None, warnings: list[str]) -> None:
    if entry is None:
        return
    known = ngis.setdefault(entry["name"].lower(), {"name": entry["name"]})
    if known["name"] != entry["name"]:
        warnings.append(
            f"NGI {entry['name']}: given also as {known['name']}, taken as one NGI"
            " (mailbot tells NGIs apart by name in any letter case)"
        )
    contacts = known.setdefault("security_contacts", [])
    contacts.extend(c for c in entry["security_contacts"] if c not in contacts)


def _site_entry(
    element: ET.Element,
    warnings: list[str],
    fallbacks: list[dict],
    own: frozenset[str],
) -> dict | None:
    name = _text(element, "SHORT_NAME") or element.get("NAME", "").strip()
    if not name:
        warnings.append(f"a SITE (ID {element.get('ID', '?')}) has no name, left out")
        return None
    where = f"site {name}"
    contacts = _addresses(_text(element, "CSIRT_EMAIL"), where, warnings, own)
    if not contacts:
        warning = f"{where}: no usable CSIRT_EMAIL, no security contact"
        _fallback(fallbacks, warnings, where, "security_contacts", warning)
    entry: dict = {"name": name}
    if roc := _text(element, "ROC"):
        entry["ngi"] = roc
    timezone = _timezone(_text(element, "TIMEZONE"), where, warnings)
    if timezone is None:
        _fallback(fallbacks, [], where, "timezone", warnings[-1])
    entry["timezone"] = timezone or "UTC"
    country = _country(element, where, warnings)
    if country:
        entry["country"] = country
    entry["security_contacts"] = contacts
    entry["domains"] = _domains(element, contacts)
    for domain in [d for d in entry["domains"] if _holds_own(d, own)]:
        entry["domains"].remove(domain)
        warnings.append(
            f"{where}: domain {domain} holds mailbot's own address, left out:"
            " mail from there would count as the site's"
        )
    return entry


def _timezone(name: str, where: str, warnings: list[str]) -> str | None:
    """The IANA zone `name`, or None (with a warning) when there is none."""
    if not name:
        warnings.append(f"{where}: no TIMEZONE, using UTC")
        return None
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        pass
    else:
        return name
    offset = _OFFSET.fullmatch(name.strip())
    if offset is not None and not int(offset["minutes"] or 0):
        hours = int(offset["hours"]) * (-1 if offset["sign"] == "-" else 1)
        if -12 <= hours <= 14:
            # The Etc zones name the offset with the sign turned (POSIX).
            zone = f"Etc/GMT{-hours:+d}" if hours else "UTC"
            warnings.append(
                f"{where}: TIMEZONE {name!r} is a fixed offset, using {zone}, "
                "which keeps no summer time: name the site's IANA zone (such "
                "as Europe/Paris) in the sites file"
            )
            return zone
    warnings.append(
        f"{where}: TIMEZONE {name!r} is no IANA zone, using UTC: name the "
        "site's zone (such as Europe/Paris) in the sites file"
    )
    return None


# "UTC+1", "GMT -05:00", "UTC+0100": a zone given as an offset from UTC.
_OFFSET = re.compile(
    r"(?:UTC|GMT)\s*(?P<sign>[+-])\s*(?P<hours>\d{1,2})(?::?(?P<minutes>\d{2}))?",
    re.I,
)


def _country(element: ET.Element, where: str, warnings: list[str]) -> str | None:
    given = [_text(element, "COUNTRY_CODE"), _text(element, "COUNTRY")]
    given = [value for value in given if value]
    for value in given:
        code = country_code(value)
        if code is not None:
            return code
    if given:
        warnings.append(f"{where}: no public holidays known for {given[-1]!r}")
    return None


def country_code(value: str) -> str | None:
    """The ISO 3166 alpha-2 code of a code or English country name.

    Only countries the holidays package knows count: the code is used for
    public holidays, and an unknown one would be refused later.
    """
    text = value.strip()
    supported = holidays.list_supported_countries()
    if len(text) == 2 and text.isalpha():
        given = CODE_ALIASES.get(text.upper(), text.upper())
        return given if given in supported else None
    code: object = COUNTRY_ALIASES.get(text.lower())
    if code is None:
        # The holidays package names its classes after the English names.
        class_name = "".join(w.capitalize() for w in re.findall(r"[A-Za-z]+", text))
        found = getattr(holidays, class_name, None) if class_name else None
        code = getattr(found, "country", None)
    if isinstance(code, str) and len(code) == 2 and code in supported:
        return code
    return None


def _domains(element: ET.Element, contacts: list[str]) -> list[str]:
    listed = [d.text or "" for d in element.iter("DOMAIN_NAME")]
    candidates = [c.rsplit("@", 1)[1] for c in contacts] + listed
    domains: list[str] = []
    for domain in candidates:
        domain = domain.strip().lower().rstrip(".")
        if domain and domain not in PUBLIC_MAIL_DOMAINS and domain not in domains:
            domains.append(domain)
    # A site owns the subdomains of its domains, so listing them adds nothing.
    return [d for d in domains if not any(d.endswith("." + p) for p in domains)]


def _holds_own(domain: str, own: frozenset[str]) -> bool:
    """Whether one of mailbot's addresses `own` is at `domain` or below it."""
    return any(
        (at := a.rsplit("@", 1)[-1]) == domain or at.endswith("." + domain) for a in own
    )


def _drop_shared_domains(sites: Iterable[dict], warnings: list[str]) -> None:
    # A domain that several sites give (an NGI-wide list, a shared
    # institution) cannot tell those sites apart, so none of them gets it.
    sites = list(sites)
    counts = Counter(d for site in sites for d in site["domains"])
    shared = sorted(domain for domain, count in counts.items() if count > 1)
    for domain in shared:
        warnings.append(f"domain {domain} is given by {counts[domain]} sites, left out")
    for site in sites:
        site["domains"] = [d for d in site["domains"] if d not in shared]


def _warn_shared_contacts(sites: Iterable[dict], warnings: list[str]) -> None:
    # A contact several sites give (a university's central CERT) is kept:
    # mail from it is the site's its subject or text names (roles.py).
    holders: dict[str, list[str]] = {}
    for site in sites:
        for contact in site["security_contacts"]:
            holders.setdefault(contact.lower(), []).append(site["name"])
    for contact, names in sorted(holders.items()):
        if len(names) > 1:
            warnings.append(
                f"security contact {contact} is given by sites {', '.join(names)}:"
                " its mail counts for the one it names, else for the first"
            )


def _add_roc_ngis(
    ngis: dict[str, dict],
    sites: Iterable[dict],
    warnings: list[str],
    fallbacks: list[dict],
) -> None:
    for site in sites:
        roc = site.get("ngi")
        if roc and roc.lower() not in ngis:
            ngis[roc.lower()] = {"name": roc, "security_contacts": []}
            warning = f"NGI {roc}: no NGI element, so no security contact"
            _fallback(fallbacks, warnings, f"NGI {roc}", "security_contacts", warning)
