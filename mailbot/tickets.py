"""Tell a ticket system's automatic acknowledgement from a person's reply.

A site's helpdesk (RT, OTRS or Znuny, Jira Service Management, ServiceNow,
Zammad, GLPI, osTicket and the like) often answers every mail it receives
with "your ticket has been created", without an Auto-Submitted header. That
answer is nobody's reply: it must meet no clock and get no answer. A person
writing from the same helpdesk names the ticket too, so a mail counts as an
acknowledgement only when the first lines of its own text say that a ticket
or request was opened and that a machine wrote them, or say the first with a
ticket system's own header on the mail, or say it as a service desk does
(the mail received and filed, in the passive, and when or where it will
be handled), or say that the mail was received and filed as a ticket in
one sentence ("your message has been received and logged as ticket
#4711"), or that "we have opened ticket 4712 for your request" (for the
sender's mail or what it wrote about), in a text that tells nothing done
and no logs, or, in a short text that reports no time or address, only
give the ticket's number ("Your ticket number is ..."). An abuse report
that says it was automated and names a ticket, but opened none, is no
acknowledgement.
"""

from __future__ import annotations

import re
from email.message import Message

from mailbot.absence import has_evidence

# Only the start of a mail's own text is read: an acknowledgement says what
# it is at once, and a person's words below a quote are no acknowledgement.
HEAD_CHARS = 600

# Written for this module (no system's text copied): how an automatic mail
# says that it is one, case and accents folded, in the languages EGI's sites
# write in. "Please do not reply" is left out: people write it too.
_MACHINE = (
    r"automatic(?:ally)? (?:generated|created|sent|issued)|auto[ -]?generated"
    r"|(?:generated|created|sent) automatically|this is an automat(?:ed|ic)"
    r"|automated (?:message|response|reply|notification|confirmation)"
    r"|automatic (?:message|response|reply|notification|confirmation)"
    r"|automatisch (?:erstellt|generiert|erzeugt|versendet|versandt|verschickt)"
    r"|automatische (?:nachricht|benachrichtigung|bestatigung|antwort)"
    r"|automatisch erzeugte"
    r"|(?:genere|envoye|cree) automatiquement|message automatique"
    r"|automatisch (?:gegenereerd|verzonden|aangemaakt|verstuurd)|automatisch bericht"
    r"|(?:generado|enviado|creado) automaticamente|mensaje automatico"
    r"|(?:generato|inviato|creato) automaticamente|messaggio automatico"
    r"|(?:gerado|enviado|criado) automaticamente|mensagem automatica"
    r"|(?:wygenerowan[ay]|wys[lł]an[ay]|utworzon[ay]) automatycznie"
    r"|wiadomos[cć] automatyczna"
    r"|automaticky (?:generovan|vygenerovan|odeslan|vytvoren)\w*|automaticka zprava"
)
# How it names what was opened: a ticket, a case, a numbered request.
_TICKET = (
    r"\btickets?\b|ticket ?(?:number|id|nr|no)|case (?:number|id)"
    r"|(?:request|reference|incident|call) (?:number|id)\b|(?:service|support) request"
    r"|(?:request|case|call|issue) #|#\s?\d{3,}"
    r"|\b(?:request|issue|case|as|under) [a-z]{2,10}-\d{1,8}\b(?!-\d)"
    r"|\b(?:inc|req|ritm|sctask|cs)\d{5,}\b"
    r"|vorgang|vorgangsnummer|ticketnummer|anfrage ?(?:nummer|nr)"
    r"|demande (?:n|numero|de support|d'assistance)|numero de (?:ticket|dossier)"
    r"|melding ?(?:nummer|nr)|aanvraag ?(?:nummer|nr)|uw (?:melding|aanvraag)"
    r"|solicitud|numero de caso|richiesta|segnalazione|chamado|pedido de suporte"
    r"|zg[lł]oszeni[ea]|pozadav(?:ek|ku)"
)
# How it says the ticket came into being; a few words may stand between.
_GAP = r"[^.!?]{0,40}?"
_OPENED = (
    rf"(?:has been|have been|was|were|is)\b{_GAP}\b(?:created|opened|received"
    r"|registered|logged|assigned|recorded)|creation of|we (?:have )?received your"
    rf"|wurde\b{_GAP}\b(?:erstellt|angelegt|eroffnet|registriert|erfasst"
    r"|aufgenommen|empfangen)|ist eingegangen"
    r"|a (?:bien )?ete (?:cree|ouvert|enregistre|recu)e?"
    r"|is (?:aangemaakt|ontvangen|geregistreerd)|werd (?:aangemaakt|ontvangen)"
    r"|ha sido (?:cread|recibid|registrad|abiert)[oa]"
    r"|e stat[oa] (?:creat|apert|ricevut|registrat)[oa]"
    r"|foi (?:criad|abert|recebid|registrad|registad)[oa]"
    r"|zosta[lł][oa]? (?:utworzon|zarejestrowan|przyj[eę]t)[ey]"
    r"|byl[ao]? (?:vytvoren|prijat|zaregistrovan)[ay]?"
)
# Between "your request" and "has been received", a desk may repeat the
# ticket's key and the mail's whole subject in quotes.
_LONG_GAP = r"[^.!?]{0,120}?"
# How a service desk says that the mail itself came in and was filed, the
# mail the subject of a passive sentence ("your e-mail has been received by
# the Service Desk"); a person writes "we received your mail".
_RECEIPT = (
    rf"\byour (?:e-?mail|mail|message|request|enquiry|inquiry|query)\b{_LONG_GAP}"
    r"\b(?:has been|have been|was|is) (?:received|registered|logged|recorded)"
    rf"|\bihre (?:e-?mail|nachricht|anfrage|meldung)\b{_GAP}\b(?:ist|wurde)\b{_GAP}"
    r"\b(?:eingegangen|registriert|erfasst|aufgenommen|empfangen)"
    rf"|\bvotre (?:e-?mail|courriel|message|demande)\b{_GAP}\ba (?:bien )?ete"
    r" (?:recue?|enregistree?)"
    rf"|\buw (?:e-?mail|bericht|melding|aanvraag)\b{_GAP}\b(?:is|werd)"
    r" (?:ontvangen|geregistreerd)"
    rf"|\bsu (?:correo|mensaje|solicitud)\b{_GAP}\bha sido (?:recibid|registrad)[oa]"
    rf"|\b(?:la sua|il suo) (?:e-?mail|messaggio|richiesta|segnalazione)\b{_GAP}"
    r"\be stat[oa] (?:ricevut|registrat)[oa]"
    rf"|\b(?:o seu|a sua) (?:e-?mail|mensagem|pedido|solicitacao)\b{_GAP}\bfoi"
    r" (?:recebid|registad|registrad)[oa]"
)
# ... and what it promises next: when or where it will be handled. Naming
# the desk alone is not enough: its staff sign as the desk too.
_DESK = (
    r"(?:service|business|office|working) hours|as soon as possible|customer portal"
    r"|will be (?:processed|handled|reviewed|dealt with|answered|assigned)"
    r"|is being (?:processed|handled|reviewed)|view (?:your |this |the )?request"
    r"|kundenportal|geschaftszeiten|so schnell wie moglich|wird bearbeitet"
    r"|heures ouvr|meilleurs delais|sera traite"
    r"|zo snel mogelijk|kantooruren|wordt behandeld|in behandeling"
    r"|lo antes posible|sera (?:atendid|procesad)[oa]"
    r"|al piu presto|orario di servizio|sara (?:gestit|elaborat)[oa]"
    r"|o mais breve|horario de atendimento|sera (?:tratad|processad)[oa]"
)
# A desk that only hands out the ticket's number ("Your ticket number is
# 2026120710000012", OTRS and Znuny in their plain setting): a statement of
# the number, counted only in a short text that reports nothing.
_NUMBER_GIVEN = (
    r"\byour (?:ticket|request|case|reference) ?(?:number|id|no)\.? (?:is|:)"
    r"|\bihre (?:ticketnummer|vorgangsnummer|anfragenummer) (?:lautet|ist)"
    r"|\bvotre numero de (?:ticket|dossier|demande) est"
    r"|\buw (?:ticketnummer|meldingnummer|referentienummer) is"
)
_NUMBER_TEXT_CHARS = 450
# Up to the end of a sentence: a dot ends one only before a space or the
# end (a host name or an address has dots within).
_SENTENCE = r"(?:(?![.!?](?:\s|$)).)"
# A receipt that files the mail itself as a ticket, in the passive ("your
# message has been received and logged as ticket #4711"): no desk's
# promise needed, a person says "we opened" and what was done.
_FILED = (
    rf"^{_SENTENCE}{{0,20}}?\b(?:and|und|et|en|y|e|i|a)\b{_SENTENCE}{{0,30}}?"
    r"\b(?:logged|registered|recorded|filed|erfasst|registriert|aufgenommen"
    r"|angelegt|enregistree?|geregistreerd|registrad[oa]|registrat[oa]"
    r"|registad[oa]|zarejestrowan[ey]|zaregistrovan[ay]?)\b"
)
# A desk that opened a ticket for the sender's mail, in the first person
# plural ("we have opened ticket 4712 for your request", "for the host you
# wrote about"): the mail or what it named is the sender's, the opening is
# all the sentence tells. A person's "we opened ticket #4711 for this and
# isolated the host" names neither, and says what was done or speaks of
# the logs (_DONE).
_WE_OPENED = (
    r"\bwe(?: have|'ve)? (?:opened|created|registered|logged|raised)"
    r"|\bwir haben\b|\bnous avons (?:ouvert|cree|enregistre)"
    r"|\bwe hebben\b|\bwij hebben\b|\bhemos (?:abierto|creado|registrado)"
    r"|\babbiamo (?:aperto|creato|registrato)"
    r"|\b(?:abrimos|criamos|registamos|registramos)\b"
    r"|\b(?:utworzylismy|otworzylismy|zarejestrowalismy)\b"
    r"|\b(?:zalozili|vytvorili|otevreli|zaregistrovali) jsme\b"
)
# The verb that opens the ticket, where the lead above does not hold it
# ("wir haben das Ticket 4712 ... eroffnet").
_OPEN_VERB = (
    r"\b(?:eroffnet|angelegt|erstellt|erfasst|aangemaakt|geopend|geregistreerd"
    r"|opened|created|registered|logged|raised|ouvert|cree|enregistre|abierto"
    r"|creado|registrado|aperto|creato|registrato|abrimos|criamos|registamos"
    r"|registramos|utworzylismy|otworzylismy|zarejestrowalismy|zalozili"
    r"|vytvorili|otevreli|zaregistrovali)\b"
)
_FOR_YOURS = (
    r"\b(?:for|about|regarding) (?:your\b|the\b.{0,120}?\byou (?:wrote|reported"
    r"|sent|told|asked|mentioned))"
    r"|\bfur (?:ihre?n?|sie)\b|\b(?:die|das|den) sie\b|\bpour (?:votre|vous)\b"
    r"|\bvoor (?:uw|u)\b|\bpara (?:su|usted|o seu|a sua|voce)\b"
    r"|\bper (?:la sua|il suo|lei)\b|\b(?:dla|w sprawie) (?:twoj|panstw)"
    r"|\b(?:pro|k) (?:vas|vasi|vase)\b"
)
_DONE = (
    r"\b(?:isolated|disconnected|shut down|switched off|reinstalled|blocked"
    r"|suspended|cleaned|wiped|removed|patched|killed|found|logs?|evidence"
    r"|forensics?)\b"
    r"|\b(?:isoliert|abgeschaltet|gesperrt|neu installiert|isolee?|bloquee?"
    r"|reinstallee?|geisoleerd|geblokkeerd|aislad[oa]|bloquead[oa]|isolat[oa]"
    r"|bloccat[oa]|izolowan[ya]|zablokowan[ya]|izolovan[ya]?|zablokovan[ya]?"
    r"|vom netz|abgeschaltet|bereinigt|neu aufgesetzt|gefunden|debranche"
    r"|reinstalle|trouve|afgesloten|gevonden|encontrad[oa]|trovat[oa])\b"
)
_NUMBER_GIVEN_RE = re.compile(rf"(?:{_NUMBER_GIVEN})\s*:?\s*#?[\w-]*\d{{3,}}")
_MACHINE_RE = re.compile(_MACHINE)
_FILED_RE = re.compile(_FILED)
_WE_OPENED_RE = re.compile(_WE_OPENED)
_FOR_YOURS_RE = re.compile(_FOR_YOURS)
_OPEN_VERB_RE = re.compile(_OPEN_VERB)
_SENTENCE_RE = re.compile(rf"{_SENTENCE}{{0,200}}")
_DONE_RE = re.compile(_DONE)
_RECEIPT_RE = re.compile(_RECEIPT)
_DESK_RE = re.compile(_DESK)
_TICKET_RE = re.compile(_TICKET)
_OPENED_RE = re.compile(_OPENED)
# Headers every mail of these systems carries, a person's answer included.
_SYSTEM_HEADERS = (
    "RT-Ticket",
    "X-RT-Loop-Prevention",
    "X-OTRS-Loop",
    "X-Zammad-Ticket-ID",
    "X-JIRA-FingerPrint",
)
_QUOTE_START = re.compile(r"^\s*(?:>|-{2,}\s*original message|_{8,})", re.I | re.M)


def own_head(text: str) -> str:
    """The start of a mail's own text, up to the first quoted line."""
    return _QUOTE_START.split(text[: HEAD_CHARS * 4], maxsplit=1)[0]


def acknowledgement_reason(message: Message, head: str) -> str | None:
    """Why `message` is a ticket system's acknowledgement, or None.

    `head` is `own_head` of the mail's text, case-folded without accents.
    """
    if (
        len(head) <= _NUMBER_TEXT_CHARS
        and _NUMBER_GIVEN_RE.search(head)
        and not has_evidence(head)
    ):
        return "ticket acknowledgement (a ticket number given)"
    head = head[:HEAD_CHARS]
    if _opened_for_sender(head):
        return "ticket acknowledgement (a ticket opened for the mail)"
    receipt = _RECEIPT_RE.search(head)
    if receipt and _filed(head, receipt.end()):
        return "ticket acknowledgement (service desk receipt, filed)"
    if not (_TICKET_RE.search(head) and _OPENED_RE.search(head)):
        return None
    if _MACHINE_RE.search(head):
        return "ticket acknowledgement"
    if receipt and _DESK_RE.search(head):
        return "ticket acknowledgement (service desk receipt)"
    if from_ticket_system(message):
        return "ticket acknowledgement (ticket system header)"
    return None


def _filed(head: str, after: int) -> bool:
    """Whether the receipt's sentence goes on "and logged as ticket ..."
    (from `after`), and the text says nothing done."""
    return bool(_FILED_RE.search(head[after:])) and not _DONE_RE.search(head)


def _opened_for_sender(head: str) -> bool:
    """Whether a sentence of `head` says "we opened a ticket for your
    mail" and the text says nothing done."""
    if _DONE_RE.search(head):
        return False
    for opened in _WE_OPENED_RE.finditer(head):
        sentence = _SENTENCE_RE.match(head, opened.start())
        said = sentence.group() if sentence else ""
        if not _OPEN_VERB_RE.search(said):
            continue
        rest = said[opened.end() - opened.start() :]
        if _TICKET_RE.search(rest) and _FOR_YOURS_RE.search(rest):
            return True
    return False


def from_ticket_system(message: Message) -> bool:
    """Whether a ticket system sent `message` (its own or a person's)."""
    return any(message.get(name) is not None for name in _SYSTEM_HEADERS)
