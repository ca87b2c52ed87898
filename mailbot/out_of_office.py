"""Tell an out-of-office reply by its subject, in the languages sites write.

The subject says it in most replies ("Automatic reply: ...", "Absent:
...", "[Out of Office] ...", "Jane Doe is out of the office"); the other
marks of an automatic answer are headers (classify.py), and the words of
one sent without any are read by absence.py.
"""

from __future__ import annotations

import re

from mailbot.words import normalise

# Out-of-office subjects, written naturally and normalised at import. Phrases
# count at the start of the subject, after reply prefixes and [markers].
_OOO_PHRASES = (
    "out of office", "out of the office", "automatic reply", "automatic response",
    "auto reply", "autoreply", "auto response", "autoresponse", "autoresponder",
    "away from the office", "away from office", "away from my desk", "on vacation",
    "abwesenheitsnotiz", "abwesenheitsnachricht", "abwesenheitsmeldung",
    "automatische antwort", "außer haus", "nicht im büro", "réponse automatique",
    "absence du bureau", "absent du bureau", "message d'absence",
    "automatisch antwoord", "niet aanwezig", "afwezigheidsbericht",
    "afwezigheidsmelding", "niet op kantoor", "respuesta automática",
    "fuera de la oficina", "fuera de oficina", "respuesta de ausencia",
    "mensaje de ausencia", "risposta automatica", "fuori ufficio", "fuori sede",
    "resposta automática", "fora do escritório", "mensagem de ausência",
    "odpowiedź automatyczna", "automatyczna odpowiedź", "poza biurem",
    "automatická odpověď", "automatická odpoveď", "mimo kancelář",
    "mimo kancelárie", "autosvar", "automatiskt svar", "automatisk svar",
    "frånvaromeddelande", "fraværsmelding", "ikke på kontoret", "ikke til stede",
    "ej på kontoret", "automaattinen vastaus", "poissa toimistolta",
    "αυτόματη απάντηση", "εκτός γραφείου", "automatikus válasz", "házon kívül",
    "irodán kívül", "automatski odgovor", "izvan ureda", "nisam u uredu",
    "samodejni odgovor", "răspuns automat", "în afara biroului",
    "automaatne vastus", "automātiskā atbilde", "automatinis atsakymas",
    "otomatik yanıt", "otomatik cevap", "автоматичен отговор",
    "автоматический ответ", "автоматична відповідь", "вне офиса",
)  # fmt: skip
# Single words that are also ordinary words count only at the very start of
# the subject and followed by punctuation or nothing ("Absent: ...").
_OOO_WORDS = (
    "absent", "absente", "absence", "abwesend", "abwesenheit", "afwezig",
    "afwezigheid", "ausente", "ausencia", "ausência", "assente", "assenza",
    "frånvaro", "frånvarande", "fraværende", "fravær", "poissa", "nieobecność",
    "nepřítomnost", "nepřítomen", "odsutan", "odsutna", "odsutnost", "odsotnost",
    "távol", "απουσία", "ooo", "vacation", "urlaub", "urlaubsabwesenheit",
)  # fmt: skip
# Lotus Notes and others name the person first: "Jane Doe is out of the office".
_OOO_SENTENCES = (
    "is out of the office", "is out of office", "ist außer haus", "ist abwesend",
    "est absent", "est absente", "is afwezig",
)  # fmt: skip


def _alternation(phrases: tuple[str, ...]) -> str:
    escaped = (re.escape(normalise(p)) for p in sorted(phrases, key=len, reverse=True))
    return "|".join(
        e.replace(r"\ ", r"[\s_-]?").replace(r"\-", r"[\s_-]?") for e in escaped
    )


# "Out of office hours" is what incident reports say about logins, not OOO.
_OOO_START = re.compile(rf"(?:{_alternation(_OOO_PHRASES)})(?![^\W\d_]|\s?hours)")
_OOO_WORD = re.compile(rf"(?:{_alternation(_OOO_WORDS)})\s?(?:$|[:\-–—(,/|!])")
_OOO_WHOLE = re.compile(rf"(?:{_alternation(_OOO_PHRASES + _OOO_WORDS)})")
_OOO_ANYWHERE = re.compile(rf"\b(?:{_alternation(_OOO_SENTENCES)})\b")
_BRACKETED = re.compile(r"[\[(]([^\[\]()]{1,60})[\])]")
_MARKER = re.compile(r"\[[^\[\]\d]{0,40}\]\s?")
_PREFIX = re.compile(
    r"(?:(?:re|aw|sv|vs|wg|fw|fwd|antw|antwort|tr|rv|r|odp|ynt|res|enc|ref|rif|vl"
    r"|vb|atb|ats|απ|σχετ|отв)\s?(?:\[\d{1,4}\]|\(\d{1,4}\))?\s?[:：]"
    r"|\[[^\[\]]{0,60}\])\s?"
)


def is_out_of_office_subject(subject: str) -> bool:
    """Whether a (decoded) subject is the subject of an out-of-office reply."""
    text = normalise(subject[:1000])
    head = _strip_all(_MARKER, text)
    if _OOO_WORD.match(head) or _OOO_START.match(_strip_all(_PREFIX, text)):
        return True
    if _OOO_ANYWHERE.search(text):
        return True
    groups = (g.strip(" :-") for g in _BRACKETED.findall(text))
    return any(_OOO_WHOLE.fullmatch(g) for g in groups)


def _strip_all(pattern: re.Pattern[str], text: str) -> str:
    for _ in range(20):
        match = pattern.match(text)
        if not match or not match.group(0):
            break
        text = text[match.end() :]
    return text
