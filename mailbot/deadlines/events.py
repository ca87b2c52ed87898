"""What a site's own words report: isolation, a downtime, resolution.

Pure functions of the author's own text (quoted mail already removed). A
statement in the negative or the future ("not yet isolated", "we will
isolate") reports nothing.
"""

from __future__ import annotations

import re

from mailbot.extract.prose import NOT_DONE

# What a site isolates: a host, by a word or its name ("wn12",
# "ui01.example.org"; not an address, which may be the attacker's).
_HOST_WORDS = (
    r"(?:hosts?|vms?|nodes?|machines?|servers?|instances?|boxe?s?|systems?"
    r"|virtual\s+machines?|worker\s+nodes?)"
)
_HOST_NAME = r"(?:[a-z][\w-]*\d[\w-]*(?:\.[\w-]+)*|[a-z][\w-]*(?:\.[a-z][\w-]*)+)"
_ISOLATION_RE = re.compile(
    r"\b(?:isolated|disconnected|firewalled|quarantined|unplugged|taken\s+offline"
    r"|cut\s+off(?:\s+from\s+the\s+network)?|blocked\s+(?:at|on)\s+the\s+(?:network|firewall)"
    r"|network\s+(?:port\s+|access\s+)?(?:was\s+|has\s+been\s+)?(?:blocked|disabled|shut)"
    # "network access of the host was blocked", "network connectivity of
    # wn12 has been cut", "the VM is shut off from the network"
    r"|network\s+(?:access|connectivity)\s+(?:of|to|for)\s+(?:[^.;:!?\n]|\.(?=\S)){1,40}?"
    r"\s+(?:was\s+|were\s+|has\s+been\s+|have\s+been\s+|is\s+)?(?:now\s+)?"
    r"(?:blocked|disabled|cut|shut|removed|revoked)"
    r"|(?:shut|closed|sealed)\s+off(?:\s+from\s+(?:the\s+)?(?:network|net|internet))?"
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
# A VM suspended or a host blocked whatever stands before the verb (a
# breaker's repro-9), apart: these branches start at common words ("is",
# "blocked"), so only a text that holds "paus", "suspend" or "block" is
# searched for them (`_MAY_SAY_MORE`).
_ISOLATION_MORE_RE = re.compile(
    # "it is suspended now", "the VM was compromised and is suspended now":
    # the subject may stand further back (not a user or an account: see
    # _NOT_A_HOST_RE).
    # "Until we know more, the VM stays suspended"
    r"\b(?:(?:was|is|are|were|got|has\s+been|have\s+been|stays|remains|is\s+kept)\s+"
    r"(?:now\s+)?(?:paused|suspended)"
    r"|(?:paused|suspended)\s+(?:it|them|" + _HOST_WORDS + r""
    # "we suspended the user's VM" (whose it is: see _of_a_host)
    r"|(?:the|this|that|our|both|all|affected|compromised)\s+(?:[\w']+\s+){0,2}?"
    + _HOST_WORDS
    + r")"
    # "we blocked the host at the network (level)", "blocked it on the
    # firewall": the host itself, not an address or the attacker's traffic.
    r"|blocked\s+(?:it|them|(?:the|this|that|our|both|all|affected|compromised)\s+"
    r"(?:\w+\s+){0,2}?" + _HOST_WORDS + r"|" + _HOST_NAME + r")"
    # "... the host and the attacker's IP at the firewall": the host too
    r"(?:\s+and\s+[^.;:,!?\n]{1,40}?)?"
    r"\s+(?:at|on)\s+(?:the\s+)?(?:network|firewall))\b",
    re.I,
)
_MAY_SAY_MORE = ("paus", "suspend", "block")
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
    r"|\bdowntime\s+(?:is\s+)?not\s+(?:needed|necessary|required|applicable)\b"
    # "We don't need a downtime", "no need for a downtime": none is needed
    # (the negation is the statement: it starts the match, so the check of
    # the words before it does not see it).
    r"|(?:\bdo\s+not|\bdon't|\bdoes\s+not|\bdoesn't|\bdid\s+not|\bdidn't)\s+"
    r"(?:need|require)\s+(?:a\s+|an?\s+\w+\s+|any\s+)?downtime\b"
    r"|\bno\s+need\s+(?:for|of)\s+(?:a\s+|any\s+)?downtime\b"
    # "The CE is in downtime until Friday", "we put the SE into downtime"
    r"|\b(?:(?:is|are|was|were|has\s+been|have\s+been|went|go(?:es)?)\s+(?:now\s+)?"
    r"|(?:put|placed|set)\s+(?:[\w.-]+\s+){0,4}?)"
    r"(?:in|into|under)\s+(?:an?\s+|the\s+)?(?:\w+\s+)?downtime\b",
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
# "suspended (not deleted)", "..., not destroyed", "but not wiped": another
# action is denied, not this one (its own denial stays: "not yet", "not
# done", "not successfully").
_CONTRAST_RE = re.compile(
    r"(?:\(|,|\bbut\b|\band\b)\s*not\s+(?!(?:yet|done|completed|finished|performed"
    r"|succeeded|successfully|happened|confirmed|verified|fully|entirely|completely"
    r"|really|at|quite|properly|effective|possible|working)\b)[a-z]+ed\b\)?",
    re.I,
)
# Before the word, in its clause: a wish, a hope, what would be or is about
# to be, an attempt that failed -- no fact (the English words that
# NOT_DONE, shared with extraction, leaves to this module). "As you wanted,
# the host is isolated" and "we would like to tell you that the host is
# isolated" state it.
_NOT_A_FACT_RE = re.compile(
    r"\b(?:would(?!\s+(?:like|love)\b)|might|about\s+to|hop(?:es?|ing|efully)"
    r"|expect(?:s|ing)?|wish(?:es)?|intend(?:s|ed)?|aim(?:s|ed)?\s+to|wants?"
    r"|tr(?:y|ies|ied|ying)\s+to|attempt(?:s|ed)?\s+to|failed\s+to)\b",
    re.I,
)
# After it, ending the sentence: "The incident is resolved soon, we hope."
_HOPED_AFTER_RE = re.compile(
    r"^[^.;!?\n]{0,60}?\b(?:we|i)\s+(?:hope|expect|wish)\s*(?:so\s*)?(?:[.!]|\Z)",
    re.I,
)
# In the match's own clause: nobody did it ("No host was isolated", "Nobody
# has isolated the host"); "No, the host is isolated" answers (the comma
# ends that clause).
_NOBODY_RE = re.compile(
    r"\b(?:no(?!,|\s+(?:doubt|problem|worries|issue)\b)|nobody|none|no-one|noone"
    r"|neither|nor)\b",
    re.I,
)


# "Once the incident is resolved we will send the report", "when the host
# is isolated, we take a snapshot": a condition of what comes, no fact. The
# subordinate clause is in the present (or what follows it in the future);
# "when we found it we isolated the host" tells what was done.
_CONDITION_RE = re.compile(
    r"\b(?:once|when|whenever|after|as\s+soon\s+as|until|till|unless|before"
    r"|in\s+case)\b(?P<between>[^.;!?\n]*)\Z",
    re.I,
)
_CONTINUES_RE = re.compile(
    r"\s*(?:is|are|was|were|has|have|had|gets?|got|becomes?|will|shall|would)\b",
    re.I,
)
_PRESENT_RE = re.compile(r"\b(?:is|are|gets?|becomes?|has\s+been|have\s+been)\b", re.I)
_FUTURE_RE = re.compile(
    r"(?:'ll|\b(?:will|shall|going\s+to|would|then\s+we\s+(?:send|do|start)))\b", re.I
)
# Suspended, paused or blocked: of a host, not of a user, an account, a
# certificate or the attacker's address (those are other actions). Looked
# for in the clause before the word.
_NOT_A_HOST_RE = re.compile(
    r"\b(?:users?|accounts?|certificates?|certs?|credentials?|prox(?:y|ies)|jobs?"
    r"|logins?|passwords?|memberships?|tokens?|keys?|attacker'?s?|ips?|address(?:es)?"
    r"|traffic|sources?|ranges?|subnets?|domains?|urls?|ports?|scanners?|c2)\b",
    re.I,
)
# Whichever is named first is what was suspended or blocked: a host (the
# site's: not the attacker's or a C2 server) or another thing. "The user's
# VM" is a host: a word before "'s" only says whose it is.
_HEAD_RE = re.compile(
    r"\b(?P<owner>attacker'?s?|c2|scanners?|malicious|external)\b"
    r"|\b(?:users?|owners?|customers?|tenants?|members?)(?:'s|s')\s"
    r"|(?P<other>" + _NOT_A_HOST_RE.pattern + r")"
    r"|\b(?P<host>" + _HOST_WORDS + r"|" + _HOST_NAME + r")\b",
    re.I,
)
_HOST_ACTION_RE = re.compile(r"suspend|paus|block|shut|closed|sealed", re.I)
_SENTENCE_CUT_RE = re.compile(r"[!?\n]|\.(?=\s|\Z)")
_CLAUSE_CUT_RE = re.compile(r",|;|\b(?:and|but|while)\b", re.I)


def _stated(pattern: re.Pattern[str], text: str, spans: bool = False) -> bool:
    """Whether `pattern` is said as a fact somewhere in `text`: not in the
    negative, the future, a condition or a question. `spans` when a match
    may hold words of its own clause ("network access of wn12 will be
    blocked"): they are looked at too."""
    for match in pattern.finditer(text):
        before = text[max(0, match.start() - 60) : match.start()]
        if _DESCRIBING_RE.search(before) or _DESCRIBED_RE.match(
            text, match.end(), match.end() + 20
        ):
            continue
        # A dot ends a sentence before a space, not inside an address.
        sentence = _SENTENCE_CUT_RE.split(before)[-1]
        rest = re.split(r"(?<=[.!?\n])", text[match.end() : match.end() + 200])[0]
        clause = _CLAUSE_CUT_RE.split(sentence)[-1]
        if (
            NOT_DONE.search(sentence[-40:].lower())
            or _NOT_A_FACT_RE.search(clause[-40:])
            or _NOBODY_RE.search(clause)
            or rest.rstrip().endswith("?")
            or _UNDONE_AFTER_RE.search(_CONTRAST_RE.sub("", rest))
            or _HOPED_AFTER_RE.search(rest)
            or _conditional(sentence, match.group(), rest)
            or (spans and NOT_DONE.search(match.group().lower()))
            or _infinitive(match.group(), clause)
        ):
            continue
        if _HOST_ACTION_RE.search(match.group()) and not _of_a_host(
            clause + " " + match.group()
        ):
            continue
        return True
    return False


# "isolate" is an Italian participle ("sono state isolate") and the English
# infinitive ("we would isolate", "about to isolate"): a fact only after
# the Italian auxiliary.
_ITALIAN_AUXILIARY_RE = re.compile(
    r"\b(?:stat[ei]|sono|furono|vennero|erano|abbiamo|hanno|ho)\s+(?:\w+\s+)?\Z", re.I
)


def _infinitive(matched: str, clause: str) -> bool:
    return matched.lower() == "isolate" and not _ITALIAN_AUXILIARY_RE.search(clause)


def _of_a_host(words: str) -> bool:
    """Whether what was suspended or blocked in `words` is the site's host:
    the first thing named, or nothing named ("it is suspended now")."""
    for head in _HEAD_RE.finditer(words):
        if head.group("owner") or head.group("other"):
            return False
        if head.group("host"):
            return True
    return True


def _conditional(sentence: str, matched: str, rest: str) -> bool:
    """Whether the match stands in a condition of what is to come."""
    condition = _CONDITION_RE.search(sentence)
    if condition is None:
        return False
    # "Before it is reinstalled, the host is isolated": past the comma the
    # main clause states. "When the host, ui01, is isolated", "once the VM,
    # which runs the CE, is suspended": a comma that closes an apposition
    # or a relative clause leads on to the condition's own verb.
    between = condition.group("between")
    if "," in between and not _CONTINUES_RE.match(
        between.rsplit(",", 1)[1] + " " + matched
    ):
        return False
    clause = condition.group("between") + " " + matched
    return bool(_PRESENT_RE.search(clause) or _FUTURE_RE.search(rest))


def reports_isolation(text: str) -> bool:
    if _stated(_ISOLATION_RE, text, spans=True):
        return True
    lower = text.lower()
    return any(word in lower for word in _MAY_SAY_MORE) and _stated(
        _ISOLATION_MORE_RE, text, spans=True
    )


def reports_containment(text: str) -> bool:
    """Isolation, or a host reinstalled, wiped or switched off."""
    return reports_isolation(text) or reports_switched_off(text)


def reports_switched_off(text: str) -> bool:
    """A host reinstalled, wiped or switched off (no isolation needed)."""
    return _stated(_CONTAINMENT_RE, text)


def reports_downtime(text: str) -> bool:
    # Every branch names it: a text without the word is not searched.
    return "downtime" in text.lower() and _stated(_DOWNTIME_RE, text)


def reports_resolution(text: str) -> bool:
    return _stated(_RESOLVED_RE, text)
