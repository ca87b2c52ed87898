"""Lay a GOCDB import (gocdb.parse_gocdb) over a sites file, and write it.

`merge_sites` keeps what the export does not know (see its docstring);
`render_sites_toml` writes the result as TOML, its warnings as comments.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SITE_ORDER = ("name", "ngi", "timezone", "country", "security_contacts", "domains")
_BARE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+$")


# Keys whose value the export gives and so replaces; every other key of an
# existing entry (networks, holidays, working hours...) is the operator's.
GOCDB_SITE_KEYS = ("ngi", "timezone", "country", "security_contacts")


def merge_sites(existing: dict, imported: dict) -> dict:
    """`imported` (from `parse_gocdb`) laid over an existing sites file's data.

    Sites and NGIs are matched by name, ignoring case. The export's values
    replace the existing ones where it has a usable value; domains are the
    union of both; keys the export does not know, and sites, NGIs, VOs and
    CAs it does not list, are kept (a kept site is named in a warning).
    """
    fallbacks = imported.get("fallbacks", [])
    warnings = _kept_warnings(existing, imported["warnings"], fallbacks)
    ngis = _by_name(existing.get("ngi", []))
    for ngi in imported.get("ngi", []):
        old = ngis.setdefault(ngi["name"].lower(), {"name": ngi["name"]})
        if ngi["security_contacts"] or "security_contacts" not in old:
            old["security_contacts"] = ngi["security_contacts"]
    sites = _by_name(existing.get("site", []))
    seen = set()
    for site in imported.get("site", []):
        key = site["name"].lower()
        seen.add(key)
        weak = [f["key"] for f in fallbacks if f["site"] == key]
        sites[key] = _merge_site(sites.get(key), site, weak)
    for key, site in sites.items():
        if key not in seen:
            warnings.append(f"site {site['name']}: not in the export, kept as it was")
    merged = dict(existing)
    merged.update(
        ngi=sorted(ngis.values(), key=lambda e: e["name"].lower()),
        site=sorted(sites.values(), key=lambda e: e["name"].lower()),
        warnings=warnings,
    )
    return merged


def _kept_warnings(
    existing: dict, warnings: list[str], fallbacks: list[dict]
) -> list[str]:
    """The import's warnings, those of a default the existing file's value
    overrules (a site's time zone, its or an NGI's contacts) said so."""
    said = {}
    for fallback in fallbacks:
        old = _by_name(existing.get(fallback["kind"], [])).get(fallback["name"].lower())
        value = old.get(fallback["key"]) if old is not None else None
        # A value equal to the default (UTC written by an earlier import) is
        # what the warning says the site gets.
        if old is not None and value and value != _DEFAULTS.get(fallback["key"]):
            shown = ", ".join(value) if isinstance(value, list) else str(value)
            where = "NGI" if fallback["kind"] == "ngi" else "site"
            said[fallback["warning"]] = (
                f"{where} {old['name']}: the export gives no usable"
                f" {fallback['key']}; kept from the sites file: {shown}"
            )
    return [said.get(warning, warning) for warning in warnings]


# What the import gives a site for want of a usable value (besides nothing).
_DEFAULTS = {"timezone": "UTC"}


def _by_name(entries: Iterable[dict]) -> dict[str, dict]:
    return {str(e.get("name", "")).lower(): dict(e) for e in entries}


def _merge_site(old: dict | None, new: dict, weak: list[str]) -> dict:
    if old is None:
        return dict(new)
    merged = dict(old)
    for key in GOCDB_SITE_KEYS:
        value = new.get(key)
        has_old = bool(old.get(key))
        if value and not (key in weak and has_old):
            merged[key] = value
    domains = [*old.get("domains", []), *new.get("domains", [])]
    merged["domains"] = list(dict.fromkeys(d.lower() for d in domains))
    merged["name"] = new["name"]
    return merged


def render_sites_toml(data: dict) -> str:
    """A sites file (TOML) holding `data`; warnings become comments."""
    lines = ["# Sites file written by mailbot from a GOCDB export."]
    lines += [f"# warning: {_one_line(w)}" for w in data.get("warnings", [])]
    for section in ("ngi", "site", "vo", "ca"):
        for entry in data.get(section, []):
            lines += ["", f"[[{section}]]"]
            lines += [
                f"{_toml_key(key)} = {_toml_value(entry[key])}"
                for key in _ordered_keys(entry)
            ]
    return "\n".join(lines) + "\n"


def _ordered_keys(entry: dict) -> list[str]:
    first = [key for key in SITE_ORDER if key in entry]
    return first + [key for key in entry if key not in first]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _toml_key(key: str) -> str:
    return key if _BARE_KEY_RE.match(key) else _toml_string(key)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise ValueError(f"{value!r} cannot be written to a sites file")


def _toml_string(text: str) -> str:
    escaped = []
    for char in text:
        if char in '"\\':
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'
