"""The fact a timestamp tells: discovered, isolated, resolved, or none.

The nearest fact word of a time's clause names it ("isolated at 09:30",
"at 09:15 we detected"), or, in German and Dutch, the participle that ends
the clause; a negation, the future, a condition or a request before it
("will isolate it at 18:00"), or "failed" after it, makes it no fact. The
fact words also speak to free-text fields (prose.py).
"""

from __future__ import annotations

import functools
import re
from typing import Final

from mailbot.extract.shape import zeroed

# "Reinstalled" in the other languages (English "fixed" or "resolved" say
# too little to be an action taken; these say it).
# The words of each fact in German, French, Spanish and Portuguese, Italian,
# Dutch, Swedish, Polish, Finnish and Czech. A detection is when the site
# learnt of the incident, so it is discovery.
DISCOVERED: Final = (
    r"entdeckt|festgestellt|bemerkt|erkannt|découvert|détecté|détection"
    r"|detectad[oa]|detectamos|detección|detecção|descubiert[oa]"
    r"|rilevat[oa]|rilevamento|ontdekt|gedetecteerd|upptäckt|wykryt\w*"
    r"|wykryliśmy|havaitsimme|havaittiin|zjistili|zjištěn\w*|detectat\w*|descoperit\w*"
)
ISOLATED: Final = (
    r"isoliert|getrennt|vom[ \t]+netz[ \t]+genommen|isolée?|déconnectée?|suspendue?"
    r"|aislad[oa]|desconectad[oa]|suspens[oa]|isolat[oa]|sospes[oa]|isolad[oa]"
    r"|aislamos|desconectamos|isolamos|izolat\w*|deconectat\w*"
    r"|geïsoleerd|losgekoppeld|frånkopplad|odłączon\w*|irrotettiin|odpojen\w*"
    r"|odpojil\w*|leválaszt\w*"
)
# "took both nodes offline", "cut the bastion off the network": the verb
# and its object before the words that say the host is off the network.
OFF_THE_NETWORK: Final = (
    r"(?:took|cut)\b[^.;,:]{0,40}?\boff(?:line|[ \t]+(?:from[ \t]+)?(?:the[ \t]+)?"
    r"(?:network|net|internet))"
)
REINSTALLED: Final = (
    r"neu[ \t]+installiert|neu[ \t]+aufgesetzt|réinstallée?s?|reinstalad[oa]s?"
    r"|reinstallat[oa]|opnieuw[ \t]+geïnstalleerd|ominstallerad"
    r"|przeinstalowan\w*|asennettiin[ \t]+uudelleen|přeinstalován\w*|reinstalat\w*"
)
_FACTS: Final = {
    "discovered_at": (
        r"discovered|detected|detection"
        r"|(?:we|i|our)\b[^.;]{0,20}\b(?:noticed|spotted|found)"
        r"(?![ \t]+(?:nothing|no[ \t]))"
        r"|(?:told|informed|notified)[ \t]+us|reported[ \t]+to[ \t]+us|" + DISCOVERED
    ),
    # An alert is discovery when a sentence tells it ("the alert fired at
    # 01:02", "at 09:15 our IDS raised an alert"). A time followed at once by
    # "alert" is a record of the alert among the evidence ("05:00 UTC alert
    # from the IDS" in a timeline, a SIEM's "03:15 Alert: ..."): no fact.
    "alert": (
        r"alert(?:ed|s)?|alarm(?:ed|s)?|alerte|alerta|allerta|allarme|melding|larm"
        r"|flagged"
    ),
    "isolated_at": (
        r"isolated|isolation|disconnected|firewalled|cut[ \t]+off|paused|suspended"
        r"|quarantined|taken[ \t]+offline|unplugged|(?:is|was|went|now)[ \t]+offline"
        r"|pulled[ \t]+the[ \t]+(?:network[ \t]+)?(?:cable|plug)"
        r"|taken[ \t]+off[ \t]+(?:the[ \t]+)?(?:network|net|line)"
        # "the network cable of wn3 was pulled at 09:30", "moved to a
        # quarantine VLAN at 09:30" (deadlines/isolation.py's families)
        r"|(?:cables?|plugs?|uplinks?)[ \t]+(?:of[ \t]+[\w.-]+[ \t]+)?"
        r"(?:was|were|has[ \t]+been|have[ \t]+been)[ \t]+(?:pulled|removed|unplugged)"
        r"|(?:quarantine|forensics?|sandbox|containment)[ \t-]*"
        r"(?:vlan|network|subnet|segment|zone|net)s?\b"
        r"(?![ \t]*(?:share|drive|storage|folder))"
        # What the clocks take for isolation (deadlines/events.py) is
        # isolation here too, so a stated time of it is the fact's time.
        r"|snapshot[ \t]+(?:was[ \t]+|has[ \t]+been[ \t]+)?taken"
        r"|blocked[ \t]+(?:at|on)[ \t]+the[ \t]+(?:network|firewall)"
        r"|blocked[ \t]+(?:it|them|the[ \t]+(?:host|vm|node|machine|server|instance)s?)"
        r"[ \t]+(?:at|on)[ \t]+the[ \t]+(?:network|firewall)"
        r"|network[ \t]+(?:access|connectivity)[ \t]+(?:of|to|for)[ \t]+"
        # (the gap holds no "will" or "not": see NOT_DONE, which looks
        # before the fact's words)
        r"(?:(?!will\b|not\b|n't|shall\b|to[ \t]be\b)[^.;,]){1,40}?"
        r"[ \t]+(?:was[ \t]+|has[ \t]+been[ \t]+|is[ \t]+)?(?:blocked|disabled|cut)"
        r"|(?:shut|closed)[ \t]+off|" + OFF_THE_NETWORK + "|" + ISOLATED
    ),
    "resolved_at": (
        r"resolved|reinstalled|re-installed|restored|rebuilt|fixed|back[ \t]+in"
        r"[ \t]+(?:production|service)|cleaned[ \t]+up|" + REINSTALLED
    ),
}
_FACT: Final = re.compile(
    "|".join(rf"(?P<{name}>\b(?:{pattern})\b)" for name, pattern in _FACTS.items())
)
_BOUNDARY: Final = re.compile(r"[.!?;](?:\s|\Z)")
# A cheap test before the costly one: every fact word starts with these.
_FACT_HINT: Final = re.compile(
    r"discover|detect|notic|spott|entdeck|festgest|bemerk|découv|détect|detecta"
    r"|descubi|rilev|upptäck|ontdek|wykry|isol|disconn|firewal|cut|paus|suspend"
    r"|quarant|offline|unplug|getrenn|aisla|frånkop|geïsol|odłącz|irrotet|resolv"
    r"|reinst|re-inst|restor|rebuil|fixed|back|cleaned|pulled the"
    r"|alert|alarm|larm|erkannt|detec|allerta|melding|gedetect|havait|zjist|zjišt"
    r"|vom netz|déconn|desconec|suspens|sospes|losgekop|odpoj|neu [ia]|réinst"
    r"|opnieuw|ominst|przeinst|uudelleen|přeinst|taken off|told us|informed us"
    r"|notified us|reported to us|leválaszt|took|izol|deconect|aislam|desconectam"
    r"|found|flagged|descoper|reinstalat|snapshot|blocked|shut off|closed off"
    r"|cable|uplink|vlan|forensic|sandbox|containment"
)


def fact_of(before: str, after: str) -> str | None:
    """The fact field named by the words nearest to a timestamp.

    `before` and `after` are the words on either side of it.
    """
    # Only the last 70 characters before and the first 50 after count, and
    # no fact word, boundary or conjunction has a digit: the records of a
    # log, which differ in their numbers, share one answer.
    found = _fact_of(zeroed(before[-70:]), zeroed(after[:50]))
    if found is None and len(after) > 50:
        # Only a clause that ends past where _fact_of looked (a boundary is
        # a character class: the engine skips to it).
        stop = _BOUNDARY.search(after, 0, _CLAUSE_FINAL)
        if stop is not None and stop.start() >= 50:
            found = _clause_final(zeroed(before[-70:]), zeroed(after[:_CLAUSE_FINAL]))
    return found


# German and Dutch put the participle last: "am 07.12. um 06:50 Uhr haben
# wir auf ui01 (192.0.2.10) verdächtige Anmeldungen festgestellt". A fact
# word that ends the time's clause names it, up to this far after the time.
_CLAUSE_FINAL: Final = 130
# What a caller hands `fact_of` of the words after a time.
FACT_AFTER: Final = _CLAUSE_FINAL


@functools.lru_cache(maxsize=4096)
def _clause_final(before: str, after: str) -> str | None:
    """The fact word that ends the clause of a time, when no word nearer
    to it names one (`_fact_of`): one clause, no comma or conjunction
    between, not in the negative, the future or a question."""
    before, after = before.lower(), after.lower()
    stop = _BOUNDARY.search(after)
    if stop is None or after[stop.start()] == "?":
        return None
    clause = after[: stop.start()].rstrip(" )")
    if "," in clause or _CONJUNCTION.search(clause) or _UNDONE_AFTER.search(clause):
        return None
    facts = list(_FACT.finditer(clause))
    last = facts[-1] if facts else None
    if last is None or last.end() != len(clause) or last.lastgroup == "alert":
        return None
    cuts = [match.end() for match in _BOUNDARY.finditer(before)]
    lead = (before[cuts[-1] :] if cuts else before) + " " + clause[: last.start()]
    if NOT_DONE.search(lead[-70:]):
        return None
    return last.lastgroup


@functools.lru_cache(maxsize=4096)
def _fact_of(before: str, after: str) -> str | None:
    before, after = before.lower(), after.lower()
    if not _FACT_HINT.search(before) and not _FACT_HINT.search(after[:50]):
        return None
    cuts = [match.end() for match in _BOUNDARY.finditer(before)]
    if cuts:
        before = before[cuts[-1] :]
    after = after[:50]
    stop = _BOUNDARY.search(after)
    if stop is not None:
        # "Isolated at 12:10 UTC?": asked, not stated.
        if after[stop.start()] == "?":
            return None
        after = after[: stop.start()]
    if _UNDONE_AFTER.search(after):
        return None  # "isolation at 12:10 failed", "... pending", "not yet"
    # "certificate revoked on 2026-12-03 09:00 UTC, squid02 reinstalled": a
    # time that ends a clause of its own (three words or more before it) is
    # not named by the words after the next comma. "At 09:15, we isolated
    # it" keeps them.
    if ", " in after and len(before.split()) >= 3:
        after = after.split(", ", 1)[0]
    best, distance, lead = None, 10**6, ""
    for match in _FACT.finditer(before):
        if len(before) - match.end() < distance and not _quoted(before, match):
            best, distance = match.lastgroup, len(before) - match.end()
            # The words before it and those between it and the time
            # ("isolation of wn12 scheduled at").
            lead = before[: match.start()] + " | " + before[match.end() :]
    best = "discovered_at" if best == "alert" else best
    for match in _FACT.finditer(after):
        if _quoted(after, match):
            continue
        # "aislado a las 03:10 y reinstalado a las 11:45": past a conjunction
        # the word after the time speaks of the next event, not of this one.
        if best is not None and _CONJUNCTION.search(after[: match.start()]):
            break
        if match.start() < distance:
            best = match.lastgroup
            lead = before + " " + after[: match.start()]
            if best == "alert":
                best = "discovered_at" if after[: match.start()].strip() else None
        break
    # "The host was not isolated at 09:00", "we will isolate it at 18:00",
    # "please confirm the isolation by 12:00": nothing happened then.
    if best is not None and NOT_DONE.search(lead[-70:]):
        return None
    return best


# Words that make the clause's event not (yet) a fact: negation, the future,
# a condition, a request, in the languages of the fact words. Lower-cased
# text; deadlines/events.py asks it too, of a site's words without a time.
NOT_DONE: Final = re.compile(
    # "n't" ends a word ("wasn't", "hasn't", "won't"): no boundary before it.
    r"(?:n't|(?:^|\W)(?:not|never|no[ \t]+longer|yet[ \t]+to|will|shall|going[ \t]+to"
    r"|plan(?:ned|s)?(?:[ \t]+to)?|scheduled|expected|to[ \t]+be|should|must"
    r"|need[ \t]+to|can|could|cannot|unable"
    r"|please|whether|if|nicht|noch[ \t]+kein\w*|wird|werden|soll|sollen|pas|jamais"
    r"|sera|seront|prévue?s?|no[ \t]+(?:ha|han|fue|está|se)|todavía[ \t]+no"
    r"|aún[ \t]+no|programad[oa]s?|previst[oa]s?"
    r"|non|ancora|sarà|saranno|niet|nog[ \t]+niet|wordt|zal|zullen|inte"
    r"|kommer[ \t]+att|nie|zostanie))(?=\W|$)"
)
# After the time, in its clause: the event did not (yet) happen.
_UNDONE_AFTER: Final = re.compile(
    r"(?:^|\W)(?:not[ \t]+yet|failed|pending|cancel+ed|postponed|fehlgeschlagen"
    r"|échoué|fallid[oa]|fallit[oa]|mislukt)(?=\W|$)"
)


_CONJUNCTION: Final = re.compile(
    r"(?:^|[\s,])(?:and|then|und|dann|et|puis|y|luego|e|poi|en|daarna|och|oraz|ja"
    r"|a)[\s,]"
)


def _quoted(text: str, match: re.Match[str]) -> bool:
    # '"event_type":"alert"': a word in double quotes is a value of a record
    # (JSON, CSV), not the writer's account of what happened.
    start, end = match.span()
    return text[start - 1 : start] == '"' and text[end : end + 1] == '"'
