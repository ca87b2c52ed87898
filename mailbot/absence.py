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
# the writer is away now, in the first person, in each language the README
# promises. A span of days may stand between ("ich bin vom 30.11. bis 4.12.
# nicht im haus", "ik ben tot 14 december afwezig").
_SPAN = r"(?:(?:bis|vom|von|ab|tot|van|du|jusqu'au|dal|fino)\b.{0,40}? )?"
_AWAY = (
    r"\b(?:i am|i'm|i will be|i'll be) (?:currently |now |presently )?"
    r"(?:out of (?:the )?office|away from (?:the|my) (?:office|desk)|away|absent"
    r"|on (?:annual |parental |sick |maternity |paternity )?leave"
    r"|on (?:vacation|holidays?)|on a business trip|on business travel"
    r"|not in the office|out until|travell?ing|unavailable|not available)"
    r"|\bich (?:bin|befinde mich) (?:derzeit |zurzeit |momentan |leider |aktuell )?"
    + _SPAN
    + r"(?:nicht im (?:buro|haus|dienst)|nicht am arbeitsplatz|abwesend|im urlaub"
    r"|ausser haus|nicht erreichbar|auf dienstreise|in elternzeit|krank)"
    r"|\bje (?:suis|serai) (?:actuellement |en ce moment )?"
    + _SPAN
    + r"(?:absente?|en conges?|en vacances|en deplacement|en mission"
    r"|hors du bureau|indisponible|en arret maladie)"
    r"|\bik ben (?:momenteel |op dit moment )?"
    + _SPAN
    + r"(?:afwezig|niet op kantoor|met vakantie|op vakantie|met verlof"
    r"|niet aanwezig|niet bereikbaar)"
    r"|\b(?:estoy|me encuentro|estare) (?:actualmente )?(?:fuera de la oficina"
    r"|de vacaciones|ausente|de viaje|de baja|fuera de la oficina)"
    r"|\b(?:sono|saro) (?:attualmente )?(?:fuori (?:ufficio|sede)|in ferie|assente"
    r"|in vacanza|in trasferta|in congedo|in malattia)"
    r"|\b(?:estou|encontro-me|estarei) (?:atualmente |actualmente )?"
    r"(?:fora do escritorio|de ferias|ausente|de licenca|em viagem)"
    r"|\bjestem (?:obecnie |aktualnie )?(?:poza biurem|na urlopie|nieobecn[ya]"
    r"|niedostepn[ya]|w podrozy s[lł]uzbowej)"
    r"|\bjsem (?:momentalne |aktualne |nyni )?(?:mimo kancelar|na dovolene"
    r"|nepritomn[ya]|nedostupn[ya]|na sluzebni ceste)"
)
# What makes the text a template rather than a person's answer: whom to
# ask meanwhile, or what becomes of the mail it answers. A date alone is
# not enough: a person writes "I'm out until Monday, sorry for the delay,
# my colleague will send the logs" in the thread, and that answers.
_MEANWHILE = (
    r"\b(?:on|upon|after) my return\b|\bwhen i (?:am|'m) back\b|\bwhen i return\b"
    r"|\bwhen i get back\b"
    r"|\b(?:limited|no|restricted|occasional) access to (?:my )?e-?mails?\b"
    r"|\blimited access\b|\burgent (?:matters|cases|issues|requests)\b"
    r"|\b(?:anything|something) urgent\b|\bif (?:it is |it's )?urgent\b"
    r"|\bplease (?:contact|get in touch with|reach out to)\b|\bin urgent cases\b"
    r"|\bin case of (?:urgency|emergency)\b"
    r"|\byour (?:e-?mail|message|mail) (?:will|is|has been)\b"
    r"|\b(?:i will|i'll) (?:respond|reply|answer|get back) to (?:your|you)\b"
    r"|\bwill not be (?:read|forwarded)\b"
    # German
    r"|\bwieder (?:im buro|erreichbar)|\bin dringenden (?:fallen|angelegenheiten)\b"
    r"|\bbei dringenden (?:anliegen|fragen|angelegenheiten|fallen)\b"
    r"|\bwenden sie sich (?:bitte )?an\b|\bbitte (?:kontaktieren|wenden) sie\b"
    r"|\bnach meiner ruckkehr\b|\bihre (?:nachricht|e-?mail) wird\b"
    r"|\b(?:keinen|eingeschrankten) zugriff auf\b"
    # French
    r"|\ba mon retour\b|\bdes mon retour\b|\ben cas d'urgence\b|\bpour toute urgence\b"
    r"|\bpour les (?:questions|demandes|cas|sujets) urgent(?:e?s)?\b"
    r"|\b(?:veuillez|merci de|vous pouvez) (?:contacter|vous adresser a|ecrire a)\b"
    r"|\bvotre (?:message|courriel|mail) (?:sera|ne sera)\b"
    r"|\bje (?:repondrai|reponds) a votre (?:message|courriel|mail|e-?mail)\b"
    r"|\bje n'aurai pas acces\b|\bacces (?:limite|restreint) a\b"
    # Dutch
    r"|\bin dringende gevallen\b|\bvoor dringende (?:zaken|vragen)\b"
    r"|\b(?:neem|kunt u) (?:dan )?contact op(?:nemen)? met\b"
    r"|\bna mijn terugkeer\b|\bbij (?:mijn )?terugkomst\b"
    r"|\buw (?:bericht|e-?mail) wordt\b|\bbeperkte toegang tot\b"
    # Spanish
    r"|\ba mi (?:regreso|vuelta)\b|\ben caso de urgencia\b"
    r"|\bpara (?:asuntos|temas|cuestiones|casos) urgentes\b"
    r"|\bpor favor (?:contacte|contactar|pongase en contacto)\b"
    r"|\bresponder(?:e|a) a su (?:correo|mensaje)\b|\bacceso limitado\b"
    # Italian
    r"|\bal mio rientro\b|\bper urgenze\b|\bin caso di urgenza\b"
    r"|\bper (?:questioni|problemi|richieste|comunicazioni) urgenti\b"
    r"|\b(?:contattare|si prega di contattare|potete contattare|rivolgersi a)\b"
    r"|\brispondero al (?:suo|tuo|vostro) messaggio\b|\baccesso limitato\b"
    # Portuguese
    r"|\bem caso de urgencia\b|\bpara (?:assuntos|questoes|casos) urgentes\b"
    r"|\bpor favor (?:contacte|contate|contactar|entre em contacto)\b"
    r"|\b(?:ao|no) meu regresso\b|\bquando regressar\b"
    r"|\bresponderei a sua (?:mensagem|e-?mail)\b|\bacesso limitado\b"
    # Polish and Czech
    r"|\bpo powrocie\b|\bw pilnych sprawach\b|\bprosze o kontakt z\b"
    r"|\bprosze (?:kontaktowac|skontaktowac) sie z\b|\bograniczony dostep\b"
    r"|\bpo navratu\b|\bv nalehavych pripadech\b|\bobratte se (?:prosim )?na\b"
    r"|\bkontaktujte (?:prosim )?\b|\bomezeny pristup\b"
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
    r"|\bi log\b|\binviera\b|\bisolat[oa]\b|\b(?:il server|la macchina|il nodo)\b"
    r"|\b(?:os logs|os registos|a maquina|o servidor)\b|\benviara\b|\bisolad[oa]\b"
    r"|\b(?:logi|logow|serwer|maszyn[aey])\b|\b(?:wysle|przesle)\b|\bizolowan"
    r"|\bodizolowan|\b(?:logy|server|stroj)\b|\b(?:posle|zasle)\b|\bizolovan"
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
