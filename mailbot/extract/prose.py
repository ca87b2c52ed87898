"""Free text: which Analysis Guideline field a line of prose speaks to.

Sites that do not follow the template still say who detected the incident,
what they saw and what they did. A line goes to every free-text field whose
words it uses. How an item is written is read here too: its bullet, and
whether the mail client wrapped its line.

Which fact a timestamp tells (discovered, isolated, resolved) is read in
facts.py, whose fact words in other languages speak to the free-text fields
here too; what a site writes where it has no value yet, in placeholders.py.
"""

from __future__ import annotations

import functools
import re
from typing import Final

from mailbot.extract.facts import DISCOVERED, ISOLATED, OFF_THE_NETWORK, REINSTALLED

# deadlines/events.py reads it from here.
from mailbot.extract.facts import NOT_DONE as NOT_DONE
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
# A line that tells discovery, isolation or reinstallation in another
# language speaks to its free-text field as the English words do: "A VM foi
# suspensa" is an action taken, "wir haben es erkannt" says who detected it.
_TEXT_FIELDS["detected_by"] += "|" + DISCOVERED
_TEXT_FIELDS["actions_taken"] += "|".join(("", OFF_THE_NETWORK, ISOLATED, REINSTALLED))
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


# "copied" is a loss when the attacker took the data; the site's staff
# copying logs or disks for analysis ("we copied the logs from wn01 to ...",
# "the logs were copied to our file server") lost nothing.
_OWN_COPY: Final = re.compile(
    r"\b(?:we|i|us|admins?|administrators?|sysadmins?|colleagues?|our[ \t]+team)"
    r"\b[^.;:!?]{0,30}?\bcopied\b"
    r"|\b(?:logs?|log[ \t]+files?|evidence|disk[ \t]+images?|snapshots?|backups?)"
    r"[ \t]+(?:were|was|have[ \t]+been|has[ \t]+been)[ \t]+copied\b"
    r"|\bcopied[ \t]+(?:(?:the|all|our|these|those|its|their|relevant)[ \t]+)?"
    r"(?:[\w-]+[ \t]+)?(?:logs?|log[ \t]+files?|evidence|disk[ \t]+images?"
    r"|images?|snapshots?|backups?)\b"
)


# An action only asked for or planned ("it must be revoked", "should be
# reinstalled", "will be isolated") is not one taken.
_TO_BE_DONE: Final = re.compile(
    r"\b(?:must|should|shall|will|needs?[ \t]+to|has[ \t]+to|have[ \t]+to"
    r"|ought[ \t]+to|is[ \t]+to|are[ \t]+to)[ \t]+(?:(?:also|still|then|now"
    r"|immediately|urgently)[ \t]+)?be[ \t]+[a-z-]+(?:[ \t]+(?:down|off|offline))?"
)


_NOT_THE_FIELD: Final = (
    ("losses", "copied", _OWN_COPY),
    ("actions_taken", " be ", _TO_BE_DONE),
)


def _only_in(lower: str, field: str, wording: re.Pattern[str]) -> bool:
    """Whether `lower` speaks to `field` only in words of `wording`."""
    rest = wording.sub(" ", lower)
    return rest != lower and not _TEXT[field].search(rest)


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
        # The site copying its logs is no loss, an action asked for none taken.
        for name, cut, wording in _NOT_THE_FIELD:
            if name in fields and cut in lower and _only_in(lower, name, wording):
                fields.remove(name)
    activity, strong = _ACTIVITY, _STRONG_EVIDENCE
    if line.isascii():
        line, activity, strong = lower, _ACTIVITY_LOWER, _STRONG_LOWER
    if has_indicator and (is_record or activity.search(line)) or strong.search(line):
        fields.append("evidence")
    if only_a_time:
        # "First seen: ..." stays evidence: a time with what it dates.
        return ("evidence",) if "evidence" in fields else ()
    return tuple(fields)


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
