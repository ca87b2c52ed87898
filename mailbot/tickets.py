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
be handled), or, in a short text that reports no time or address, only
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
_NUMBER_GIVEN_RE = re.compile(rf"(?:{_NUMBER_GIVEN})\s*:?\s*#?[\w-]*\d{{3,}}")
_MACHINE_RE = re.compile(_MACHINE)
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
    if not (_TICKET_RE.search(head) and _OPENED_RE.search(head)):
        return None
    if _MACHINE_RE.search(head):
        return "ticket acknowledgement"
    if _RECEIPT_RE.search(head) and _DESK_RE.search(head):
        return "ticket acknowledgement (service desk receipt)"
    if from_ticket_system(message):
        return "ticket acknowledgement (ticket system header)"
    return None


def from_ticket_system(message: Message) -> bool:
    """Whether a ticket system sent `message` (its own or a person's)."""
    return any(message.get(name) is not None for name in _SYSTEM_HEADERS)
