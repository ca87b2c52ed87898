"""What a site's own words report: isolation, a downtime, resolution.

Pure functions of the author's own text (quoted mail already removed). A
statement in the negative or the future ("not yet isolated", "we will
isolate") reports nothing.
"""

from __future__ import annotations

import re

from mailbot.extract.prose import NOT_DONE

_ISOLATION_RE = re.compile(
    r"\b(?:isolated|disconnected|firewalled|quarantined|unplugged|taken\s+offline"
    r"|cut\s+off(?:\s+from\s+the\s+network)?|blocked\s+(?:at|on)\s+the\s+(?:network|firewall)"
    r"|network\s+(?:port\s+|access\s+)?(?:was\s+|has\s+been\s+)?(?:blocked|disabled|shut)"
    r"|(?:vm|instance|virtual\s+machine)\s+(?:was\s+|has\s+been\s+|is\s+)?(?:paused|suspended)"
    r"|(?:paused|suspended)\s+the\s+(?:vm|instance|virtual\s+machine)"
    r"|snapshot\s+(?:was\s+|has\s+been\s+)?taken)\b",
    re.I,
)
# A host that no longer runs as it was is contained, though not "isolated":
# these meet containment without starting the downtime clock.
_CONTAINMENT_RE = re.compile(
    r"\b(?:re-?installed|re-?imaged|wiped|rebuilt|decommissioned|powered\s+off"
    r"|shut\s+down|switched\s+off|taken\s+down|destroyed|terminated)\b",
    re.I,
)
_DOWNTIME_RE = re.compile(
    r"\bdowntime(?:\s+[\w-]+){0,5}?\s+(?:was\s+|has\s+been\s+|is\s+)?(?:declared|announced|scheduled"
    r"|registered|added|created|entered|set|published)\b"
    r"|\b(?:declared|announced|scheduled|registered|added|created)\s+(?:an?\s+)?"
    r"(?:\w+\s+){0,3}downtime\b"
    r"|\bno\s+downtime\s+(?:is\s+)?(?:needed|necessary|required|applicable|planned)\b"
    r"|\bdowntime\s+(?:is\s+)?not\s+(?:needed|necessary|required|applicable)\b",
    re.I,
)
_RESOLVED_RE = re.compile(
    r"\b(?:incident|issue|case)\s+(?:is|has\s+been|was|can\s+be\s+considered)\s+"
    r"(?:now\s+)?(?:resolved|solved|closed)\b",
    re.I,
)
# After the word, in its sentence: "isolated? no", "... yet", "... failed".
_UNDONE_AFTER_RE = re.compile(
    r"^[^.;!?\n]{0,40}?(?:\byet\b|\bfailed\b|\bpending\b|\bcancel+ed\b|\bnot\b)",
    re.I,
)


def _stated(pattern: re.Pattern[str], text: str) -> bool:
    """Whether `pattern` is said as a fact somewhere in `text`: not in the
    negative, the future, a condition or a question."""
    for match in pattern.finditer(text):
        before = text[max(0, match.start() - 60) : match.start()]
        sentence = re.split(r"[.!?\n]", before)[-1]
        rest = re.split(r"(?<=[.!?\n])", text[match.end() : match.end() + 200])[0]
        if (
            NOT_DONE.search(sentence[-40:].lower())
            or rest.rstrip().endswith("?")
            or _UNDONE_AFTER_RE.search(rest)
        ):
            continue
        return True
    return False


def reports_isolation(text: str) -> bool:
    return _stated(_ISOLATION_RE, text)


def reports_containment(text: str) -> bool:
    """Isolation, or a host reinstalled, wiped or switched off."""
    return reports_isolation(text) or _stated(_CONTAINMENT_RE, text)


def reports_downtime(text: str) -> bool:
    return _stated(_DOWNTIME_RE, text)


def reports_resolution(text: str) -> bool:
    return _stated(_RESOLVED_RE, text)
