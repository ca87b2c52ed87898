"""Tell robots from people: bounces, auto-replies and addresses nobody reads.

mailbot must never answer a machine: an acknowledgement sent to an
out-of-office reply or to a MAILER-DAEMON starts a mail loop, and a chase sent
to a dead mailbox only bounces again. A machine's report that answers no
mail (machine.py) is no auto-reply but a third party's report, as unanswered.
Everything here is a pure function of an `email.message.Message` parsed with
the compat32 policy (and the mail's own text), and never raises.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from email.message import Message

from mailbot.absence import absence_reason
from mailbot.dsn import (
    DeliveryReport,
    FailedRecipient,
    build_report,
    first_address,
)
from mailbot.dsn_parts import STATUS_TYPES, gather
from mailbot.extract.quotes import own_text
from mailbot.machine import is_response, notice_reason, report_sign, report_type
from mailbot.mail import ParsedMail
from mailbot.message_text import (
    decode_header_text,
    header_text,
    leaves,
    part_text,
    raw_headers,
)
from mailbot.tickets import acknowledgement_reason, from_ticket_system, own_head

__all__ = [
    "ROBOT_LOCAL_PARTS",
    "Classification",
    "DeliveryReport",
    "FailedRecipient",
    "classify",
    "is_bounce",
    "is_plain_address",
    "is_robot_address",
    "parse_dsn",
]

logger = logging.getLogger(__name__)

ROBOT_LOCAL_PARTS = frozenset(
    {
        "noreply",
        "no-reply",
        "no_reply",
        "donotreply",
        "do-not-reply",
        "do_not_reply",
        "bounce",
        "bounces",
        "mailer-daemon",
        "postmaster",
        # A report robot's own name for itself (Shadowserver's
        # autoreports@), and an auto-responder's.
        "autoreport",
        "autoreports",
        "autoreply",
    }
)


@dataclass(frozen=True)
class Classification:
    """`kind` is "bounce", "auto_reply", "automated" or "human"; `reason` says why.

    "automated" is a machine's report that answers no mail (an abuse
    report, a monitoring alert): a third party's report, never answered.
    """

    kind: str
    reason: str | None
    dsn: DeliveryReport | None
    # An "auto_reply" only because Request Tracker marks every mail it
    # sends as one not to answer, a person's reply typed into it included:
    # from a site's contact, passing on someone else's words than ours
    # (roles.identify), it is the site's, and never answered automatically.
    quiet: bool = False


def normalise(text: str) -> str:
    """Case-folded text without accents, for matching words in any language."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.split())


def compact(text: str) -> str:
    """Text without case, spaces or separators: `No.Reply` gives `noreply`."""
    return re.sub(r"[\s._+=\-\"']", "", text.casefold())


_ROBOT_WORDS = frozenset(compact(local) for local in ROBOT_LOCAL_PARTS)
_SEPARATORS = re.compile(r"[\s._+=\-]+")


def is_robot_address(addr: str) -> bool:
    """Whether the address's local part says that nobody reads it.

    A robot word must stand on its own between separators (`noreply-alerts`,
    `bounce+123`, `alerts.no.reply`), so `knoreplyer` is a person.
    """
    local = _local_part(addr)
    if not local:
        return True
    tokens = [t for t in _SEPARATORS.split(local.casefold()) if t][:32]
    return any(
        "".join(tokens[start:end]) in _ROBOT_WORDS
        for start in range(len(tokens))
        for end in range(start + 1, min(start + 4, len(tokens) + 1))
    )


def is_plain_address(address: str) -> bool:
    """Whether `address` is one bare addr-spec, safe for RCPT TO and headers."""
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or len(address) > 254:
        return False
    # ASCII only: mailbot does not speak SMTPUTF8, and RCPT would fail.
    if not address.isascii() or not address.isprintable():
        return False
    return not any(c in address for c in ' <>,;:"\\()[]')


def _local_part(addr: str) -> str:
    text = (addr or "")[:512].strip()
    if "<" in text:
        text = text.partition("<")[2].partition(">")[0]
    local = text.rpartition("@")[0] if "@" in text else text
    return local.strip().strip("\"'").strip()


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


# Headers that only an automatic answer carries. X-Auto-Response-Suppress
# only asks others not to answer: machines that send reports set it too.
_FLAG_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder")
_AUTO_MAILER = re.compile(r"vacation|auto-?respond|auto-?reply|out of office", re.I)
_BULK = frozenset({"bulk", "junk", "auto_reply", "auto-reply"})


def _answer_reason(message: Message) -> str | None:
    """Why a mail is an automatic answer or notice, or None."""
    checks = (_auto_submitted, _flag_header, _autogenerated, _auto_mailer)
    for check in (*checks, _ooo_subject, _notice_report):
        reason = check(message)
        if reason:
            return reason
    return None


def _bulk_reason(message: Message) -> str | None:
    """Why a mail went to many, or asks not to be answered, or None."""
    for check in (_precedence, _list_headers, _suppress):
        reason = check(message)
        if reason:
            return reason
    return None


def _ticket_system_person(message: Message, sign: str | None) -> bool:
    """Whether a mail held for bulk only asks not to be answered: a person's
    passed on by Request Tracker, which puts "Precedence: bulk" on every
    mail and names in RT-Originator whose words it sends (roles.identify
    checks that it is nobody of ours: RT's receipt of our own mail names
    us); no list's, no mail system's, no robot's."""
    return (
        from_ticket_system(message)
        and message.get("RT-Originator") is not None
        and _precedence(message) in (None, "precedence: bulk")
        and _list_headers(message) is None
        and _system_sender_reason(message) is None
        and not _robot_sender(message)
        and sign is None
    )


def _auto_submitted(message: Message) -> str | None:
    # RFC 3834: any value but "no" marks a mail written by a machine;
    # "auto-generated" alone answers no mail (see _report_sign).
    token = _auto_submitted_token(message)
    if token and token not in ("no", "auto-generated"):
        return f"auto-submitted: {token[:40]}"
    return None


def _auto_submitted_token(message: Message) -> str:
    value = header_text(message, "Auto-Submitted").lower()
    return re.split(r"[\s;(]", value, maxsplit=1)[0] if value else ""


def _flag_header(message: Message) -> str | None:
    for name in _FLAG_HEADERS:
        if message.get(name) is not None:
            return name.lower()
    return None


def _autogenerated(message: Message) -> str | None:
    value = header_text(message, "X-Autogenerated").lower()
    return "x-autogenerated: reply" if value == "reply" else None


def _auto_mailer(message: Message) -> str | None:
    mailer = header_text(message, "X-Mailer")
    return f"x-mailer: {mailer[:40]}" if _AUTO_MAILER.search(mailer) else None


def _ooo_subject(message: Message) -> str | None:
    subject = header_text(message, "Subject")
    return "out-of-office subject" if is_out_of_office_subject(subject) else None


def _precedence(message: Message) -> str | None:
    for name in ("Precedence", "X-Precedence"):
        value = header_text(message, name).lower()
        if value == "list":
            return "list"
        if value in _BULK:
            return f"precedence: {value}"
    return None


def _list_headers(message: Message) -> str | None:
    # A mailing-list post is not a reply to us, but is not to be answered.
    names = ("List-Id", "List-Unsubscribe", "List-Post")
    return "list" if any(message.get(n) is not None for n in names) else None


def _suppress(message: Message) -> str | None:
    found = message.get("X-Auto-Response-Suppress") is not None
    return "x-auto-response-suppress" if found else None


def _notice_report(message: Message) -> str | None:
    return notice_reason(message)


_DAEMON_NAME = re.compile(r"mail ?deliver|mailer.?daemon|postmaster|mail admin", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery status|returned mail|delivery fail|failure notice"
    r"|delivery (?:has )?failed|not be delivered|non[- ]?deliver|returned to sender"
    r"|delivery problem|mail system error|delayed mail|message delayed"
    r"|could not send|delivery notification|delivery report|\bbounce|error sending"
    r"|mail failed|returning message|\bndr\b|unzustellbar|non remis|onbestelbaar"
    r"|no se puede entregar|non recapitabile|nao e possivel entregar"
    r"|olevererbart|niedostarczalne|nicht zugestellt"
)
_BOUNCE_BODY = re.compile(
    r"could not be delivered|was not delivered|not able to deliver|unable to deliver"
    r"|wasn't able to deliver|failed permanently|permanent(?:ly)? (?:fatal )?error"
    r"|\) failed:|address failed|delivery (?:has )?failed|delivery to the following"
    r"|did not reach|following addresses had|delivery problems|delivery errors"
    r"|error (?:delivering|sending)|undeliverable|user unknown|unknown user"
    r"|no such user|mailbox (?:is )?(?:full|unavailable)|address rejected"
    r"|transcript of session|could not deliver|not be delivered|returned mail"
    r"|rejected|delivery failure|recipient rejected|does not exist"
    r"|invalid (?:user|address)|no valid recipients"
)
_DSN_TYPES = frozenset({"delivery-status", "global-delivery-status"})


def is_daemon_sender(message: Message) -> bool:
    """Whether From names a mail system (MAILER-DAEMON, postmaster, ...)."""
    from_ = header_text(message, "From")
    address = first_address(from_)
    local = compact(address.partition("@")[0] or from_)
    if "mailerdaemon" in local or "postmaster" in local:
        return True
    # The display name may say it ("Mail Delivery System"); a domain may not.
    name = from_.lower().replace(address, " ") if address else from_
    return bool(_DAEMON_NAME.search(name))


def has_null_sender(message: Message) -> bool:
    """Whether the envelope sender (Return-Path) is empty or a mail system."""
    values = raw_headers(message, "Return-Path")
    paths = ["".join(decode_header_text(v).split()).lower() for v in values]
    return any(p in ("", "<>") or "mailer-daemon" in p for p in paths)


def parse_dsn(message: Message) -> DeliveryReport | None:
    """The delivery report a bounce carries, or None when it is no bounce."""
    try:
        return _parse_dsn(message)
    except Exception:  # noqa: BLE001 - a bounce must never stop the pipeline
        logger.exception("could not read a delivery report")
        return None


def is_bounce(message: Message) -> bool:
    """Whether the mail is a delivery status notification of any kind."""
    return parse_dsn(message) is not None


def _parse_dsn(message: Message) -> DeliveryReport | None:
    kind = report_type(message)
    if kind is not None and kind not in _DSN_TYPES:
        # Abuse feedback (ARF), read receipts and TLS reports are no bounces.
        return None
    structured = kind is not None or _has_status_part(message)
    if not structured and not _may_be_bounce(message):
        return None
    material = gather(message)
    if structured or _looks_like_bounce(message, "\n".join(material.notes)):
        return build_report(message, material)
    return None


def _has_status_part(message: Message) -> bool:
    return any(part.get_content_type() in STATUS_TYPES for part in leaves(message))


def _may_be_bounce(message: Message) -> bool:
    # Cheap header checks first, so that ordinary mail is not read in full.
    if message.get("X-Failed-Recipients") is not None:
        return True
    if is_daemon_sender(message) or has_null_sender(message):
        return True
    return is_robot_address(first_address(header_text(message, "From")))


def _looks_like_bounce(message: Message, notice: str) -> bool:
    if message.get("X-Failed-Recipients") is not None:
        return True
    subject = normalise(header_text(message, "Subject"))
    body = normalise(notice)
    if is_daemon_sender(message):
        return bool(_BOUNCE_SUBJECT.search(subject) or _BOUNCE_BODY.search(body))
    if has_null_sender(message) and _BOUNCE_SUBJECT.search(subject):
        return True
    # Robots of other names (no-reply) count only when the text says so.
    sender = first_address(header_text(message, "From"))
    return is_robot_address(sender) and bool(_BOUNCE_BODY.search(body))


def classify_parsed(parsed: ParsedMail) -> Classification:
    """`classify` for a parsed mail; one whose MIME could not be read is a
    person's (its text, if any, is all there is)."""
    if parsed.message is None:
        return Classification(kind="human", reason=None, dsn=None)
    return classify(parsed.message, own_text(own_head(parsed.body_text)))


def classify(message: Message, text: str | None = None) -> Classification:
    """Whether a mail is a bounce, an automatic answer, a machine's report or
    a person's mail.

    `text` is the mail's own text (quotes left out), when the caller has
    it; else the first text part is read.
    """
    try:
        return _classify(message, text)
    except Exception:  # noqa: BLE001 - when in doubt, do not answer
        logger.exception("could not classify a mail")
        return Classification("auto_reply", "unclassifiable", None)


def _classify(message: Message, text: str | None) -> Classification:
    report = parse_dsn(message)
    if report is not None:
        structured = report_type(message) is not None or _has_status_part(message)
        reason = "delivery-status report" if structured else "plain-text bounce"
        return Classification("bounce", reason, report)
    answer = _answer_reason(message)
    if answer:
        return Classification("auto_reply", answer, None)
    # A machine's report that answers no mail is an incident report, even
    # when it names a ticket of its own; an answer, a list or bulk mail, a
    # mail system's own mail are not.
    response = is_response(message)
    sign = report_sign(message)
    if sign and not response:
        return Classification("automated", sign, None)
    ticket = _ticket_reason(message, text)
    if ticket:
        return Classification("auto_reply", ticket, None)
    robot = _bulk_reason(message) or _system_sender_reason(message)
    if robot:
        return Classification(
            "auto_reply", robot, None, quiet=_ticket_system_person(message, sign)
        )
    if _robot_sender(message):
        kind = "auto_reply" if response else "automated"
        return Classification(kind, "robot sender address", None)
    if sign:
        return Classification("auto_reply", f"{sign}, in reply", None)
    return Classification("human", None, None)


def _ticket_reason(message: Message, text: str | None) -> str | None:
    if text is None:
        plain = next(
            (p for p in leaves(message) if p.get_content_type() == "text/plain"), None
        )
        text = own_head(part_text(plain)) if plain is not None else ""
    head = normalise(own_head(text))
    return acknowledgement_reason(message, head) or absence_reason(head)


def _system_sender_reason(message: Message) -> str | None:
    # Mail systems write from MAILER-DAEMON or postmaster, or with an empty
    # envelope sender; what is not a bounce among them is still automatic.
    if is_daemon_sender(message):
        return "mail system sender"
    if has_null_sender(message):
        return "null return-path"
    return None


def _robot_sender(message: Message) -> bool:
    # Nobody reads noreply@ and the like: their mail is never answered, and
    # never meets a site's deadline.
    sender = first_address(header_text(message, "From"))
    return bool(sender) and is_robot_address(sender)
