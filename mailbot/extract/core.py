"""First version of extraction: template headings, IP addresses and hostnames."""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Sequence

from mailbot.extract.fang import refang
from mailbot.extract.quotes import is_forward_subject, own_lines, split_lines
from mailbot.extract.values import UNCLASSIFIED, Context, Finding
from mailbot.mail import TextPart

log = logging.getLogger(__name__)

_HEADINGS = {
    "detected_by": r"detected by|detection|reported by",
    "affected_hosts": (
        r"(?:systems?|hosts?(?:\(s\))?) affected|affected (?:hosts?|systems?)"
    ),
    "evidence": r"evidence",
    "actions_taken": r"actions? taken",
    "attacker_ips": r"attacker(?:'s)? ips?|remote ips? of the attacker",
}
_HEADING = re.compile(
    r"^[ \t]*[-*\d.)]*[ \t]*(" + "|".join(_HEADINGS.values()) + r")[ \t]*:?[ \t]*(.*)$",
    re.IGNORECASE,
)
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
_HOST = re.compile(r"(?<![\w.@-])(?:[a-z0-9-]+\.)+[a-z]{2,}(?![\w.-])", re.I)
_CLOSURE = re.compile(r"closure report|lessons learn", re.IGNORECASE)


def is_closure_report(subject: str, text_parts: Sequence[TextPart]) -> bool:
    """Whether the mail presents itself as the incident's closure report."""
    if _CLOSURE.search(subject):
        return True
    return any(_CLOSURE.search(own_text_of(p)) for p in text_parts)


def own_text_of(part: TextPart) -> str:
    return "\n".join(line for _, line in own_lines(part.text))


def extract(text_parts: Sequence[TextPart], context: Context) -> list[Finding]:
    """Every value found in the mail's parts, each with its part and line."""
    found: list[Finding] = []
    forwarded = is_forward_subject(context.subject)
    for part in text_parts:
        if part.kind in ("body", "html"):
            lines = own_lines(part.text, forwarded)
        else:
            lines = list(enumerate(split_lines(part.text), start=1))
        field = None
        for number, raw in lines:
            line = refang(raw)
            match = _HEADING.match(line)
            if match:
                heading = match.group(1).lower()
                field = next(
                    (n for n, p in _HEADINGS.items() if re.fullmatch(p, heading, re.I)),
                    None,
                )
            for ip in _IPV4.findall(line):
                try:
                    value = str(ipaddress.ip_address(ip))
                except ValueError:
                    continue
                if value in context.ignored_ips:
                    continue
                target = field if field in ("affected_hosts", "attacker_ips") else None
                found.append(
                    Finding(target or UNCLASSIFIED, value, "ipv4", part.part, number)
                )
    return found
