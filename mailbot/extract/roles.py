"""Which field an indicator belongs in, from the words around it.

A cue is a phrase that says what the next (or previous) indicator is: "from"
and "C2" name the attacker, "on" and "compromised" an affected host, "jump
host" an entry point, "other sites" a suspected address. The cue nearest to
the indicator wins. Weak cues ("to", "the host") only speak for the site's
own addresses, which are never the attacker's whatever the words say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ATTACKER, AFFECTED, ENTRY, SUSPECTED = (
    "attacker_ips",
    "affected_hosts",
    "entry_points",
    "suspected_ips",
)
# Strength of an assignment: a template heading beats words, words beat the
# default for the site's own addresses, and anything beats "unclassified".
SECTION, WORDS, DEFAULT, NONE = 3, 2, 1, 0

_CUES = {
    "entry": (
        r"jump[ -]?hosts?|entry[ -]points?|bastion(?:[ -]hosts?)?|gateways?"
        r"|login[ -]nodes?|submit[ -]hosts?"
    ),
    "suspected": (
        r"suspect(?:ed)?|(?:may|might|could)[ \t]+(?:also[ \t]+)?be[ \t]+affected"
        r"|possibly[ \t]+affected|other[ \t]+(?:egi[ \t]+|grid[ \t]+)?sites?"
        r"|belongs?[ \t]+to[ \t]+(?:another|other)"
    ),
    "attacker": (
        r"attack(?:er|ers|er's|ers'|ing[ \t]+from)|angreifer\w*|attaquant\w*"
        r"|aanvaller\w*|atacante\w*|attaccante\w*|atakując\w*|angripare\w*"
        r"|c2(?:-server)?|c&c|cnc|command[ \t-]+and[ \t-]+control(?:[ \t]+server)?"
        r"|botnet|mining[ \t]+pool|pool[ \t]+at|stratum"
        r"|(?:down)?load(?:ed|ing)?[ \t]+(?:\w+[ \t]+){0,2}from|served[ \t]+from"
        r"|hosted[ \t]+(?:at|on|by)|hosting|serv(?:es|ing)[ \t]+(?:malware|phishing)"
        r"|hosts?[ \t]+a[ \t]+phishing|phishing[ \t]+(?:page|site|kit|url|domain"
        r"|server|host)s?|malware[ \t]+(?:host|server|site|url)s?|payload|dropper"
        r"|exfil\w*|upload(?:ed)?[ \t]+to|tunnel[ \t]+to|beacon\w*(?:[ \t]+to)?"
        r"|reverse[ \t]+shell|wget|curl|from|venaient[ \t]+de|venant[ \t]+de"
        r"|z[ \t]+adresu|desde|vanaf|källa|src|source(?:[ \t_-]?ip)?"
        r"|remote[ \t]+(?:address|ip)|blocked|bloqué|blockiert|gesperrt"
        r"|brute[ \t-]?force|scanner|exploitation|intrusion"
    ),
    "affected": (
        r"compromised|compromesso|compromis\w*|kompromittiert\w*|infected|infiziert"
        r"|besmet|affected|afectad[oa]|betroffen\w*|hacked|victim|is[ \t]+ours"
        r"|(?:your|our)[ \t]+(?:cloud[ \t]+)?(?:host|server|node|vm|machine|system"
        r"|worker[ \t]+node)s?|ihrem[ \t]+netz|your[ \t]+network"
    ),
    # "on" names the host something ran on, unless later words say otherwise.
    "on": r"on|auf|sur|su",
    "generic": (
        r"hosts?|nodes?|noden|machines?|vms?|servers?|systems?|portal|rechner"
        r"|maschine|servidor|serveur|nodo|ce|ui|storage|head[ \t]+node"
    ),
    "toward": r"to|do|zu|naar|vers|till",
}
_CUE = re.compile(
    "|".join(rf"(?P<{name}>\b(?:{pattern})\b)" for name, pattern in _CUES.items()),
    re.IGNORECASE,
)
_ROLE = {"entry": ENTRY, "suspected": SUSPECTED, "attacker": ATTACKER}
_ROLE["affected"] = AFFECTED
_ROLE["on"] = AFFECTED
# The end of a clause: words beyond it speak about something else.
_BOUNDARY = re.compile(r"[.!?;](?:\s|\Z)|\|")


@dataclass(frozen=True)
class Cue:
    """What the words say about an indicator: a cue name, or none."""

    name: str | None

    @property
    def strong(self) -> bool:
        return self.name in _ROLE


NO_CUE = Cue(None)


def cue_before(text: str) -> Cue:
    """The cue of the words before an indicator, `text`.

    The nearest strong cue of the clause wins; a weak one counts only when it
    stands right before the indicator ("the host X", "to X").
    """
    tail = _clause_tail(text)
    strong = weak = None
    for match in _CUE.finditer(tail):
        if match.lastgroup in _ROLE:
            strong = match
        elif not tail[match.end() :].strip(" \t([:\"'"):
            weak = match
    if strong is not None:
        return Cue(strong.lastgroup)
    return Cue(weak.lastgroup) if weak else NO_CUE


def cue_after(text: str) -> Cue:
    """The first strong cue in `text` (the words after an indicator)."""
    head = _clause_head(text)
    for match in _CUE.finditer(head):
        name = match.lastgroup
        # "(from the logins)" after an address says nothing about its role.
        if (
            name in _ROLE
            and name != "on"
            and match.group(0).lower()
            not in (
                "from",
                "source",
            )
        ):
            return Cue(name)
    return NO_CUE


def _clause_tail(text: str) -> str:
    text = text[-120:]
    cuts = [match.end() for match in _BOUNDARY.finditer(text)]
    return text[cuts[-1] :] if cuts else text


def _clause_head(text: str) -> str:
    text = text[:70]
    cut = _BOUNDARY.search(text)
    return text[: cut.start()] if cut else text


def field_for(cue: Cue, owned: bool, is_address: bool) -> tuple[str | None, int]:
    """The field and strength that `cue` gives an indicator (None: unclassified).

    `owned`: the indicator is in the site's networks or domains, so it is
    never the attacker's.
    """
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


def block_cue(line: str) -> Cue:
    """The attacker cue of a line that introduces a pasted log ("... attacker:")."""
    stripped = line.rstrip()
    lower = stripped.lower()
    # "the phishing mail (headers below) came from ...": what is pasted below
    # is the attacker's material.
    below = "below" in lower and ("phishing" in lower or "malicious" in lower)
    if not stripped.endswith(":") and not below:
        return NO_CUE
    cue = cue_before(stripped.rstrip(":.!) "))
    return cue if cue.name == "attacker" else NO_CUE
