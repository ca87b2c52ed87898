"""Which field an indicator belongs in, from the words around it.

A cue is a phrase that says what the next (or previous) indicator is: "from"
and "C2" name the attacker, "on" and "compromised" an affected host, "jump
host" an entry point, "other sites" a suspected address. The cue nearest to
the indicator wins. Weak cues ("to", "the host") only speak for the site's
own addresses, which are never the attacker's whatever the words say.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final

from mailbot.extract.shape import zeroed

ATTACKER: Final = "attacker_ips"
AFFECTED: Final = "affected_hosts"
ENTRY: Final = "entry_points"
SUSPECTED: Final = "suspected_ips"
# Strength of an assignment: a template heading beats words, words beat the
# default for the site's own addresses, and anything beats "unclassified".
SECTION: Final = 3
WORDS: Final = 2
DEFAULT: Final = 1
NONE: Final = 0

_PHRASES: Final = {
    "entry": """jump host|jump hosts|jumphost|jump-host|entry point|entry points
        |entry-point|bastion|bastion host|gateway|gateways|login node|login nodes
        |submit host|user interface|user interfaces|came in through|came in via
        |got in through|got in via|entered through|entered via|broke in through
        |broke in via|gained access through|gained access via|gained entry through
        |gained entry via|access was gained through|access was gained via
        |initial access|way in|stepping stone|stepping stones|stepping-stone
        |sprungbrett|sprunghost|einstiegspunkt|einfallstor|drang über
        |eingedrungen über|rebond|machine de rebond|tremplin|entré par
        |entrés par|entrée par|entré via|introduit par""",
    # Where an attack went on from: "moved from wn17 to wn18".
    "stone": """moved from|pivoted from|jumped from|hopped from|spread from
        |moved laterally from|moved on from|went on from""",
    # The way in to a host: the site's own host named after it is an entry
    # point ("logged in via ui01"); another's keeps the cue before it.
    "path": "via|through|über",
    # Who did it: the attacker, or the site's own host it came from.
    "agent": """compromised by|hacked by|attacked by|infected by|breached by
        |exploited by|accessed by|targeted by|scanned by|broken into by
        |broke into by|taken over by|abused by|misused by|brute-forced by
        |bruteforced by|brute forced by|probed by|penetrated by|infiltrated by
        |compromis par|compromise par|attaqué par|attaquée par|piraté par
        |piratée par|exploité par|exploitée par|kompromittiert durch
        |angegriffen durch""",
    # Who did it, said before what it did: "203.0.113.7 exploited it",
    # "... broke into our host". The verb and its object (see _ACTS).
    "actor": "",
    "suspected": """suspect|suspected|may be affected|might be affected
        |could be affected|may also be affected|possibly affected|other site
        |other sites|other egi site|other egi sites|other grid sites
        |belong to other|belongs to other|belong to another|belongs to another""",
    "attacker": """attacker|attackers|attacker's|attackers'|attacking from|c2
        |c2-server|c&c|cnc|command and control|command-and-control
        |command and control server|botnet|mining pool|pool at|stratum
        |served from|hosted at|hosted on|hosted by|hosting|serves malware
        |serving malware|serving phishing|serves phishing|hosts a phishing
        |host a phishing|phishing page|phishing site|phishing kit|phishing url
        |phishing domain|phishing server|phishing host|phishing pages
        |phishing sites|malware host|malware server|malware site|malware url
        |payload|dropper|upload to|uploaded to|tunnel to|reverse shell|wget|curl
        |from|venaient de|venant de|z adresu|z adresy|z naslova|desde|vanaf|fra|från
        |källa|src|source|hostet på|hostet hos|hostad på|gehostet auf|gehost op
        |hébergé sur|hébergée sur|alojado en|alojada en|ospitato su|ospitata su
        |source ip|source_ip|src_ip|remote address|remote ip|blocked|bloqué
        |blockiert|gesperrt|brute force|brute-force|bruteforce|scanner
        |exploitation|intrusion|ban|banned|quelle|origen|origem|bron|źródło
        |mando y control|comando y control|comando e controle|commande et contrôle
        |comando e controllo""",
    "affected": """compromised|compromesso|infected|infiziert|besmet|affected
        |afectado|afectada|hacked|victim|is ours|ihrem netz|your network
        |our cloud vm|our cloud vms|your worker node|our worker node"""
    + "".join(
        f"|{owner} {noun}"
        for owner in ("your", "our")
        for noun in (
            "host",
            "hosts",
            "server",
            "servers",
            "node",
            "nodes",
            "vm",
            "vms",
            "machine",
            "machines",
            "system",
            "systems",
        )
    ),
    "on": "on|auf|sur|su",
    # Where an attack went on to, said before the host only ("tried to
    # reach" after a mail server's name in a bounce is no attack).
    "onto": """to reach|moved laterally to|moved on to|then moved to|pivoted to
        |jumped to|hopped to|spread to|stepping stone to|stepping stone into
        |jump host to|jump host into|pour atteindre|pour accéder à|déplacé vers
        |déplacée vers|rebondi vers|rebondi sur|propagé vers|propagé à|passé à
        |passée à""",
    "generic": """host|hosts|node|nodes|noden|machine|machines|vm|vms|server
        |servers|system|systems|portal|rechner|maschine|servidor|serveur|nodo|ce
        |ui|storage|head node""",
    "toward": """to|do|zu|naar|vers|till|against|gegen|contre|contra|contro|tegen
        |mot|przeciwko|op|på""",
}
# Verbs of harm done by their subject, with the first word of an object
# after them ("exploited the", "broke into our"): the indicator before is
# the one that did it, the one after the one harmed. Those of the first row
# speak alone too, before a host ("the attacker exploited 192.0.2.5").
_ACTS: Final = (
    ("exploited", "attacked", "breached", "broke into", "took over",
     "brute-forced", "bruteforced", "brute forced", "penetrated", "infiltrated"),
    ("compromised", "hacked", "infected", "scanned", "probed", "targeted",
     "abused"),
)  # fmt: skip
_OBJECTS: Final = (
    "it", "them", "us", "our", "your", "the", "a", "an", "this", "that",
    "these", "those", "several", "many", "some", "all", "multiple", "various",
    "one", "two", "three", "his", "her", "their", "my",
)  # fmt: skip
_OBJECT_SET: Final = frozenset(_OBJECTS)
_ACT_ALONE: Final = re.compile(
    r"[ \t]*(?:then[ \t]+|later[ \t]+)?(?:"
    + "|".join(v.replace(" ", r"[ \t]+") for verbs in _ACTS for v in verbs)
    + r")[ \t]+(?:host[ \t]+|server[ \t]+|node[ \t]+)?",
    re.IGNORECASE,
)
_PHRASES["actor"] = "|".join(
    [verb for verb in _ACTS[0]]
    + [f"{verb} {noun}" for verbs in _ACTS for verb in verbs for noun in _OBJECTS]
)
# Word beginnings that are cues whatever their ending ("exfiltrated", "beaconing").
_STEMS: Final = (
    ("attacker", ("angreifer", "attaquant", "aanvaller", "atacante", "attaccante",
                  "atakując", "angripare", "exfil", "beacon")),
    ("affected", ("compromis", "kompromittiert", "betroffen")),
)  # fmt: skip
_TABLE: Final[dict[tuple[str, ...], str]] = {
    tuple(phrase.split()): name
    for name, phrases in _PHRASES.items()
    for phrase in (p.strip() for p in phrases.split("|"))
}
_LONGEST: Final = max(len(words) for words in _TABLE)
# First words of the phrases of more than one word.
_OPENERS: Final = frozenset(words[0] for words in _TABLE if len(words) > 1)
_ALL_STEMS: Final = tuple(stem for _, stems in _STEMS for stem in stems)
_WORD: Final = re.compile(r"[\w&'-]+")
_ROLE: Final = {"entry": ENTRY, "suspected": SUSPECTED, "attacker": ATTACKER}
_ROLE["affected"] = AFFECTED
_ROLE["on"] = AFFECTED
_ROLE["onto"] = AFFECTED
# The end of a clause: words beyond it speak about something else.
_BOUNDARY: Final = re.compile(r"[.!?;](?:\s|\Z)|\|")
_NUMBER: Final = re.compile(r"\b\d+\b")
_DIGIT: Final = re.compile(r"\d")


@dataclass(frozen=True)
class Cue:
    """What the words say about an indicator: a cue name, or none.

    A "path" cue (the way in: "via ui01", "compromised ... from ui01")
    makes the site's own host an entry point; for another the cue name
    `fallback` speaks.
    """

    name: str | None
    fallback: str | None = None

    @property
    def strong(self) -> bool:
        return self.name in _ROLE or self.name == PATH


PATH: Final = "path"


NO_CUE: Final = Cue(None)


def _cues(text: str) -> list[tuple[str, int, int]]:
    """(cue name, start, end) of every cue phrase in `text`, left to right."""
    words = []
    for match in _WORD.finditer(text):
        word = match.group(0).strip("'-").lower()
        # Elided articles: "l'attaccante", "d'un".
        head, quote, rest = word.partition("'")
        if quote and len(head) <= 2 and rest:
            word = rest
        if word:
            words.append((word, match.start(), match.end()))
    plain = [word for word, _, _ in words]
    found, index = [], 0
    while index < len(words):
        step = 1
        longest = _LONGEST if plain[index] in _OPENERS else 1
        for size in range(min(longest, len(words) - index), 0, -1):
            name = _TABLE.get(tuple(plain[index : index + size]))
            if name is not None:
                found.append((name, words[index][1], words[index + size - 1][2]))
                step = size
                break
        else:
            name = _word_cue(words[index][0])
            if name is not None:
                found.append((name, words[index][1], words[index][2]))
        index += step
    return found


def cue_before(text: str) -> Cue:
    """The cue of the words before an indicator, `text`.

    The nearest strong cue of the clause wins; a weak one counts only when it
    stands right before the indicator ("the host X", "to X").
    """
    return _before_masked(_masked(text[-100:]))


def cue_after(text: str, object_follows: bool = False) -> Cue:
    """The first strong cue in `text` (the words after an indicator).

    `object_follows`: another indicator follows `text`, which may be the
    object of a verb of harm ("203.0.113.7 exploited wn01": its doer)."""
    if object_follows and _ACT_ALONE.fullmatch(text):
        return Cue("attacker")
    return _after_masked(_masked(text[:80]))


# Digits tell no cue from another, except in "C2": the shape of a text (see
# shape.py) has the cue of the text itself, and log lines that differ only in
# their numbers (times, ports, addresses) share one cached answer.
def _masked(text: str) -> str:
    if "2" in text and ("c2" in text or "C2" in text):
        return text
    return zeroed(text)


@functools.lru_cache(maxsize=4096)
def _before_masked(text: str) -> Cue:
    return _cue_before(_shape(_clause_tail(text)))


@functools.lru_cache(maxsize=4096)
def _after_masked(text: str) -> Cue:
    return _cue_after(_shape(_clause_head(text)))


def _shape(text: str) -> str:
    # No cue phrase is a number: log lines that differ only in their numbers
    # ("sshd[2123]", "port 4123") share one cached answer.
    return _NUMBER.sub("0", text) if _DIGIT.search(text) else text


def _word_cue(word: str) -> str | None:
    """The cue of one word that no phrase names: a stem, or a compound's end."""
    if word.startswith(_ALL_STEMS):
        return next(n for n, stems in _STEMS if word.startswith(stems))
    # "Botnetz-C2", "SSH-Bruteforce": a compound ending in a strong cue word.
    if "-" in word:
        name = _TABLE.get((word.rpartition("-")[2],))
        if name in _ROLE and name != "on":
            return name
    return None


@functools.lru_cache(maxsize=4096)
def _cue_before(tail: str) -> Cue:
    strong = weak = earlier = None
    harmed = False  # a host was said compromised before the nearest cue
    done_to, strong_end = False, 0
    for name, start, end in _cues(tail):
        # "via" and "through" name the way in only after a word of access
        # or harm ("logged in via", "compromised via"): mail comes "via our
        # mail server", which is no entry point.
        if name == PATH and not (harmed or _ACCESS.search(tail, 0, start)):
            continue
        if name in _ROLE or name in (PATH, "agent", "actor", "stone"):
            # The cue is the object of the verb of harm just before it.
            done_to = strong == "actor" and not tail[strong_end:start].strip()
            earlier, strong, word = strong, name, tail[start:end].lower()
            strong_end = end
            # "the compromised VM sent spam from ...": it names a host, not
            # the way another was reached.
            harm = name == "affected" or name == "actor"
            if harm and not _ADJECTIVE.match(tail, end):
                harmed = True
        elif not tail[end:].strip(" \t([:\"'"):
            weak = name
    if strong == PATH:
        return Cue(PATH, earlier if earlier in _ROLE else None)
    # "brute-forced our login node 192.0.2.11": a host a verb of harm was
    # done to is the one harmed, whatever kind of host it is.
    if strong == "entry" and done_to:
        return Cue("affected")
    # "wn17 was compromised via ssh from ui01": the host the attack came
    # from to the one compromised is the way in, if it is the site's.
    if (strong == "attacker" and word == "from" and harmed) or strong in _AGENTS:
        return Cue(PATH, "attacker")
    # "... exploited 192.0.2.5": what the verb did was done to it.
    if strong == "actor":
        return Cue("affected")
    if strong is not None:
        return Cue(strong)
    return Cue(weak) if weak else NO_CUE


_AGENTS: Final = ("agent", "stone")
_ACCESS: Final = re.compile(
    r"\b(?:log(?:ged)?[ \t-]?in|logins?|ssh|access(?:ed)?|connect(?:ed|ion)"
    r"|came|got|entered|broke|eingeloggt|angemeldet|zugriff|zugegriffen"
    r"|verbunden|connectée?|connexion|accès|accédé|entrée?)\b",
    re.IGNORECASE,
)
# An affected cue followed by the noun it qualifies ("the compromised VM
# sent spam from 192.0.2.40"): it names a host, not the way it was reached.
_ADJECTIVE: Final = re.compile(
    r"[ \t]+(?:host|hosts|node|nodes|vm|vms|machine|machines|server|servers"
    r"|system|systems|account|accounts|user|users)\b",
    re.IGNORECASE,
)

_BEFORE_ONLY: Final = frozenset({"on", "onto"})
_NOT_AFTER: Final = frozenset({"from", "source"})


@functools.lru_cache(maxsize=4096)
def _cue_after(head: str) -> Cue:
    for name, start, end in _cues(head):
        # "(from the logins)" after an address says nothing about its role.
        word = head[start:end].lower()
        if name in _ROLE and name not in _BEFORE_ONLY and word not in _NOT_AFTER:
            return Cue(name)
        # "ui01 was compromised by ...": the host before is the one harmed.
        if name == "agent":
            return Cue("affected")
        # "203.0.113.7 exploited the portal": the host before did it.
        if name == "actor" and word.rpartition(" ")[2] in _OBJECT_SET:
            return Cue("attacker")
    return NO_CUE


def _clause_tail(text: str) -> str:
    text = text[-100:]
    cuts = [match.end() for match in _BOUNDARY.finditer(text)]
    return text[cuts[-1] :] if cuts else text


def _clause_head(text: str) -> str:
    text = text[:80]
    cut = _BOUNDARY.search(text)
    return text[: cut.start()] if cut else text


# Column names that say what their values are where words of prose would
# not: the target of an attack is the affected host; a destination is one
# only if it is the site's (a compromised VM's connections go to its C2).
_COLUMNS: Final = {
    "target": "affected", "target host": "affected", "target ip": "affected",
    "victim": "affected", "victim ip": "affected", "affected": "affected",
    "destination": "toward", "destination ip": "toward", "dst": "toward",
    "dst ip": "toward", "dest": "toward", "dest ip": "toward",
    "destination host": "toward", "destination address": "toward",
}  # fmt: skip


def column_cue(name: str) -> Cue:
    """The cue of a table's column named `name` ("Source IP", "Target host")."""
    cue = _COLUMNS.get(" ".join(name.lower().split()))
    return Cue(cue) if cue else cue_before(name + " ")


def field_for(cue: Cue, owned: bool, is_address: bool) -> tuple[str | None, int]:
    """The field and strength that `cue` gives an indicator (None: unclassified).

    `owned`: the indicator is in the site's networks or domains, so it is
    never the attacker's.
    """
    if cue.name == PATH:
        if owned:
            return ENTRY, WORDS
        cue = Cue(cue.fallback)
    role = _ROLE.get(cue.name or "")
    if role == AFFECTED and cue.name and not owned:
        return AFFECTED, WORDS
    if owned:
        if role == ENTRY:
            return ENTRY, WORDS
        if role is not None or cue.name in ("generic", "toward"):
            return AFFECTED, WORDS if role else DEFAULT
        return (AFFECTED, DEFAULT) if is_address else (None, NONE)
    if role is not None:
        return role, WORDS
    return None, NONE


# A word that denies what follows it in its clause: "nothing malicious in
# it", "is not phishing", "did not come from the attacker".
_DENIAL: Final = re.compile(
    r"\b(?:not(?![ \t]+only\b)|nothing|never|neither|nor|without|isn't|wasn't"
    r"|aren't|doesn't|didn't|don't|nicht(?![ \t]+nur\b)|nichts|pas|rien|ni"
    r"|(?P<no>no|none|kein\w*|aucune?))\b",
    re.IGNORECASE,
)
# What ends the clause a denial speaks in ("not spam but phishing").
_CLAUSE_END: Final = re.compile(
    r"[.;:!?,(]|\b(?:but|however|aber|mais)\b", re.IGNORECASE
)
# The words a denial reaches over: three ("did not come from the
# attacker"); "no" only over these ("no sign of phishing": "no user
# clicked the phishing link" says the link was phishing).
_REACH: Final = 3
_NO_REACH: Final = frozenset(
    ("sign", "signs", "evidence", "indication", "indications", "trace",
     "traces", "hint", "hints", "of", "a", "an", "any", "real", "actual",
     "such", "kind", "form")
)  # fmt: skip


def denied(line: str, at: int) -> bool:
    """Whether a word of denial close before `at` in its clause takes back
    what `line` says at `at` ("nothing malicious", "is not phishing",
    "no sign of spam")."""
    clause = line[max(0, at - 60) : at]
    ends = [end.end() for end in _CLAUSE_END.finditer(clause)]
    denials = list(_DENIAL.finditer(clause, ends[-1] if ends else 0))
    if not denials:
        return False
    found = denials[-1]
    between = clause[found.end() :].lower().split()
    if found.group("no") is not None:
        return all(word in _NO_REACH for word in between)
    return len(between) <= _REACH


def block_cue(line: str, start: int = 0) -> Cue:
    """The attacker cue of a line that introduces a pasted log ("... attacker:").

    Words before `start` (the end of the line's last indicator) already spoke
    for that indicator: "scanning from 192.0.2.77 towards our hosts, e.g.:"
    says nothing about the addresses below.
    """
    stripped = line.rstrip()
    lower = stripped.lower()
    # "the phishing mail (headers below) came from ...": what is pasted below
    # is the attacker's material.
    below = "below" in lower and ("phishing" in lower or "malicious" in lower)
    if not stripped.endswith(":") and not below:
        return NO_CUE
    words = (stripped if below else stripped[start:]).rstrip(":.!) ")
    cue = cue_before(words)
    if cue.name != "attacker":
        return NO_CUE
    # "The mail did not come from the attacker, headers:" names none.
    said = [start for name, start, _ in _cues(words) if name == "attacker"]
    return NO_CUE if said and denied(words, said[-1]) else cue
