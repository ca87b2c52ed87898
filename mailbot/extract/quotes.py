"""The author's own text: quoted earlier mails and signatures removed.

Quoting a previous mail of the thread is not new evidence, but forwarding
material is how reports reach the CSIRT. The rule: `>` lines and the blocks
that reply headers introduce ("On ... wrote:", "-----Original Message-----",
an Outlook From/Sent/Subject block) are quoted; a forward banner ("----------
Forwarded message ---------", "Begin forwarded message:" and their
translations) opens forwarded material, which is kept. An Outlook header block
or an "Original Message" separator counts as forwarded material only when the
mail's subject starts with a forward prefix (Fwd:, FW:, WG:, TR:, ...), since
Outlook writes the same block for replies and forwards. A banner inside quoted
text stays quoted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Final

log = logging.getLogger(__name__)

_LONG: Final = 1000
_QUOTED: Final = re.compile(r"^[ \t]*>")
_SIGNATURE: Final = re.compile(r"^--[ \t]?$")
_CLOSING: Final = re.compile(
    r"^[ \t]*(?:(?:best|kind|warm|many)[ \t]+)?(?:regards|greetings|cheers|thanks"
    r"|thank you|best|bye|ciao|groet(?:en)?|gruß|grüße|viele grüße|mit freundlichen"
    r" grüßen|cordialement|bien à vous|saludos|un saludo|cordiali saluti|saluti"
    r"|pozdrawiam|med vänlig hälsning|hälsningar|mvh|vriendelijke groet(?:en)?"
    r"|met vriendelijke groet(?:en)?|sent from my \w+)[ \t]*[,.!]?[ \t]*$",
    re.IGNORECASE,
)
# A salutation: a greeting word and up to a few words of address ("Hi all,",
# "Dear colleagues,", "Hallo zusammen"), or the address alone ("All,").
_GREETING: Final = re.compile(
    r"^[ \t]*(?:(?:hi|hello|hey|hallo|hej|hei|hoi|moi|dear|ciao|salve|bonjour"
    r"|bonsoir|hola|salut|moin|servus|grüezi|ahoj|szia|witam|cześć|olá|ola|liebe[rs]?"
    r"|beste|cari|gentili|chers?|chères?|estimad[oa]s?|geachte|sehr[ \t]+geehrte[rs]?"
    r"|guten[ \t]+(?:morgen|tag|abend)|buon(?:giorno|asera)|buenos[ \t]+d[ií]as"
    r"|buenas[ \t]+tardes|bom[ \t]+dia|boa[ \t]+tarde|dzień[ \t]+dobry"
    r"|dobrý[ \t]+den|bună[ \t]+ziua|goedemorgen|goedemiddag|god[ \t]+morgon"
    r"|γεια[ \t]+σας|good[ \t]+(?:morning|afternoon|evening|day))\b[^\n]{0,60}"
    r"|(?:all|everyone|everybody|team|colleagues|folks)[ \t]*[,:!]?)[ \t]*$",
    re.IGNORECASE,
)
_WROTE: Final = re.compile(
    r"(?<!\w)(?:wrote|writes|schrieb|a[ \t]+écrit|schreef|escribió|escreveu"
    r"|ha[ \t]+scritto|skrev|napisał(?:\(a\)|a)?|kirjoitti|napsal|írta"
    r"|a[ \t]+scris|napísal|έγραψε|yazdı|написал|כתב|كتب)"
    r"(?!\w)[^\n]{0,200}:[ \t]*$",
    re.IGNORECASE,
)
_INTRO: Final = re.compile(
    r"^[ \t]*(?:on|am|le|op|el|il|den|på|w[ \t]+dniu|dnia|em|în|dne|\d)", re.IGNORECASE
)
_ORIGINAL: Final = re.compile(
    r"^[ \t]*-{2,}[ \t]*(?:original message|ursprüngliche nachricht|message d'origine"
    r"|oorspronkelijk bericht|mensaje original|messaggio originale"
    r"|originalmeddelande|opprinnelig melding|alkuperäinen viesti"
    r"|wiadomość oryginalna|původní zpráva)[ \t]*-{2,}[ \t]*$",
    re.IGNORECASE,
)
_BANNER: Final = re.compile(
    r"^[ \t]*-*[ \t]*(?:forwarded message|forwarded e-?mail|begin forwarded message"
    r"|weitergeleitete nachricht|anfang der weitergeleiteten nachricht"
    r"|message transféré|début du message réexpédié|doorgestuurd bericht"
    r"|mensaje reenviado|inicio del mensaje reenviado|messaggio inoltrato"
    r"|vidarebefordrat meddelande|videresendt melding|välitetty viesti"
    r"|wiadomość przekazana dalej|přeposlaná zpráva|mensagem encaminhada)"
    r"[ \t]*:?[ \t]*-*[ \t]*$",
    re.IGNORECASE,
)
_HEADER_NAMES: Final = (
    r"from|sent|date|to|cc|bcc|subject|reply-to|von|gesendet|datum|an|kopie|betreff"
    r"|de|envoyé|à|a|objet|van|verzonden|aan|onderwerp|enviado|enviada|para|asunto"
    r"|da|inviato|oggetto|från|skickat|till|ämne|fra|sendt|til|emne|od|wysłano"
    r"|do|temat|lähettäjä|lähetetty|vastaanottaja|aihe|předmět|assunto"
)
_HEADER: Final = re.compile(r"^[ \t]*\*?(" + _HEADER_NAMES + r")[ \t]*\*?[ \t]*:", re.I)
_FROM: Final = re.compile(
    r"^[ \t]*\*?(?:from|von|de|van|da|från|fra|od|lähettäjä)\b", re.I
)
_SENT: Final = re.compile(
    r"^[ \t]*\*?(?:sent|date|gesendet|datum|envoyé|verzonden|enviado|enviada|inviato"
    r"|data|skickat|sendt|wysłano|lähetetty|odesláno)[ \t]*\*?[ \t]*:",
    re.IGNORECASE,
)
_SUBJECT: Final = re.compile(
    r"^[ \t]*\*?(?:subject|betreff|objet|onderwerp|asunto|oggetto|ämne|emne|temat"
    r"|aihe|předmět|assunto)[ \t]*\*?[ \t]*:[ \t]*(.*)$",
    re.IGNORECASE,
)
_RULE: Final = re.compile(r"^[ \t]*_{8,}[ \t]*$")
_FORWARD_SUBJECT: Final = re.compile(
    r"^[ \t]*(?:\[[^\]]*\][ \t]*)*(?:fwd?|fw|wg|tr|vs|rv|doorst|enc|i|pd|vb|ps)[ \t]*:",
    re.IGNORECASE,
)

# What can make a line other than the author's plain text, in one pattern: a
# line that matches none of these (and does not end with a colon, as "wrote:"
# lines do) is the author's, and most lines are ruled on with this one pass.
# The leading blanks are possessive ("*+"): what follows them in each pattern
# cannot start with a blank (the blanks after the banner's dashes only when
# there are dashes), so giving blanks back finds nothing new; with
# backtracking, a bullet "   - ..." tried every word of every pattern once
# per blank, 5 microseconds a line.
_SPECIAL: Final = re.compile(
    "|".join(
        "(?:{})".format(pattern.pattern.replace(r"^[ \t]*", r"^[ \t]*+", 1))
        for pattern in (_BANNER, _ORIGINAL, _FROM, _QUOTED, _RULE, _SIGNATURE, _CLOSING)
    ),
    re.IGNORECASE,
)


def is_greeting(line: str) -> bool:
    """Whether `line` is a salutation that opens a mail, such as "Hi all,"."""
    return bool(_GREETING.match(line))


def is_forward_subject(subject: str) -> bool:
    """Whether `subject` starts with a forward prefix such as Fwd:, FW: or WG:."""
    return bool(_FORWARD_SUBJECT.match(subject))


def split_lines(text: str) -> list[str]:
    """The lines of `text`, numbered as Finding.line counts them (LF separated)."""
    return [line.rstrip("\r") for line in text.split("\n")]


def own_lines(text: str, forwarded: bool = False) -> list[tuple[int, str]]:
    """The author's own lines of `text` as (1-based line number, line) pairs."""
    return [(number, line) for number, line, _ in _walk(split_lines(text), forwarded)]


def marked_lines(text: str, forwarded: bool = False) -> list[tuple[int, str, bool]]:
    """Like `own_lines`, with a flag for the lines of forwarded material."""
    return list(_walk(split_lines(text), forwarded))


def own_text(text: str, forwarded: bool = False) -> str:
    """`text` without quoted earlier mails, reply headers and the signature."""
    return "\n".join(line for _, line in own_lines(text, forwarded))


def signature_lines(text: str) -> list[tuple[int, str]]:
    """The lines below the author's sign-off ("Thanks,", "-- ") that are not
    quoted or forwarded mail, as (1-based line number, line) pairs."""
    signed: list[tuple[int, str]] = []
    for _ in _walk(split_lines(text), False, signed):
        pass
    return signed


def _walk(
    lines: list[str], forwarded: bool, signed: list[tuple[int, str]] | None = None
) -> Iterator[tuple[int, str, bool]]:
    """The author's lines; the signature's go to `signed` when it is given."""
    index, signature, pending, inside, said = 0, False, None, False, False
    while index < len(lines):
        line = lines[index]
        # No banner, header or closing is this long; its regexes would only
        # cost time on a megabyte written as one line.
        long = len(line) > _LONG
        if long or not signature and _plain(line):
            if not signature and not (long and _QUOTED.match(line)):
                if pending is not None:
                    yield pending
                pending = (index + 1, line, inside)
                said = long or said or bool(line.strip()) and not _GREETING.match(line)
            index += 1
            continue
        step = _forward_start(lines, index, forwarded)
        if step is not None:
            if pending is not None:
                yield pending
            pending, signature, inside = None, False, True
            for number, subject in _forward_subject(lines, index, step):
                yield number, subject, True
            index = step
            continue
        if _starts_quote(lines, index):
            log.debug("quoted text starts at line %d", index + 1)
            return
        if _is_reply_header(lines, index):
            pending = None
            index += 1
            continue
        if signature or _QUOTED.match(line) or _RULE.match(line):
            if signature and signed is not None:
                signed.append((index + 1, line))
            index += 1
            continue
        # "Ciao," opens a mail as often as it closes one: a closing word
        # starts the signature only after the author has said something.
        if _SIGNATURE.match(line) or (_CLOSING.match(line) and said):
            signature = True
            index += 1
            continue
        if pending is not None:
            yield pending
        pending = (index + 1, line, inside)
        said = said or bool(line.strip()) and not _GREETING.match(line)
        index += 1
    if pending is not None:
        yield pending


def _plain(line: str) -> bool:
    """Whether `line` is surely the author's text (see _SPECIAL)."""
    # Every pattern of _SPECIAL opens, after blanks, with a letter or one of
    # "-*>_", and no digit matches those in any case: a log record that opens
    # with its date or address is ruled on without trying them all.
    if line.lstrip(" \t")[:1].isdigit():
        return not line.rstrip(" \t").endswith(":")
    return not _SPECIAL.match(line) and not line.rstrip(" \t").endswith(":")


def _forward_start(lines: list[str], index: int, forwarded: bool) -> int | None:
    """Where the forwarded material begins, when a forward opens at `index`."""
    line = lines[index]
    if _BANNER.match(line):
        return _skip_header_block(lines, index + 1)
    if forwarded and _ORIGINAL.match(line):
        return _skip_header_block(lines, index + 1)
    if forwarded and _is_header_block(lines, index):
        return _skip_header_block(lines, index)
    return None


def _forward_subject(
    lines: list[str], start: int, stop: int
) -> Iterator[tuple[int, str]]:
    # The forwarded mail's subject often names the reported address: keep it.
    for number in range(start, stop):
        match = _SUBJECT.match(lines[number])
        if match and match.group(1).strip():
            yield number + 1, match.group(1)


def _starts_quote(lines: list[str], index: int) -> bool:
    """Whether a quoted earlier mail runs from `index` to the end of the text."""
    line = lines[index]
    if _ORIGINAL.match(line):
        return True
    if _is_header_block(lines, index):
        return not _pasted(lines, index)
    if _wrote(line):
        return not _next_is_quoted(lines, index) and _is_intro(lines, index)
    return False


def _is_reply_header(lines: list[str], index: int) -> bool:
    """An "On ... wrote:" line followed by `>` lines (inline or bottom quoting)."""
    line = lines[index]
    return _wrote(line) and _next_is_quoted(lines, index)


def _wrote(line: str) -> bool:
    """Whether `line` (under 400 characters) is an "On ... wrote:" line."""
    # The pattern ends with a colon; most lines are ruled out without it.
    if len(line) >= 400 or not line.rstrip(" \t").endswith(":"):
        return False
    return bool(_WROTE.search(line))


def _is_intro(lines: list[str], index: int) -> bool:
    line = lines[index]
    if _INTRO.match(line) or "@" in line or any(c.isdigit() for c in line):
        return True
    return index > 0 and bool(_INTRO.match(lines[index - 1]))


def _next_is_quoted(lines: list[str], index: int) -> bool:
    for line in lines[index + 1 : index + 4]:
        if line.strip():
            return bool(_QUOTED.match(line))
    return False


def _is_header_block(lines: list[str], index: int) -> bool:
    """A From line followed closely by a Sent/Date line and a Subject line."""
    if not _FROM.match(lines[index]) or not _HEADER.match(lines[index]):
        return False
    window = lines[index + 1 : index + 8]
    has_sent = any(_SENT.match(line) for line in window)
    return has_sent and any(_SUBJECT.match(line) for line in window)


def _pasted(lines: list[str], index: int) -> bool:
    """Whether the header block at `index` is a mail pasted into a report,
    not the header of a reply: the author's line above its headers
    introduces it ("Headers of the phishing mail:", "Several users got
    this mail:"). What follows it is the author's text again, findings and
    all. A bounce's "This is a copy of the headers ..." (no colon) and a
    reply's "See my answers below:" introduce no pasted mail."""
    above = index - 1
    # Up over the pasted block's other headers (Received, Message-ID, ...)
    # and their folded lines, to the author's line.
    while above >= 0 and (
        not lines[above].strip()
        or _RAW_HEADER.match(lines[above])
        or lines[above][:1] in " \t"
    ):
        above -= 1
    if above < 0:
        return False
    line = lines[above]
    return (
        line.rstrip().endswith(":")
        and not _wrote(line)
        and (_INTRODUCES_MAIL.search(line) is not None)
    )


# A header line of a raw mail, above the From/Date/Subject block.
_RAW_HEADER: Final = re.compile(r"^[ \t]*[A-Za-z][\w-]*:[ \t]*\S")
# Words of an intro line that speak of a mail pasted as evidence.
_INTRODUCES_MAIL: Final = re.compile(
    r"header|kopfzeilen|en-têtes|entêtes|encabezados|intestazioni|phish|spam"
    r"|malicious|suspicious|scam|fraud|spoof|bösartig|verdächtig|malveillant"
    r"|suspect|hameçonnage|sample|example|copy|excerpt",
    re.IGNORECASE,
)


def _skip_header_block(lines: list[str], index: int) -> int:
    """The index just past the header lines (and blank lines) starting at `index`."""
    while index < len(lines) and not lines[index].strip():
        index += 1
    while index < len(lines) and (
        _HEADER.match(lines[index]) or (lines[index][:1] in " \t" and lines[index])
    ):
        index += 1
    return index
