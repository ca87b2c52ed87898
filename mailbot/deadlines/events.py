"""What a site's own words report: isolation, a downtime, resolution.

Pure functions of the author's own text (quoted mail already removed). A
statement in the negative or the future ("not yet isolated", "we will
isolate") reports nothing.
"""

from __future__ import annotations

import re

from mailbot.deadlines import other_languages as other
from mailbot.deadlines.isolation import (
    CUT_OFF,
    ISOLATION_MORE_RE,
    ISOLATION_RE,
    MAY_SAY_MORE,
    Owns,
    of_the_site,
)
from mailbot.extract.prose import NOT_DONE

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
    r"|apagad[oa]s?|apagamos|reinstalad[oa]s?|desligad[oa]s?|desligamos"
    r"|wy[łl][ąa]czon[yaeo]|przeinstalowan[yaeo]|vypnut[ýáéoy]?|vypnuli"
    r"|p[řr]einstalov[áa]n[ýáéoy]?)\b",
    re.I,
)
# None is needed, the answer the procedure allows ("announce a downtime, if
# applicable"), as a template's line or in a sentence: "Downtime: not
# applicable" ("N/A", "not needed", "none needed"), "Downtime needed: no",
# "no downtime was needed", "a downtime is not necessary". A bare
# "Downtime: none" or "no" says none was declared, not that none is needed.
_NOT_NEEDED = r"(?:needed|necessary|required|applicable|relevant)"
_NONE_NEEDED = (
    r"\bdowntime(?:\s+(?:needed|required|necessary|announcement))?\s*[:=]\s*"
    r"(?:not\s+" + _NOT_NEEDED + r"|n/?a|none\s+(?:needed|required|necessary))(?![\w/])"
    r"|\bdowntime\s+(?:needed|required|necessary)\s*[:?=]\s*no\b"
    r"|\bno\s+downtime\s+(?:is\s+|was\s+|has\s+been\s+|will\s+be\s+)?"
    r"(?:" + _NOT_NEEDED + r"|planned)\b"
    r"|\bdowntime\s+(?:is\s+|was\s+|seems\s+)?not\s+" + _NOT_NEEDED + r"\b"
)
_DOWNTIME_RE = re.compile(
    # (the words between hold no "will", "not", "to be": "a downtime will be
    # declared" declares none)
    r"\bdowntime(?:\s+(?!(?:will|shall|would|should|must|not|never|to|be)\b)[\w-]+)"
    r"{0,5}?\s+(?:was\s+|has\s+been\s+|is\s+)?(?:declared|announced|scheduled"
    r"|registered|added|created|entered|set|published)\b"
    r"|\b(?:declared|announced|scheduled|registered|added|created)\s+(?:an?\s+)?"
    r"(?:\w+\s+){0,3}downtime\b|"
    + _NONE_NEEDED
    # "We don't need a downtime", "no need for a downtime": none is needed
    # (the negation is the statement: it starts the match, so the check of
    # the words before it does not see it).
    + r"|(?:\bdo\s+not|\bdon't|\bdoes\s+not|\bdoesn't|\bdid\s+not|\bdidn't)\s+"
    r"(?:need|require)\s+(?:a\s+|an?\s+\w+\s+|any\s+)?downtime\b"
    r"|\bno\s+need\s+(?:for|of)\s+(?:a\s+|any\s+)?downtime\b"
    # "The CE is in downtime until Friday", "we put the SE into downtime"
    r"|\b(?:(?:is|are|was|were|has\s+been|have\s+been|went|go(?:es)?)\s+(?:now\s+)?"
    r"|(?:put|placed|set)\s+(?:[\w.-]+\s+){0,4}?)"
    r"(?:in|into|under)\s+(?:an?\s+|the\s+)?(?:\w+\s+)?downtime\b"
    + "|"
    + other.DOWNTIME_NOT_NEEDED,
    re.I,
)
# Declared, in the other languages: read with the words of the match ("eine
# Downtime wird eingetragen", "downtime nie został zgłoszony").
_DOWNTIME_OTHER_RE = re.compile(other.DOWNTIME_DECLARED, re.I)
# The site's word that the incident is over.
_CASE = r"(?:incident|issue|case|matter)"
_OVER = r"(?:resolved|solved|closed)"
# "the incident is (has been, was) resolved", "... can be considered closed"
_CASE_IS_OVER = (
    rf"{_CASE}\s+(?:is|has\s+been|was|can\s+be\s+considered)\s+(?:now\s+)?{_OVER}"
)
# "we consider the incident resolved", "we consider it closed", "please
# consider the case closed (from our side)"
_CONSIDERED_OVER = (
    r"(?:(?:we|i)\s+(?:(?:can|now|do)\s+)?|please\s+)consider\s+"
    rf"(?:(?:the|this|our)\s+{_CASE}|it|this)\s+(?:as\s+)?(?:now\s+)?"
    rf"(?:{_OVER}|over|finished)"
)
# "the incident can be closed (from our side)", "you can close the case"
# (not before a condition: see _condition_after)
_MAY_BE_CLOSED = (
    rf"{_CASE}\s+(?:can|could|may)\s+(?:now\s+|safely\s+)?be\s+"
    rf"(?:considered\s+(?:as\s+)?)?{_OVER}"
    r"|(?:you|csirt|egi(?:\s+csirt)?)\s+(?:can|may)\s+(?:now\s+)?close\s+"
    rf"(?:the|this|our)\s+{_CASE}"
)
_RESOLVED_RE = re.compile(
    rf"\b(?:{_CASE_IS_OVER}|{_CONSIDERED_OVER}|{_MAY_BE_CLOSED}|{other.RESOLVED})\b",
    re.I,
)
# After the word, in its sentence: "isolated? no", "... yet", "... failed",
# "... pending" ("isolated pending further analysis" is done: "pending"
# before a word means until).
_UNDONE_AFTER_RE = re.compile(
    r"^[^.;!?\n]{0,40}?(?:\byet\b|\bfailed\b|\bpending\b(?!\s+[a-z])|\bcancel+ed\b"
    r"|\bnot\b)",
    re.I,
)
# What the procedure says not to do, denied after the isolation: "isolated,
# not rebooted", "it is not powered off", "we did not reinstall it yet".
# The denial keeps forensic data; it does not deny the isolation.
_KEPT_FOR_FORENSICS_RE = re.compile(
    r"(?:\bnot|n't|\bnever|\bno|\bwithout)\s+(?:yet\s+|been\s+|be\s+)?"
    r"(?:reboot(?:ed|ing)?|restart(?:ed|ing)?|power(?:ed|ing)?\s+(?:it\s+|them\s+)?off"
    r"|switch(?:ed|ing)?\s+(?:it\s+|them\s+)?off|shut\s+(?:it\s+|them\s+)?down"
    r"|delet(?:e|ed|ing)|destroy(?:ed|ing)?|wip(?:e|ed|ing)|reinstall(?:ed|ing)?"
    r"|re-?imag(?:e|ed|ing)|touch(?:ed|ing)?|rebuil[dt])\b(?:\s+(?:it|them))?(?:\s+yet)?",
    re.I,
)
# A reason after the word is a statement of its own: "No downtime needed
# (the service is not in production)", "... as it is not in production".
_REASON_RE = re.compile(
    r"(?:\(|\b(?:because|since|as)\b)\s*(?:the|it|its|this|our|we|there|they)\b", re.I
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
# Right after it, a condition: "the incident can be closed once the host
# is reinstalled", "we consider it resolved if you agree". A condition in
# the past tells when it was done ("isolated once we saw the alert").
_CONDITION_AFTER_RE = re.compile(
    r"^\s*(?P<comma>,\s*)?(?:(?P<if>if|unless|provided|in\s+case|"
    + other.CONDITIONS
    + r")"
    r"|once|when|whenever|after|as\s+soon\s+as)\b(?P<condition>[^.;!?\n]*)",
    re.I,
)
_MAY_RE = re.compile(rf"\b(?:can|could|may|{other.MAY})\b", re.I)
# In the clause before it, a condition of the other languages, whatever the
# tense ("quand l'incident est résolu, nous enverrons le rapport"), or a
# Czech or Polish denial or future.
_NOT_A_FACT_BEFORE_RE = re.compile(
    rf"\b(?:{other.CONDITIONS_BEFORE}|{other.DENIED_BEFORE})\b", re.I
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
_SENTENCE_CUT_RE = re.compile(r"[!?\n]|\.(?=\s|\Z)")
_CLAUSE_CUT_RE = re.compile(r",|;|\b(?:and|but|while)\b", re.I)


def _stated(
    pattern: re.Pattern[str], text: str, spans: bool = False, owns: Owns | None = None
) -> bool:
    """Whether `pattern` is said as a fact somewhere in `text`: not in the
    negative, the future, a condition or a question. `spans` when a match
    may hold words of its own clause ("network access of wn12 will be
    blocked"): they are looked at too. `owns` tells the site's own
    addresses (see isolation.of_the_site)."""
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
            or _NOT_A_FACT_BEFORE_RE.search(clause)
            or rest.rstrip().endswith("?")
            or _UNDONE_AFTER_RE.search(_own_rest(rest))
            or _HOPED_AFTER_RE.search(rest)
            or _conditional(sentence, match.group(), rest)
            or _condition_after(match.group(), rest)
            or (spans and NOT_DONE.search(match.group().lower()))
            or _infinitive(match.group(), clause)
        ):
            continue
        if of_the_site(match, clause, owns):
            return True
    return False


def _own_rest(rest: str) -> str:
    """The words after a match that may deny it: not a reason of their own,
    nor a denial of another action (see _CONTRAST_RE, _KEPT_FOR_FORENSICS_RE)."""
    reason = _REASON_RE.search(rest)
    if reason is not None:
        rest = rest[: reason.start()]
    return _CONTRAST_RE.sub("", _KEPT_FOR_FORENSICS_RE.sub("", rest))


def _condition_after(matched: str, rest: str) -> bool:
    """Whether a condition right after the match makes it no fact; after a
    comma, only of what may be ("the incident can be closed, once ...")."""
    condition = _CONDITION_AFTER_RE.match(rest)
    if condition is None:
        return False
    if _MAY_RE.search(matched):
        return True
    return not condition.group("comma") and bool(
        condition.group("if")
        or _PRESENT_RE.search(condition.group("condition"))
        or _FUTURE_RE.search(condition.group("condition"))
    )


# "isolate" is an Italian participle ("sono state isolate") and the English
# infinitive ("we would isolate", "about to isolate"): a fact only after
# the Italian auxiliary.
_ITALIAN_AUXILIARY_RE = re.compile(
    r"\b(?:stat[ei]|sono|furono|vennero|erano|abbiamo|hanno|ho)\s+(?:\w+\s+)?\Z", re.I
)


def _infinitive(matched: str, clause: str) -> bool:
    return matched.lower() == "isolate" and not _ITALIAN_AUXILIARY_RE.search(clause)


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


def reports_isolation(text: str, owns: Owns | None = None) -> bool:
    """A host cut off from the network; `owns` tells the site's own
    addresses (one blocked is its host), None when they are not known."""
    if _stated(ISOLATION_RE, text, spans=True, owns=owns):
        return True
    lower = text.lower()
    # The other families start at common words: searched only when a text
    # holds a word that each needs.
    if any(word in lower for word in MAY_SAY_MORE) and _stated(
        ISOLATION_MORE_RE, text, spans=True, owns=owns
    ):
        return True
    return any(
        _stated(pattern, near, spans=spans, owns=owns)
        for pattern, words, spans in CUT_OFF
        if (near := _near(text, lower, words))
    )


def _near(text: str, lower: str, words: tuple[str, ...]) -> str:
    """The stretches of `text` around each of `words` (`lower` is `text` in
    lower case), one a line: what a pattern whose matches hold one of them
    needs, with the words before and after that `_stated` looks at. A long
    log is searched only where it may say something."""
    if len(lower) != len(text):
        return text  # a letter whose lower case is longer: no positions
    spans: list[list[int]] = []
    for word in words:
        start = lower.find(word)
        while start >= 0:
            spans.append([max(0, start - 300), start + 400])
            start = lower.find(word, start + 1)
    spans.sort()
    merged: list[list[int]] = []
    for span in spans:
        if merged and span[0] <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], span[1])
        else:
            merged.append(span)
    return "\n".join(text[start:end] for start, end in merged)


def reports_containment(text: str, owns: Owns | None = None) -> bool:
    """Isolation, or a host reinstalled, wiped or switched off."""
    return reports_isolation(text, owns) or reports_switched_off(text)


def reports_switched_off(text: str) -> bool:
    """A host reinstalled, wiped or switched off (no isolation needed)."""
    return _stated(_CONTAINMENT_RE, text)


def reports_downtime(text: str) -> bool:
    # Every branch names it: only the stretches around it are searched.
    near = _near(text, text.lower(), ("downtime",))
    return bool(near) and (
        _stated(_DOWNTIME_RE, near) or _stated(_DOWNTIME_OTHER_RE, near, spans=True)
    )


def reports_resolution(text: str) -> bool:
    # Every branch holds one of these words.
    near = _near(
        text, text.lower(), ("solved", "close", "consider", *other.RESOLVED_WORDS)
    )
    return bool(near) and _stated(_RESOLVED_RE, near)
