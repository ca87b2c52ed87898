"""Words around a host that say how an attack went through it.

A host the attack went on from to another of the site's hosts is its way
in (an entry point): "ui01 and then compromised wn17", "wn17 was then used
to reach wn18", "von dort aus", "puis utilisé pour atteindre wn18". A
German passive puts its agent before the verb ("von 203.0.113.5
angegriffen"); a passive's agent may be taken back ("not by X but by Y").
The assigner (assign.py) asks these after the cue words of roles.py.
"""

from __future__ import annotations

import re
from typing import Final

# Words between a host and the words of its move on: "ui01 (the UI) and
# then", "ui01, und dann", "ui01 et ensuite".
_LEAD: Final = (
    r"[\s,)]*(?:\([^()]{0,60}\)[\s,]*)?(?:(?:and|und|et)[ \t]+)?"
    r"(?:(?:then|later|subsequently|dann|danach|anschließend|später|puis"
    r"|ensuite)[ \t]+)?"
)
# "and from there ...": the attack went on from the host, to whatever host.
_THERE: Final = (
    r"(from[ \t]+(?:there|where|which|it)\b|von[ \t]+(?:dort|da|wo)\b"
    r"|(?:de|depuis)[ \t]+là\b|d'où|à[ \t]+partir[ \t]+de[ \t]+là\b)"
)
_SUBJECT: Final = (
    r"(?:(?:the[ \t]+attackers?|they|he|she|it|der[ \t]+angreifer|die[ \t]+angreifer"
    r"|er|sie|l'attaquant|les[ \t]+attaquants|l'intrus|ils?|elle)[ \t]+)?"
)
# What the attacker did next: moved, compromised, logged in to ...
_MOVED: Final = (
    r"(?:moved[ \t]+(?:laterally|on|to)|pivoted|jumped[ \t]+to|hopped[ \t]+to"
    r"|spread[ \t]+to|compromised|infected|attacked|accessed|reached"
    r"|logged[ \t]+in(?:to|[ \t]+to)|ssh(?:'?e?d)?[ \t]+(?:in)?to|connected[ \t]+to"
    r"|kompromittierte|infizierte|bewegte[ \t]+sich|wechselte|gelangte|sprang"
    r"|verband[ \t]+sich|loggte[ \t]+sich|(?:a|ont)[ \t]+(?:ensuite[ \t]+)?"
    r"(?:compromis|infecté|attaqué|atteint|accédé|rebondi)"
    r"|s'est[ \t]+(?:ensuite[ \t]+)?(?:déplacée?|connectée?|propagée?)"
    r"|(?:est|sont)[ \t]+(?:ensuite[ \t]+)?(?:passée?s?|allée?s?)[ \t]+(?:à|sur|vers))"
    r"(?![ \t]+(?:by|von|durch|par)\b)"
)
# "(was) used to reach", "served as a jump host to", "wurde dann benutzt,
# um", "a servi de rebond pour", "utilisé pour atteindre".
_USED: Final = (
    r"(?:(?:was|were|is|got|has[ \t]+been|had[ \t]+been)[ \t]+"
    r"(?:then[ \t]+|later[ \t]+|subsequently[ \t]+)?)?"
    r"(?:used|served|acted|functioned)[ \t]+(?:as[ \t]+an?[ \t]+[\w -]{1,20}?[ \t]+)?"
    r"(?:to[ \t]+(?:reach|access|compromise|attack|log[ \t]+in)"
    r"|(?<=stone[ \t])(?:in)?to\b|(?<=host[ \t])(?:in)?to\b)"
    r"|(?:(?:wurde|wurden|war|ist)[ \t]+(?:dann[ \t]+|danach[ \t]+"
    r"|anschließend[ \t]+|später[ \t]+)?)?(?:als[ \t]+[\w -]{1,25}?[ \t]+)?"
    r"(?:benutzt|genutzt|verwendet|missbraucht|eingesetzt),?[ \t]+um\b"
    r"|diente[ \t]+als[ \t]+[\w -]{1,25}?[ \t]+(?:zu|auf|nach|für|um)\b"
    r"|(?:(?:a|ont)[ \t]+été[ \t]+|fut[ \t]+)?(?:ensuite[ \t]+|puis[ \t]+)?"
    r"(?:utilisée?s?|employée?s?)[ \t]+(?:comme[ \t]+[\w' -]{1,25}?[ \t]+)?"
    r"(?:pour[ \t]+(?:atteindre|accéder|compromettre|attaquer|rebondir"
    r"|se[ \t]+connecter)|vers)\b"
    r"|(?:a|ont)[ \t]+servi[ \t]+de[ \t]+[\w' -]{1,25}?[ \t]+(?:pour|vers)\b"
)
# Words after a host that say the attack went on from it to another: "ui01
# and then compromised wn17", "ui01, from there ...", "ui01 to reach wn17".
_PIVOT: Final = re.compile(
    _LEAD
    + r"(?:"
    + _THERE
    + r"|"
    + _SUBJECT
    + _MOVED
    + r"|to[ \t]+(?:reach|access|compromise|attack|log[ \t]+in)"
    # "pivoted to wn17, then to wn18", "wn17 was then used to reach wn18".
    r"|(?<=then[ \t])(?:on[ \t]+)?to\b|(?<=later[ \t])on[ \t]+to\b"
    r"|(?<=puis[ \t])vers\b"
    r"|(?:as[ \t]+an?|comme)[ \t]+(?:stepping[ \t-]stone|jump[ \t-]?host|rebond"
    r"|tremplin)[ \t]+(?:(?:in)?to|vers|pour)\b|" + _USED + r")",
    re.IGNORECASE,
)


ONWARD: Final = "onward"


def pivot(after: str) -> str | None:
    """Whether the words `after` a host (its first 120 characters) say the
    attack went on from it to another host (the site's own host is then an
    entry point): "there" ("and from there ..."), ONWARD when they do only
    if the site's own host follows ("ui01 and then compromised wn17";
    "wn09 ... and connected to the mining pool" is no move to another of
    its hosts), or None. No word of a move holds a digit, and the pattern
    is tried at the start only: no cache, no hint search first (a search
    for a word of it anywhere in the 120 characters cost ten times as
    much)."""
    found = _PIVOT.match(after, 0, 120)
    if found is None:
        return None
    return "there" if found.group(1) is not None else ONWARD


# German puts the verb of a passive last: "wurde von 203.0.113.5
# angegriffen", "durch 203.0.113.5 kompromittiert", "über ui01
# kompromittiert". The address between "von"/"durch"/"über" and such a
# participle is the one that did it, or the way it came in.
_BY_BEFORE: Final = re.compile(r"\b(von|durch|über)[ \t]+\Z", re.IGNORECASE)
_PARTICIPLE_AFTER: Final = re.compile(
    r"[ \t)]*(?:aus[ \t]+)?(?:angegriffen|kompromittiert|gehackt|übernommen"
    r"|infiziert|ausgenutzt|gescannt|missbraucht|attackiert|eingebrochen|eingeloggt|angemeldet|eingedrungen|herein"
    r"|hinein)\b",
    re.IGNORECASE,
)


# "Von 203.0.113.42 aus wurde ... angegriffen": "von X aus" is where it came
# from ("aus dem Netz" is no such "aus").
_FROM_AFTER: Final = re.compile(
    r"[ \t)]*aus\b(?![ \t]+(?:dem|der|den|des|einem|einer)\b)", re.IGNORECASE
)


def passive_agent(before: str, after: str) -> bool:
    """Whether the indicator between `before` and `after` is the agent of a
    German passive ("von 203.0.113.5 angegriffen", "von 203.0.113.5 aus"),
    or the way it came ("über ui01 kompromittiert")."""
    tail = before[-8:]
    if "on" not in tail and "rch" not in tail and "ber" not in tail:
        return False
    by = _BY_BEFORE.search(tail.lower())
    if by is None:
        return False
    if _PARTICIPLE_AFTER.match(after) is not None:
        return True
    return (
        by.group(1) != "über"
        and "aus" in after[:8].lower()
        and _FROM_AFTER.match(after) is not None
    )


# The subject of such a passive, before it: "wn17 wurde über ui01
# kompromittiert" (`between` the two hosts, `beyond` the second).
_SUBJECT_OF: Final = re.compile(
    r"[ \t),]*(?:wurde|wurden|ist|sind|war|waren)[ \t]+(?:(?:zuerst|dann"
    r"|danach|anschließend)[ \t]+)?(?:von|durch|über)[ \t]+\Z",
    re.IGNORECASE,
)


def passive_subject(between: str, line: str, beyond: int) -> bool:
    """Whether the indicator before `between` is the one a German passive
    says was harmed ("wn17 wurde über ui01 kompromittiert"); the next
    indicator ends at `beyond` in `line`."""
    return (
        _SUBJECT_OF.match(between) is not None
        and _PARTICIPLE_AFTER.match(line, beyond) is not None
    )


# "um wn18 zu erreichen": the host a German clause of purpose names is
# the one the attack went on to, as "to reach wn18" says in English.
_PURPOSE_AFTER: Final = re.compile(
    r"[ \t)]*zu[ \t]+(?:erreichen|kompromittieren|infizieren|attackieren"
    r"|übernehmen|gelangen|befallen|hacken)\b",
    re.IGNORECASE,
)
_PURPOSE_BEFORE: Final = re.compile(r"\bum[ \t]+\Z", re.IGNORECASE)


def purpose_target(before: str, after: str) -> bool:
    """Whether the indicator between `before` and `after` is the target of
    a German clause of purpose ("um 192.0.2.18 zu erreichen")."""
    tail = before[-6:]
    return (
        ("um" in tail or "Um" in tail)
        and _PURPOSE_BEFORE.search(tail) is not None
        and _PURPOSE_AFTER.match(after) is not None
    )


# The agent of a passive taken back ("was not attacked by X", "wurde nicht
# von X angegriffen", "n'a pas été attaqué par X") did not do it; the one
# named in its stead ("but by Y", "sondern von Y", "mais par Y") did.
# "Not only" takes nothing back.
_NOT: Final = r"\b(?:not|never|nicht|nie|pas|jamais)[ \t]+(?!only\b|just\b|nur\b)"
_DENIED_AGENT: Final = re.compile(
    _NOT + r"(?:[\w'-]+[ \t]+){0,2}(?:by|von|durch|par)[ \t]+\Z",
    re.IGNORECASE,
)
_INSTEAD_AGENT: Final = re.compile(
    r"\b(?:but|sondern|mais)[ \t]+(?:(?:rather|instead|vielmehr|plutôt)[ \t]+)?"
    r"(?:by|von|durch|par)[ \t]+\Z",
    re.IGNORECASE,
)


_NOT_ANYWHERE: Final = re.compile(_NOT, re.IGNORECASE)


def agent_last(before: str) -> bool:
    """Whether `before` ends in "by", "von", "durch" or "par" (a cheap test
    that most indicators fail, before `denied_agent` and `instead_agent`)."""
    tail = before[-7:].rstrip(" \t")
    return tail[-1:] in _AGENT_ENDS and tail.lower().endswith(_AGENT_WORDS)


_AGENT_ENDS: Final = frozenset("ynhrYNHR")
_AGENT_WORDS: Final = ("by", "von", "durch", "par")


def denied_agent(before: str) -> bool:
    """Whether `before` makes the indicator after it the denied agent of a
    passive ("was not attacked by 203.0.113.5")."""
    return _DENIED_AGENT.search(before[-60:]) is not None


def instead_agent(before: str, earlier: str) -> bool:
    """Whether `before` names the indicator after it as the agent said in
    place of a denied one ("not by X but by 203.0.113.5"); `earlier` is the
    text of the line before it."""
    return (
        _INSTEAD_AGENT.search(before[-30:]) is not None
        and _NOT_ANYWHERE.search(earlier[-160:]) is not None
    )
