"""Free text: which Analysis Guideline field a line of prose speaks to.

Sites that do not follow the template still say who detected the incident,
what they saw and what they did. A line goes to every free-text field whose
words it uses; a timestamp becomes an incident fact (discovered, isolated,
resolved) when the nearest such word in its clause says so.
"""

from __future__ import annotations

import functools
import re
from typing import Final

from mailbot.extract.shape import zeroed


def by_first_letter(alternation: str) -> str:
    """The regex alternation `alternation`, its branches grouped by first letter.

    "alert|auth|block" becomes "a(?:lert|uth)|block": the same strings match
    (only which branch matches first may change, so for patterns whose
    matches are only tested, not read). The engine tries a branch at each
    position it searches; at a word of a line it tried every one of 180 word
    alternatives, and now tries a letter's few. A branch that does not open
    with a plain letter (a group, a class, a letter with a quantifier) is
    kept as it is.
    """
    groups: dict[str, list[str]] = {}
    others: list[str] = []
    for branch in _branches(alternation):
        if branch[:1].isalpha() and branch[1:2] not in ("?", "*", "+", "{"):
            groups.setdefault(branch[0], []).append(branch[1:])
        else:
            others.append(branch)
    grouped = [
        letter + (rests[0] if len(rests) == 1 else f"(?:{'|'.join(rests)})")
        for letter, rests in groups.items()
    ]
    return "|".join(grouped + others)


def _branches(alternation: str) -> list[str]:
    """The top-level branches of a regex alternation (outside groups, classes
    and escapes)."""
    branches: list[str] = []
    depth, start, index, in_class = 0, 0, 0, False
    while index < len(alternation):
        char = alternation[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            # "[^]...]" and "[]...]": the first "]" is a member.
            index += 1 if alternation[index + 1 : index + 2] == "^" else 0
            index += 1 if alternation[index + 1 : index + 2] == "]" else 0
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and not depth:
            branches.append(alternation[start:index])
            start = index + 1
        index += 1
    branches.append(alternation[start:])
    return branches


_TEXT_FIELDS: Final = {
    "detected_by": (
        r"detect(?:ed|ion)|discovered|noticed|spotted|flagged|alert(?:ed|s)?"
        r"|monitoring|reported[ \t]+(?:to[ \t]+us|by)|notif(?:ied|ication)"
        r"|complain\w*|observed|sensors?|crawler|thanks[ \t]+to|informed|told[ \t]+us"
        r"|weitergeleitet|forward(?:ed|ing)|received[ \t]+this|the[ \t]+report"
        r"|found[ \t]+by|ids|honeypot|entdeckt|festgestellt|découvert|détecté"
        r"|meldung|melding|signalement|notificación|notificação|segnalazione"
        r"|alerta|alarma|alarme|upozornění"
    ),
    "actions_taken": (
        r"isolated|disconnected|firewalled|blocked|suspended|paused|killed|drained"
        r"|disabled|locked|reset|reinstalled|re-installed|removed|stopped|patched"
        r"|revoked|banned|shut[ \t]+down|powered[ \t]+(?:down|off)|taken[ \t]+offline"
        r"|snapshot|quarantined|rotated|isoliert|getrennt|gesperrt|isolée?|bloqué"
        r"|frånkopplad|aislado|isolato|reinstallato|downtime|cleaned|unplugged"
        r"|pulled[ \t]+the[ \t]+(?:network[ \t]+)?(?:cable|plug)"
        r"|apagamos|apagad[oa]|bloquead[oa]|bloqueamos|desligad[oa]|desligamos"
        r"|zablokova\w*|instantánea"
    ),
    "losses": (
        r"stolen|theft|entered[ \t]+their[ \t]+credentials|credentials[ \t]+\w+[ \t]+"
        r"(?:stolen|leaked|compromised)|copied|exfiltrated|root[ \t-]compromise\w*"
        r"|leaked|data[ \t]+(?:loss|lost)|considered[ \t]+(?:stolen|compromised)"
        r"|robad[oa]s?|roubad[oa]s?|vazou|vazad[oa]s?|filtrad[oa]s?|odcizen\w*"
        r"|ukraden\w*|furat\w*"
    ),
    "vulnerabilities": (
        r"vulnerab\w*|outdated|old[ \t]+(?:version|release|jenkins|\w+[ \t]+version)"
        r"|unpatched|without[ \t]+a[ \t]+password|weak[ \t]+password|default[ \t]+"
        r"password|exploit(?:ed|ing)?|misconfigur\w*|cve-\d{4}-\d{4,}|old[ \t]+\w+"
    ),
    "virtual_appliances": (
        r"virtual[ \t]+appliances?|vm[ \t]+images?|appdb|image[ \t]+from"
    ),
}
# Evidence: what was seen, when an indicator, time or path is on the line.
_ACTIVITY_WORDS: Final = (
    r"log(?:in|ins|ged|s)?|connect\w*|scan\w*|traffic|process\w*|files?"
    r"|binary|entries|shell|malware|miner|beacon\w*|brute|attempts?|sessions?"
    r"|accepted|failed|download\w*|exfil\w*|tunnel|cron\w*|payload|requests?"
    r"|communicat\w*|running|ran|dropped|modified|spawned|access\w*|seen|shows?"
    r"|netstat|tcpdump|output|excerpt"
)
_ACTIVITY: Final = re.compile(rf"\b(?:{_ACTIVITY_WORDS})\b", re.IGNORECASE)
_STRONG_WORDS: Final = (
    r"malware|cryptominer|miner|web[ \t]+shell|exfiltration|scanning"
    r"|brute[ \t-]?force|backdoor|rootkit|suspicious"
)
_STRONG_EVIDENCE: Final = re.compile(rf"\b(?:{_STRONG_WORDS})\b", re.IGNORECASE)
# "Reinstalled" in the other languages (English "fixed" or "resolved" say
# too little to be an action taken; these say it).
# The words of each fact in German, French, Spanish and Portuguese, Italian,
# Dutch, Swedish, Polish, Finnish and Czech. A detection is when the site
# learnt of the incident, so it is discovery.
_DISCOVERED: Final = (
    r"entdeckt|festgestellt|bemerkt|erkannt|découvert|détecté|détection"
    r"|detectad[oa]|detectamos|detección|detecção|descubiert[oa]"
    r"|rilevat[oa]|rilevamento|ontdekt|gedetecteerd|upptäckt|wykryt\w*"
    r"|wykryliśmy|havaitsimme|havaittiin|zjistili|zjištěn\w*|detectat\w*|descoperit\w*"
)
_ISOLATED: Final = (
    r"isoliert|getrennt|vom[ \t]+netz[ \t]+genommen|isolée?|déconnectée?|suspendue?"
    r"|aislad[oa]|desconectad[oa]|suspens[oa]|isolat[oa]|sospes[oa]|isolad[oa]"
    r"|aislamos|desconectamos|isolamos|izolat\w*|deconectat\w*"
    r"|geïsoleerd|losgekoppeld|frånkopplad|odłączon\w*|irrotettiin|odpojen\w*"
    r"|odpojil\w*|leválaszt\w*"
)
# "took both nodes offline", "cut the bastion off the network": the verb
# and its object before the words that say the host is off the network.
_OFF_THE_NETWORK: Final = (
    r"(?:took|cut)\b[^.;,:]{0,40}?\boff(?:line|[ \t]+(?:from[ \t]+)?(?:the[ \t]+)?"
    r"(?:network|net|internet))"
)
_REINSTALLED: Final = (
    r"neu[ \t]+installiert|neu[ \t]+aufgesetzt|réinstallée?s?|reinstalad[oa]s?"
    r"|reinstallat[oa]|opnieuw[ \t]+geïnstalleerd|ominstallerad"
    r"|przeinstalowan\w*|asennettiin[ \t]+uudelleen|přeinstalován\w*|reinstalat\w*"
)
_FACTS: Final = {
    "discovered_at": (
        r"discovered|detected|detection"
        r"|(?:we|i|our)\b[^.;]{0,20}\b(?:noticed|spotted|found)"
        r"(?![ \t]+(?:nothing|no[ \t]))"
        r"|(?:told|informed|notified)[ \t]+us|reported[ \t]+to[ \t]+us|" + _DISCOVERED
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
        r"|(?:shut|closed)[ \t]+off|" + _OFF_THE_NETWORK + "|" + _ISOLATED
    ),
    "resolved_at": (
        r"resolved|reinstalled|re-installed|restored|rebuilt|fixed|back[ \t]+in"
        r"[ \t]+(?:production|service)|cleaned[ \t]+up|" + _REINSTALLED
    ),
}
# A line that tells discovery, isolation or reinstallation in another
# language speaks to its free-text field as the English words do: "A VM foi
# suspensa" is an action taken, "wir haben es erkannt" says who detected it.
_TEXT_FIELDS["detected_by"] += "|" + _DISCOVERED
_TEXT_FIELDS["actions_taken"] += "|".join(
    ("", _OFF_THE_NETWORK, _ISOLATED, _REINSTALLED)
)
# Patterns run on lower-cased text: case-insensitive alternations are slow.
# Only tested, never read: their branches go by first letter.
_TEXT: Final = {
    name: re.compile(rf"\b(?:{by_first_letter(pattern)})\b")
    for name, pattern in _TEXT_FIELDS.items()
}
# Any of them: one pass rules out the lines that speak to no field at all.
_ANY_TEXT: Final = re.compile(
    rf"\b(?:{by_first_letter('|'.join(_TEXT_FIELDS.values()))})\b"
)
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
# The same two without IGNORECASE, for the lower-cased text of an ASCII line:
# case-insensitive alternations are several times slower, and on ASCII text
# (where no character has a second lower case, as "K" for the Kelvin sign
# does) both find the same.
# Only tested: by first letter.
_ACTIVITY_LOWER: Final = re.compile(rf"\b(?:{by_first_letter(_ACTIVITY_WORDS)})\b")
_STRONG_LOWER: Final = re.compile(rf"\b(?:{by_first_letter(_STRONG_WORDS)})\b")
_BULLET: Final = re.compile(
    r"^[ \t]*(?:[-*•>]+|\d{1,2}[.)]|[a-h][.)]|\(\d{1,2}\))[ \t]+"
)


# A question or a request asks for a field, it does not give one: "Could you
# send the logs of 10.9.228.73?" is no evidence, and a CSIRT member's
# question must not make a field look answered. A sentence ending in "?",
# or opening with a request, in the languages of the fact words.
_SENTENCE_END: Final = re.compile(r"(?<=[.!?;])\s+")
# "Please find attached", "please note that we ...": pointers, not requests.
_POINTER: Final = r"(?![ \t]+(?:find|see|note|be[ \t]+(?:aware|advised)))"
_REQUEST_ALTERNATIVES: Final = (
    rf"please{_POINTER}|kindly{_POINTER}"
    r"|could[ \t]+you|can[ \t]+you"
    r"|would[ \t]+you|will[ \t]+you|may[ \t]+we[ \t]+ask|let[ \t]+us[ \t]+know"
    r"|bitte|könnt(?:en|est)[ \t]+(?:sie|du)|veuillez|merci[ \t]+de"
    r"|pourriez-vous|pouvez-vous|por[ \t]+favor|podría(?:is)?|per[ \t]+favore"
    r"|potete|potreste|graag|kunt[ \t]+u|kan[ \t]+ni|proszę"
)
_REQUEST_WORDS: Final = rf"(?:{_REQUEST_ALTERNATIVES})\b"
_REQUEST: Final = re.compile(
    r"[ \t]*(?:[-*•>]+[ \t]*)?" + _REQUEST_WORDS, re.IGNORECASE
)
# Whether a request stands anywhere in a line: the bullet before it may be
# empty, so the words alone tell. Lower-cased and without IGNORECASE on an
# ASCII line (see _ACTIVITY_LOWER); every alternative starts with a letter,
# so that the regex engine skips to those.
_REQUEST_ANYWHERE: Final = re.compile(_REQUEST_WORDS, re.IGNORECASE)
_REQUEST_LOWER: Final = re.compile(rf"(?:{by_first_letter(_REQUEST_ALTERNATIVES)})\b")


def _has_request(line: str) -> bool:
    if line.isascii():
        return _REQUEST_LOWER.search(line.lower()) is not None
    return _REQUEST_ANYWHERE.search(line) is not None


def without_requests(line: str) -> str:
    """`line` without its questions and requests (what is left states)."""
    if "?" not in line and not _has_request(line):
        return line
    kept = [
        sentence
        for sentence in _SENTENCE_END.split(line)
        if not sentence.rstrip().endswith("?") and not _REQUEST.match(sentence)
    ]
    return " ".join(kept)


# Forwarding is detection when it passes on a report with its source
# ("Forwarding the report we got", "forwarded to us by our NREN",
# "weitergeleitet vom DFN-CERT"), not when it tells how a mail went round:
# "Pekka forwarded your mail to me, I am handling it now", "forwarded
# message attached", "forwarding you the e-mail", "an mich weitergeleitet".
_PASSED_ON: Final = re.compile(
    r"\bforward(?:ed|ing)?[ \t]+(?:(?:your|the|this|that|my|our|a|an)[ \t]+)?"
    r"(?:e-?mails?|mails?|messages?|tickets?)\b"
    r"|\bforward(?:ed|ing)?[ \t]+(?:it|this|that|you|me|him|her|them)\b"
    r"|\bforward(?:ed|ing)?[ \t]+to[ \t]+(?:me|him|her|them|my|his|their|our|the|an?)\b"
    r"|\ban[ \t]+(?:mich|ihn|sie|uns|meine\w*|unser\w*|den|die|das)\b[^.;,!?]{0,40}?"
    r"\bweitergeleitet\b|\bweitergeleitet[ \t]+an\b"
)
# Its source, in the rest of the clause: then it tells who saw the incident.
_SOURCE: Final = re.compile(r"\b(?:by|from|von|vom)\b")
_CLAUSE_END: Final = re.compile(r"[.;,!?]")


def _handling_only(lower: str) -> bool:
    """Whether `lower` speaks to detected_by only by passing a mail on."""
    if "forward" not in lower and "weitergeleitet" not in lower:
        return False
    kept, cut = [], 0
    for match in _PASSED_ON.finditer(lower):
        end = _CLAUSE_END.search(lower, match.end())
        clause = lower[match.start() : end.start() if end else len(lower)]
        if not _SOURCE.search(clause):
            kept.append(lower[cut : match.start()])
            cut = match.end()
    if not cut:
        return False
    rest = " ".join([*kept, lower[cut:]])
    return not _TEXT["detected_by"].search(rest)


def text_fields(line: str, has_indicator: bool, is_record: bool) -> list[str]:
    """The free-text fields that prose `line` speaks to."""
    # No word of the fields, requests or evidence has a digit, and the CVE
    # pattern takes any (\d): the lines of a log pasted into a body, which
    # differ in their numbers, share one answer. The search of every field's
    # words at every word of a line costs 12 to 20 microseconds a record.
    return list(_text_fields(zeroed(line[:1000]), has_indicator, is_record))


# A label and a time alone ("Discovered: 2026-11-30 09:10 CET", digits
# zeroed): it says when, which the time's fact holds (discovered_at), not
# by whom or what was done: it is no `detected_by` or `actions_taken`.
_ONLY_A_TIME: Final = re.compile(
    r"[^:0]{1,40}:[ \t]*(?=[0\-/.:, t]*?0(?:[-/.]0+[-/.]|:)0)[0\-/.:, t]*"
    r"(?:[ \t]*(?:[a-z]{1,5}|[+-]0+:?0*))?[ \t.]*",
    re.I,
)


@functools.lru_cache(maxsize=4096)
def _text_fields(line: str, has_indicator: bool, is_record: bool) -> tuple[str, ...]:
    only_a_time = _ONLY_A_TIME.fullmatch(line) is not None
    if not is_record:
        line = without_requests(line)
    lower = line.lower()
    fields = []
    if _ANY_TEXT.search(lower):
        fields = [name for name, pattern in _TEXT.items() if pattern.search(lower)]
        if "detected_by" in fields and _handling_only(lower):
            fields.remove("detected_by")
    activity, strong = _ACTIVITY, _STRONG_EVIDENCE
    if line.isascii():
        line, activity, strong = lower, _ACTIVITY_LOWER, _STRONG_LOWER
    if has_indicator and (is_record or activity.search(line)) or strong.search(line):
        fields.append("evidence")
    if only_a_time:
        # "First seen: ..." stays evidence: a time with what it dates.
        return ("evidence",) if "evidence" in fields else ()
    return tuple(fields)


# What a site writes under a heading of the template when it has no value
# yet: "N/A", "-", "unknown", "TBD", "none yet", "nothing so far", "not
# known", "will send later", "pending", in the languages the headings know.
# Such an item is no value: the field stays missing, and the reminder asks
# for it. A bare "none" or "no" stays an answer ("Losses: none"), as does
# "see attached" (the evidence is in the mail).
_NOT_YET: Final = (
    r"(?:[ \t]+(?:yet|so[ \t]+far|for[ \t]+now|at[ \t]+(?:the|this)[ \t]+"
    r"(?:moment|time|point)|until[ \t]+now|currently))"
)
# The same in German, French, Italian, Spanish, Dutch and Polish, as sites
# write them (a breaker's retest: "Erkannt durch: noch offen", "Détecté par :
# à compléter", "aucune pour l'instant" were stored as values). As in
# English, "none" alone ("keine", "aucune", "nessuna", "ninguna", "geen",
# "brak") stays an answer; with "so far" it is none.
_SO_FAR_ELSEWHERE: Final = (
    r"[ \t]+(?:bisher|bis[ \t]+jetzt|momentan|derzeit|pour[ \t]+l['’]instant"
    r"|pour[ \t]+le[ \t]+moment|à[ \t]+ce[ \t]+jour|jusqu['’]à[ \t]+présent"
    r"|per[ \t]+ora|per[ \t]+il[ \t]+momento|finora|al[ \t]+momento"
    r"|por[ \t]+ahora|por[ \t]+el[ \t]+momento|hasta[ \t]+ahora|de[ \t]+momento"
    r"|tot[ \t]+nu[ \t]+toe|voorlopig|op[ \t]+dit[ \t]+moment|na[ \t]+razie"
    r"|do[ \t]+tej[ \t]+pory|jak[ \t]+dotąd)"
)
_NOT_YET_ELSEWHERE: Final = (
    # German
    r"|(?:noch[ \t]+)?(?:offen|ausstehend|unklar|nicht[ \t]+(?:bekannt|geklärt"
    r"|ermittelt|verfügbar))|noch[ \t]+nicht(?:s)?|noch[ \t]+keine?"
    r"|(?:keine?|nichts)" + _SO_FAR_ELSEWHERE + r"|(?:bisher|noch)[ \t]+"
    r"(?:keine?|nichts)"
    r"|(?:in[ \t]+(?:arbeit|bearbeitung|klärung|prüfung)|wird[ \t]+geprüft)"
    r"|(?:folgen|folgt|wird|werden)[ \t]+(?:später|nachgereicht|ergänzt|noch)"
    r"(?:[ \t]+(?:nachgereicht|ergänzt|geliefert))?|noch[ \t]+zu[ \t]+(?:ergänzen"
    r"|klären|ermitteln|bestimmen)|zu[ \t]+ergänzen"
    # French
    r"|à[ \t]+(?:compléter|préciser|confirmer|renseigner|fournir|venir|suivre)"
    r"|(?:aucune?|rien)" + _SO_FAR_ELSEWHERE + r"|pas[ \t]+encore(?:[ \t]+(?:connue?s?"
    r"|déterminée?s?|disponibles?|fait))?|(?:encore[ \t]+)?inconnue?s?"
    r"|non[ \t]+(?:déterminée?s?|disponibles?)|en[ \t]+(?:cours|attente)"
    r"(?:[ \t]+d['’](?:analyse|investigation))?|n\.?[ \t]?c\.?|suivra|plus[ \t]+tard"
    r"|(?:sera|seront)[ \t]+(?:envoyée?s?|fournie?s?|transmise?s?|communiquée?s?)"
    r"(?:[ \t]+plus[ \t]+tard)?"
    # Italian
    r"|da[ \t]+(?:completare|confermare|verificare|fornire|inviare)"
    r"|(?:nessun[oa]?|niente|nulla)" + _SO_FAR_ELSEWHERE + r"|non[ \t]+ancora"
    r"(?:[ \t]+(?:not[oa]|noti|disponibile|definit[oa]))?|ancora[ \t]+(?:nessun[oa]?"
    r"|sconosciut[oa])|in[ \t]+(?:corso|attesa)|(?:non[ \t]+)?disponibile[ \t]+più"
    r"[ \t]+tardi|seguirà|seguiranno|più[ \t]+tardi"
    # Spanish
    r"|por[ \t]+(?:completar|definir|confirmar|aclarar)|pendientes?"
    r"|(?:ningun[oa]?|nada)" + _SO_FAR_ELSEWHERE + r"|(?:todavía|aún)[ \t]+(?:no|nada"
    r"|ningun[oa]|desconocid[oa])|en[ \t]+(?:curso|proceso)|no[ \t]+disponible"
    r"|(?:se[ \t]+)?enviar[áa]n?[ \t]+(?:más[ \t]+tarde|luego)|más[ \t]+tarde"
    # Dutch
    r"|nog[ \t]+(?:open|niet(?:[ \t]+bekend)?|geen|te[ \t]+bepalen)"
    r"|(?:geen|niets)" + _SO_FAR_ELSEWHERE + r"|nader[ \t]+te[ \t]+bepalen|n\.?t\.?b\.?"
    r"|volgt(?:[ \t]+(?:later|nog))?|wordt[ \t]+nagestuurd|in[ \t]+(?:behandeling"
    r"|onderzoek)"
    # Polish
    r"|brak[ \t]+danych|nieznan[yaei]|(?:jeszcze[ \t]+)?nie[ \t]+(?:wiadomo|ustalono"
    r"|znane?)|jeszcze[ \t]+nie|do[ \t]+(?:uzupełnienia|ustalenia|określenia"
    r"|potwierdzenia)|(?:brak|nic)" + _SO_FAR_ELSEWHERE + r"|na[ \t]+razie[ \t]+(?:brak"
    r"|nic)|w[ \t]+(?:toku|trakcie(?:[ \t]+analizy)?)|później|wkrótce"
    r"|(?:zostan(?:ie|ą)[ \t]+)?(?:przesłane|przekazane|uzupełnione)[ \t]+później"
    # Not applicable, as "N/A".
    r"|entfällt|nicht[ \t]+zutreffend|sans[ \t]+objet|non[ \t]+applicabile?"
    r"|no[ \t]+(?:aplica|procede)|n\.?v\.?t\.?|niet[ \t]+van[ \t]+toepassing"
    r"|nie[ \t]+dotyczy"
)
_NON_ANSWER: Final = re.compile(
    r"(?:n/?a|n\.[ \t]?a\.?|not[ \t]+applicable|-+|–|—|\?+|\.{2,}|…|x{3,}"
    r"|(?:still[ \t]+|yet[ \t]+|currently[ \t]+)?(?:unknown|not[ \t]+(?:yet[ \t]+)?"
    r"(?:known|determined|clear|identified|available|confirmed))" + _NOT_YET + r"?"
    r"|unclear|tbd|tba|tbc|t\.b\.d\.?|to[ \t]+be[ \t]+(?:determined|confirmed|defined"
    r"|decided|done|announced|provided|added|completed|clarified|investigated"
    r"|filled(?:[ \t]+in)?|sent|updated)"
    r"|(?:none|nothing|no[ \t]+(?:actions?|information|info|details))"
    r"(?:[ \t]+(?:taken|done|found|known|to[ \t]+report))?"
    + _NOT_YET
    + r"|not[ \t]+yet|pending|in[ \t]+progress|ongoing"
    r"|(?:under|being)[ \t]+investigat(?:ion|ed)|(?:still[ \t]+)?investigating"
    r"|(?:i|we)?[ \t]*(?:will|shall|'ll)[ \t]+(?:be[ \t]+)?(?:send|sent|provided"
    r"|supplied|shared|added|given|follow|update[ds]?|provide|share|add)"
    r"(?:[ \t]+(?:it|them|this|these))?(?:[ \t]+(?:later|soon|shortly|asap))?"
    r"|(?:send|sent|provided|to[ \t]+follow|follows?)[ \t]+(?:later|soon|shortly)"
    r"|to[ \t]+follow|later"
    # German, French, Italian, Spanish, Portuguese, Dutch, Czech, Slovak,
    # Romanian.
    r"|(?:noch[ \t]+)?unbekannt|keine[ \t]+angabe|k\.[ \t]?a\.?|folgt(?:[ \t]+später)?"
    r"|inconnue?|non[ \t]+connue?|à[ \t]+(?:déterminer|définir|venir|suivre)"
    r"|sconosciut[oa]|non[ \t]+not[oa]|da[ \t]+(?:definire|determinare)"
    r"|desconocid[oa]|por[ \t]+determinar|desconhecid[oa]|a[ \t]+determinar"
    r"|(?:nog[ \t]+)?onbekend|neznám[éýá]|zatiaľ[ \t]+neznám[eyá]|necunoscut[ăa]?"
    + _NOT_YET_ELSEWHERE
    + r")[ \t]*[.!;:]*",
    re.IGNORECASE,
)


def non_answer(item: str) -> bool:
    """Whether free-text `item` (collapsed) only says its field has no value yet."""
    item = item.strip("()[]<>*_\"' ")
    return len(item) <= 40 and _NON_ANSWER.fullmatch(item) is not None


# A label that no template heading knows ("Erkannt durch:", "Détecté par :")
# before the placeholder: the line is read as prose, and its label's words
# speak to a field, but it gives no value either.
_LABEL: Final = re.compile(r"[ \t]*[^\W\d][^:\n]{0,40}?[ \t]*:[ \t]*")


def labelled_non_answer(line: str) -> bool:
    """Whether prose `line` is a label and a placeholder only ("Erkannt
    durch: noch offen")."""
    label = _LABEL.match(line) if ":" in line else None
    return label is not None and non_answer(line[label.end() :])


def item_text(line: str) -> str:
    """`line` as one free-text item: without its bullet, spaces collapsed."""
    return item_and_bullet(line)[0]


def item_and_bullet(line: str) -> tuple[str, bool]:
    """`item_text(line)`, and whether `line` opens a new item (`starts_item`)."""
    bullet = _BULLET.match(line)
    rest = line[bullet.end() :] if bullet else line
    return _collapsed(rest)[:1000], bullet is not None


def _collapsed(text: str) -> str:
    """`text` with its runs of white space written as one space, none around."""
    # Printable text has no white space but the ASCII space (str.isprintable
    # counts every other as a separator or a control): without two of them
    # in a row there is nothing to collapse but its ends, and no words to
    # split and join again.
    if text.isprintable() and "  " not in text:
        return text.strip(" ")
    return " ".join(text.split())


# A line ending so ends its sentence.
_LINE_STOPS: Final = (".", "!", "?", ":", ";")
# A piece of a line a mail client wrapped is at least this long (clients
# wrap at 72 to 78 characters, before the word that would not fit).
WRAPPED_PIECE: Final = 50


def wrapped(line: str) -> bool:
    """Whether the mail client cut `line` short: the next line continues it.

    Clients wrap at 72 to 78 characters, before the word that would not fit:
    a wrapped line is long and stops in the middle of its sentence.
    """
    line = line.rstrip()
    return len(line) >= WRAPPED_PIECE and not line.endswith(_LINE_STOPS)


def starts_item(line: str) -> bool:
    """Whether `line` opens a new bullet or numbered item."""
    return bool(_BULLET.match(line))


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
