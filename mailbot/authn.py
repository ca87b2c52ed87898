"""Is a mail really from a CSIRT member? Read what our own MTA vouched for.

Only Authentication-Results headers written by a configured authserv-id
count (RFC 8601): anyone can write such a header, only our MTA's are ours.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_METHOD_RE = re.compile(r"^\s*([a-z0-9_-]+)\s*=\s*([a-z]+)\b(.*)$", re.I | re.S)
_PROPERTY_RE = re.compile(r"\b([a-z]+\.[a-z0-9_-]+)\s*=\s*\"?([^\s;\"]+)", re.I)


@dataclass(frozen=True)
class Verdict:
    verified: bool
    how: str  # "dkim", "spf", or why it is not verified


def _strip_comments(text: str) -> str:
    # RFC 8601 allows CFWS comments in parentheses anywhere.
    previous = None
    while previous != text:
        previous = text
        text = re.sub(r"\([^()]*\)", " ", text)
    return text


def _aligned(domain: str, from_domain: str) -> bool:
    domain, from_domain = domain.lower().rstrip("."), from_domain.lower().rstrip(".")
    return domain == from_domain or from_domain.endswith("." + domain)


def _results(header: str, authserv_ids: frozenset[str]) -> list[tuple[str, str, dict]]:
    """The (method, result, properties) of one header, if written by our MTA."""
    parts = _strip_comments(header).split(";")
    authserv = parts[0].strip().split()[0].lower() if parts[0].strip() else ""
    if authserv not in authserv_ids:
        return []
    results = []
    for part in parts[1:]:
        match = _METHOD_RE.match(part)
        if match:
            props = {k.lower(): v.lower() for k, v in _PROPERTY_RE.findall(match[3])}
            results.append((match[1].lower(), match[2].lower(), props))
    return results


def verify_sender(
    from_addr: str, auth_headers: Iterable[str], authserv_ids: Iterable[str]
) -> Verdict:
    """Whether our MTA saw DKIM (or aligned SPF) pass for `from_addr`'s domain."""
    trusted = frozenset(a.lower() for a in authserv_ids)
    from_domain = from_addr.rpartition("@")[2]
    if not trusted:
        return Verdict(False, "no authserv_ids configured")
    seen_ours = False
    for header in auth_headers:
        for method, result, props in _results(header, trusted):
            seen_ours = True
            if method == "dkim" and result == "pass":
                signer = props.get("header.d") or props.get("header.i", "").lstrip("@")
                if signer and _aligned(signer.rpartition("@")[2], from_domain):
                    return Verdict(True, "dkim")
            if method == "spf" and result == "pass":
                mailfrom = props.get("smtp.mailfrom", "")
                if mailfrom and _aligned(mailfrom.rpartition("@")[2], from_domain):
                    return Verdict(True, "spf")
    return Verdict(
        False, "no passing result" if seen_ours else "not authenticated by our MTA"
    )
