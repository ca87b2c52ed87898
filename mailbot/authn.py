"""Is a mail really from a CSIRT member? Read what our own MTA vouched for.

Only Authentication-Results headers written by a configured authserv-id
count (RFC 8601): anyone can write such a header, only our MTA's are ours.
Our MTA must remove headers that claim its authserv-id before it adds its
own (RFC 8601 section 5); as a second line of defence, a pass that our own
headers contradict (DKIM "none" or a failing signature of the same domain,
DMARC failing for the From domain) is not believed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_METHOD_RE = re.compile(r"^\s*([a-z0-9_-]+)\s*=\s*([a-z]+)\b(.*)$", re.I | re.S)
_PROPERTY_RE = re.compile(r"\b([a-z]+\.[a-z0-9_-]+)\s*=\s*\"?([^\s;\"]+)", re.I)

Result = tuple[str, str, dict[str, str]]


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


def _domain(value: str) -> str:
    return value.rpartition("@")[2].lower().rstrip(".")


def _same_or_below(domain: str, from_domain: str) -> bool:
    """`domain` is the From domain or one of its subdomains.

    A subdomain is run by the From domain's owner; a parent domain may be a
    public suffix, so it does not count.
    """
    return domain == from_domain or domain.endswith("." + from_domain)


def _results(header: str, authserv_ids: frozenset[str]) -> list[Result]:
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


def _dkim_signer(props: dict[str, str]) -> str:
    return _domain(props.get("header.d") or props.get("header.i", ""))


def _contradicted(method: str, results: list[Result], from_domain: str) -> str | None:
    """What in our own headers denies what a pass of `method` would claim."""
    for name, result, props in results:
        dmarc_for = _domain(props.get("header.from", from_domain))
        if name == "dmarc" and result != "pass" and dmarc_for == from_domain:
            return f"our MTA found DMARC {result} for {from_domain}"
        if name != method or result == "pass":
            continue
        # No signature at all, a failing signature of the From domain, or a
        # second SPF verdict that is not a pass: one of the headers is not ours.
        if method == "spf" or result == "none" or _dkim_signer(props) == from_domain:
            return f"our MTA's {method} results contradict each other"
    return None


def _passes(method: str, props: dict[str, str], from_domain: str) -> bool:
    if method == "dkim":
        return _dkim_signer(props) == from_domain
    if method == "spf":
        mailfrom = _domain(props.get("smtp.mailfrom", ""))
        return bool(mailfrom) and _same_or_below(mailfrom, from_domain)
    return False


def verify_sender(
    from_addr: str, auth_headers: Iterable[str], authserv_ids: Iterable[str]
) -> Verdict:
    """Whether our MTA saw DKIM (or aligned SPF) pass for `from_addr`'s domain."""
    trusted = frozenset(a.lower() for a in authserv_ids)
    from_domain = _domain(from_addr)
    if not trusted:
        return Verdict(False, "no authserv_ids configured")
    results = [r for header in auth_headers for r in _results(header, trusted)]
    if not results:
        return Verdict(False, "not authenticated by our MTA")
    for method, result, props in results:
        if result == "pass" and _passes(method, props, from_domain):
            denied = _contradicted(method, results, from_domain)
            if denied:
                return Verdict(False, denied)
            return Verdict(True, method)
    return Verdict(False, "no passing result for " + from_domain)


def dmarc_fails(
    from_addr: str, auth_headers: Iterable[str], authserv_ids: Iterable[str]
) -> bool:
    """Whether our MTA found that DMARC fails for `from_addr`'s domain: the
    domain's own policy says this mail is not its. (SPF alone fails for
    every forwarded mail, so it is not enough.)"""
    trusted = frozenset(a.lower() for a in authserv_ids)
    from_domain = _domain(from_addr)
    if not trusted or not from_domain:
        return False
    for header in auth_headers:
        for method, result, props in _results(header, trusted):
            dmarc_for = _domain(props.get("header.from", from_domain))
            if method == "dmarc" and result == "fail" and dmarc_for == from_domain:
                return True
    return False
