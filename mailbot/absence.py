"""Tell an out-of-office notice by its text, when nothing else marks it.

Some mail systems send the notice under the subject of the mail it answers
("Re: [EGI-20261207-01] ..."), without Auto-Submitted or any other header:
only its words say what it is. It must meet no clock. A person mentions
being away too ("I was out of the office yesterday, sorry: the host is
isolated"), so a mail counts as a notice only when its own text is short,
begins by saying that the writer is away now, says whom to ask meanwhile
or what becomes of the mail (what a template says and a person answering
in the thread does not: "I'm out until Monday, sorry, my colleague will
send the logs" answers), and gives no time of day or address (what a
person reports) and says nothing of the incident's matter: whom to ask is
a template's, but "please contact Pierre, he has the logs and will send
them today" answers the request. Headers that mark a machine's mail are
read before the text (classify.py) and decide.
"""

from __future__ import annotations

import re

# A notice says what it is at once and says little else.
HEAD_CHARS = 300
MAX_CHARS = 450

# Written for this module, case folded without accents (words.normalise):
# the writer is away now, in the first person.
_AWAY = (
    r"\b(?:i am|i'm|i will be|i'll be) (?:currently |now |presently )?"
    r"(?:out of (?:the )?office|away from (?:the|my) (?:office|desk)|away|absent"
    r"|on (?:annual |parental |sick )?leave|on (?:vacation|holidays?)"
    r"|not in the office|out until|travell?ing)"
    r"|\bich bin (?:derzeit |zurzeit |momentan |leider )?(?:bis\b.{0,30}? )?"
    r"(?:nicht im buro|abwesend|im urlaub|ausser haus|nicht erreichbar)"
    r"|\bje suis (?:actuellement )?(?:absente?|en conges?|en vacances|en deplacement)"
    r"|\bik ben (?:momenteel |tot\b.{0,30}? )?(?:afwezig|niet op kantoor"
    r"|met vakantie|niet aanwezig)"
    r"|\bestoy (?:fuera de la oficina|de vacaciones|ausente)"
    r"|\bsono (?:fuori ufficio|in ferie|assente)"
    r"|\bestou (?:fora do escritorio|de ferias|ausente)"
    r"|\bjestem (?:poza biurem|na urlopie|nieobecn[ya])"
    r"|\bjsem (?:mimo kancelar|na dovolene|nepritomn[ya])"
)
# What makes the text a template rather than a person's answer: whom to
# ask meanwhile, or what becomes of the mail it answers. A date alone is
# not enough: a person writes "I'm out until Monday, sorry for the delay,
# my colleague will send the logs" in the thread, and that answers.
_MEANWHILE = (
    r"\b(?:on|upon|after) my return\b|\bwhen i (?:am|'m) back\b|\bwhen i return\b"
    r"|\b(?:limited|no|restricted|occasional) access to (?:my )?e-?mails?\b"
    r"|\blimited access\b|\burgent (?:matters|cases|issues|requests)\b"
    r"|\bplease contact\b|\bin urgent cases\b|\bin case of (?:urgency|emergency)\b"
    r"|\byour (?:e-?mail|message|mail) (?:will|is|has been)\b"
    r"|\bwill not be (?:read|forwarded)\b"
    r"|\bwieder (?:im buro|erreichbar)|\bin dringenden fallen\b"
    r"|\bnach meiner ruckkehr\b|\bihre (?:nachricht|e-?mail) wird\b"
    r"|\bkeinen zugriff auf\b|\ba mon retour\b|\bdes mon retour\b"
    r"|\ben cas d'urgence\b|\bvotre (?:message|courriel|mail) (?:sera|ne sera)\b"
    r"|\bin dringende gevallen\b|\bna mijn terugkeer\b"
    r"|\buw (?:bericht|e-?mail) wordt\b|\ba mi regreso\b|\ben caso de urgencia\b"
    r"|\bal mio rientro\b|\bper urgenze\b|\bem caso de urgencia\b"
    r"|\bpo powrocie\b|\bw pilnych sprawach\b|\bpo navratu\b"
    r"|\bv nalehavych pripadech\b"
)
# What makes a text with whom to ask a person's answer all the same: it
# speaks of this incident's matter (the logs, the host, the evidence) or
# of sending it, which no template written before the incident does ("I am
# on leave; please contact Pierre, he has the logs and will send them").
_MATTER = (
    r"\b(?:the|these|those|our|my|his|her) (?:logs?|log ?files|evidence|forensics?"
    r"|compromised|affected|(?:infected |suspicious )?(?:host|vm|node)s?\b|snapshot"
    r"|miner|malware|attack)"
    r"|\b(?:has|have|keeps?|holds?) (?:the|all the) (?:logs?|evidence)"
    # Not "who can provide the information you need": a template's.
    r"|\b(?:will|shall|can) (?:send|forward|provide|share|upload) (?:you )?"
    r"(?:them|the (?:logs?|log ?files|evidence|files|snapshot|dump))"
    r"|\b(?:sends?|is sending|has sent|forwards?) (?:you )?(?:them|the logs?)"
    r"|\b(?:isolated|disconnected|firewalled|reinstalled)\b"
    r"|\b(?:die|den|das) (?:logs?|logdateien|protokolle|beweise|rechner|host)\b"
    r"|\b(?:schickt|sendet)\b"
    r"|\bisoliert\b|\bvom netz\b"
    r"|\b(?:les|des) (?:logs|journaux|preuves)\b|\b(?:le serveur|la machine|l'hote)\b"
    r"|\b(?:enverra|transmettra)\b|\bisolee?s?\b"
    r"|\bde (?:logs|logbestanden|server|machine)\b|\bstuurt\b"
    r"|\bgeisoleerd\b"
    r"|\blos (?:logs|registros)\b|\benviara\b|\baislad[oa]\b"
    r"|\bi log\b|\binviera\b|\bisolat[oa]\b"
)
# What a notice never gives: a time of day or an address seen, which a
# person's answer from an absence does ("away until Monday, but ui01 was
# isolated at 10:40 UTC").
_EVIDENCE = r"\b\d{1,2}:\d{2}\b|\b\d{1,3}(?:\.\d{1,3}){3}\b"
_AWAY_RE = re.compile(_AWAY)
_MEANWHILE_RE = re.compile(_MEANWHILE)
_EVIDENCE_RE = re.compile(_EVIDENCE)
_MATTER_RE = re.compile(_MATTER)


def has_evidence(text: str) -> bool:
    """Whether `text` gives a time of day or an IPv4 address: what a
    person's answer reports and a machine's notice never does."""
    return _EVIDENCE_RE.search(text) is not None


def absence_reason(text: str) -> str | None:
    """Why `text` (a mail's own text, case folded without accents) is an
    out-of-office notice, or None."""
    if len(text) > MAX_CHARS or has_evidence(text) or _MATTER_RE.search(text):
        return None
    away = _AWAY_RE.search(text[:HEAD_CHARS])
    if away is None or _MEANWHILE_RE.search(text) is None:
        return None
    return "out-of-office text"
