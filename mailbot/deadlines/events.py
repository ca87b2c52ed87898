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
    r"|snapshot\s+(?:was\s+|has\s+been\s+)?taken"
    # "we took ui01 (192.0.2.10) off the network", "took both nodes offline"
    # (a dot inside an address or a name does not end the sentence)
    r"|(?:took|cut|removed)\b(?:[^.;:!?\n]|\.(?=\S)){0,40}?\b(?:off(?:line|\s+(?:from\s+)?(?:the\s+)?"
    r"(?:network|net|internet))|from\s+the\s+network)"
    # German, French, Italian, Dutch, Spanish and Portuguese, and the other
    # languages of the fact words (extract/prose.py): the site's own words
    # that the host is cut off, in its past participle or a past tense.
    r"|isoliert|vom\s+(?:netz|netzwerk|internet)\s+(?:genommen|getrennt)"
    r"|(?:netz|netzwerk)\s+getrennt|offline\s+genommen|in\s+quarantäne"
    r"|isolée?s?|déconnectée?s?|mise?s?\s+hors\s+(?:ligne|réseau)|coupée?s?\s+du\s+réseau"
    r"|mise?s?\s+en\s+quarantaine"
    r"|isolat[oaie]|scollegat[oaie]|disconness[oaie]|mess[oaie]\s+offline|in\s+quarantena"
    r"|ge[ïi]soleerd|losgekoppeld|offline\s+gehaald|(?:van|uit)\s+het\s+netwerk\s+gehaald"
    r"|in\s+quarantaine\s+geplaatst"
    r"|aislad[oa]s?|aislamos|desconectad[oa]s?|desconectamos|isolad[oa]s?|isolamos"
    r"|izolat\w*|deconectat\w*|frånkopplad|odłączon\w*|irrotettiin|odpojen\w*"
    r"|odpojil\w*|leválaszt\w*)\b",
    re.I,
)
# "An isolated incident", "un cas isolé": the word describes, it reports no
# isolation.
_DESCRIBING_RE = re.compile(
    r"(?:\b(?:cas|incident|caso|incidente|episodio|événement|evento|hecho|fait"
    r"|geval|einzelfall)\s+\Z)",
    re.I,
)
_DESCRIBED_RE = re.compile(
    r"\s+(?:incidents?|cases?|events?|problems?|issues?|incidente|caso|geval)\b",
    re.I,
)
# A host that no longer runs as it was is contained, though not "isolated":
# these meet containment without starting the downtime clock.
_CONTAINMENT_RE = re.compile(
    r"\b(?:re-?installed|re-?imaged|wiped|rebuilt|decommissioned|powered\s+off"
    r"|shut\s+down|switched\s+off|taken\s+down|destroyed|terminated"
    r"|abgeschaltet|ausgeschaltet|heruntergefahren|neu\s+(?:installiert|aufgesetzt)"
    r"|éteinte?s?|réinstallée?s?|spent[oaie]|reinstallat[oaie]"
    r"|uitgeschakeld|uitgezet|opnieuw\s+geïnstalleerd"
    r"|apagad[oa]s?|apagamos|reinstalad[oa]s?|desligad[oa]s?|desligamos)\b",
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
        if _DESCRIBING_RE.search(before) or _DESCRIBED_RE.match(
            text, match.end(), match.end() + 20
        ):
            continue
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
