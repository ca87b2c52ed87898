"""Delivery status notifications: RFC 3464 reports and the common plain bounces.

Every function here reads an `email.message.Message` parsed with the compat32
policy (what the parse stage keeps) and never raises on hostile input. The
text scanned is capped (`MAX_PARTS` parts, `MAX_TEXT` characters of each) and
no pattern nests quantifiers, so a crafted mail cannot make parsing slow.
"""

from __future__ import annotations

import html
import logging
import quopri
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from email.header import decode_header
from email.message import Message
from itertools import islice

logger = logging.getLogger(__name__)

MAX_PARTS = 200
MAX_TEXT = 64 * 1024
MAX_HEADER = 8 * 1024
MAX_HEADERS = 1000


@dataclass(frozen=True)
class FailedRecipient:
    """One recipient a report speaks of; `status` is an RFC 3463 code."""

    address: str
    action: str
    status: str | None
    diagnostic: str | None
    permanent: bool
    # The Original-Recipient (RFC 3464) when it names another address: the
    # one the mail was sent to, before a forwarding made it `address`.
    original: str | None = None


@dataclass(frozen=True)
class DeliveryReport:
    """What a bounce says: who failed, and which mail of ours it returns."""

    recipients: tuple[FailedRecipient, ...]
    original_message_id: str | None
    reporting_mta: str | None


def decode_header_text(value: object) -> str:
    """A header value as clean text: encoded words decoded, no controls."""
    raw = _unescape_bytes(str(value)[:MAX_HEADER])
    if "=?" not in raw:
        return _clean(raw)
    try:
        chunks = decode_header(raw)
    except Exception:  # noqa: BLE001 - malformed encoded words are common
        return _clean(raw)
    return _clean("".join(_decode_chunk(data, charset) for data, charset in chunks))


def header_text(message: Message, name: str) -> str:
    """The decoded first `name` header of `message`, or "" when it is absent."""
    values = raw_headers(message, name)
    return decode_header_text(values[0]) if values else ""


def raw_headers(message: Message, name: str) -> list[str]:
    """The undecoded values of every `name` header, raw 8-bit bytes kept."""
    # compat32's get() turns raw 8-bit bytes into U+FFFD; raw_items() does not.
    wanted = name.lower()
    pairs = islice(message.raw_items(), MAX_HEADERS)
    return [str(value) for key, value in pairs if key.lower() == wanted]


def _unescape_bytes(text: str) -> str:
    # Raw 8-bit header bytes arrive as surrogate escapes; read them as UTF-8
    # when they are, else as Latin-1, so that later steps see real text.
    if not any("\udc80" <= c <= "\udcff" for c in text):
        return text
    return _decode_bytes(text.encode("utf-8", "surrogateescape"), "utf-8")


def _decode_chunk(data: bytes | str, charset: str | None) -> str:
    if isinstance(data, str):
        return data
    if charset is None or charset == "unknown-8bit":
        return data.decode("raw-unicode-escape", "replace")
    return _decode_bytes(data, charset)


def _decode_bytes(data: bytes, charset: str) -> str:
    for codec in (charset, "utf-8"):
        try:
            return data.decode(codec)
        except (LookupError, UnicodeError):
            continue
    return data.decode("latin-1")


def _clean(text: str) -> str:
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def leaves(message: Message) -> Iterator[Message]:
    """The non-multipart parts, depth first, without entering attached mails."""
    stack, seen = [message], 0
    while stack and seen < MAX_PARTS:
        part = stack.pop()
        seen += 1
        payload = part.get_payload()
        if part.get_content_maintype() == "multipart" and isinstance(payload, list):
            stack.extend(p for p in reversed(payload) if isinstance(p, Message))
        else:
            yield part


_BREAK_TAG = re.compile(r"<(?:br|/p|/div|/tr|/li|/h\d)\b[^<>]{0,200}>", re.I)
_ANY_TAG = re.compile(r"<[^<>]{0,2000}>")


def part_text(part: Message) -> str:
    """The first `MAX_TEXT` characters of a part as text with LF line ends."""
    data = _payload_bytes(part)[:MAX_TEXT]
    text = _decode_bytes(data, _charset(part, data))
    if part.get_content_subtype() == "html":
        text = html.unescape(_ANY_TAG.sub("", _BREAK_TAG.sub("\n", text)))
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _payload_bytes(part: Message) -> bytes:
    payload = part.get_payload()
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if cte == "quoted-printable" and isinstance(payload, str) and "\n" not in payload:
        # The stdlib decoder stops at the first soft break of CR-only text.
        data = payload[:MAX_TEXT].replace("\r", "\n")
        return quopri.decodestring(data.encode("utf-8", "surrogateescape"))
    try:
        decoded = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - broken transfer encodings
        decoded = None
    if isinstance(decoded, bytes):
        return decoded
    if isinstance(payload, str):
        return payload[:MAX_TEXT].encode("utf-8", "surrogateescape")
    return b""


def _charset(part: Message, data: bytes) -> str:
    try:
        charset = part.get_content_charset()
    except Exception:  # noqa: BLE001 - malformed parameters
        charset = None
    # Japanese bounces often omit the charset of their ISO-2022-JP text.
    if not charset and b"\x1b$B" in data:
        return "iso-2022-jp"
    return charset or "utf-8"


def _is_textual(part: Message) -> bool:
    # A multipart whose body the parser could not split is still readable.
    maintype = part.get_content_maintype()
    return maintype == "text" or (
        maintype == "multipart" and isinstance(part.get_payload(), str)
    )


STATUS_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
_MESSAGE_TYPES = frozenset({"message/rfc822", "message/global"})
_HEADER_TYPES = frozenset({"text/rfc822-headers", "message/global-headers"})


@dataclass
class Material:
    """A bounce's pieces: status blocks, notice text, returned headers."""

    blocks: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    returned: list[str] = field(default_factory=list)
    has_status_part: bool = False


def gather(message: Message, depth: int = 0) -> Material:
    """Sort the parts of a mail into the pieces a bounce is made of."""
    material = Material()
    for part in leaves(message):
        ctype = part.get_content_type()
        if ctype in STATUS_TYPES:
            material.has_status_part = True
            material.blocks.extend(_status_blocks(part))
        elif ctype in _MESSAGE_TYPES:
            _add_attached(material, part, depth)
        elif ctype in _HEADER_TYPES:
            material.returned.append(part_text(part))
        elif _is_textual(part):
            note, tail = split_returned(part_text(part))
            material.notes.append(note)
            material.returned.append(tail)
    return material


def _add_attached(material: Material, part: Message, depth: int) -> None:
    # Some gateways forward a bounce inside a bounce of their own; the inner
    # report is the one that names the recipient.
    inner = _attached(part)
    if inner is None or inner.get_content_type() != "multipart/report" or depth:
        material.returned.append(_attached_headers(part))
        return
    found = gather(inner, depth + 1)
    material.blocks.extend(found.blocks)
    material.notes.extend(found.notes)
    material.returned.extend(found.returned)
    material.has_status_part |= found.has_status_part


def _attached(part: Message) -> Message | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    return None


def _status_blocks(part: Message) -> list[dict[str, str]]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [_fields(block) for block in payload if isinstance(block, Message)]
    return parse_blocks(part_text(part))


def _fields(block: Message) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in islice(block.raw_items(), MAX_HEADERS):
        fields.setdefault(name.strip().lower(), decode_header_text(value))
    return fields


def _attached_headers(part: Message) -> str:
    inner = _attached(part)
    if inner is None:
        return part_text(part)
    return "\n".join(f"{k}: {v}" for k, v in _fields(inner).items())


_FIELD_LINE = re.compile(r"([A-Za-z][A-Za-z0-9-]{0,60})[ \t]*:[ \t]*(.*)")


def parse_blocks(text: str) -> list[dict[str, str]]:
    """Blank-line separated groups of `Name: value` lines, names lower-cased."""
    blocks: list[dict[str, str]] = [{}]
    last = ""
    for line in text.split("\n"):
        match = _FIELD_LINE.fullmatch(line)
        if not line.strip():
            blocks.append({})
        elif line[0] in " \t" and last in blocks[-1]:
            blocks[-1][last] = f"{blocks[-1][last]} {line.strip()}"
        elif match:
            last = match.group(1).lower()
            blocks[-1].setdefault(last, match.group(2).strip())
    return [block for block in blocks if block]


_CUT_LINE = re.compile(
    r"(?:received|return-path|dkim-signature|x-received|arc-seal|delivered-to"
    r"|x-google-smtp-source)[ \t]*:",
    re.I,
)
_SEPARATOR = re.compile(
    r"original message[\s:-]*$|original message follows"
    r"|copy of (?:the |your )?(?:original )?message|unsent message follows"
    r"|message headers? follows?|message text follows|returned message[\s:-]*$"
    r"|headers? of the original|bounced e-?mail:|original message headers",
    re.I,
)


def split_returned(text: str) -> tuple[str, str]:
    """The notice and the returned mail, cut where the returned copy starts."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if _CUT_LINE.match(line):
            return "\n".join(lines[:index]), "\n".join(lines[index:])
        if len(line) < 120 and _SEPARATOR.search(line):
            return "\n".join(lines[:index]), "\n".join(lines[index + 1 :])
    return text, ""


_ADDRESS = re.compile(
    r"[\w.!#$%&'*+/=?^`{|}~-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}"
)


def addresses(text: str) -> list[str]:
    """The addresses in a text, lower-cased, in order of appearance."""
    found = (m.group(0).strip(".'`").lower() for m in _ADDRESS.finditer(text))
    return list(dict.fromkeys(a for a in found if "@" in a))


def first_address(text: str) -> str:
    """The first address in a header value or text, or ""."""
    found = addresses(text[:MAX_HEADER])
    return found[0] if found else ""


def build_report(message: Message, material: Material) -> DeliveryReport:
    """Read recipients, statuses and the returned Message-ID of a bounce."""
    notice, returned = "\n".join(material.notes), "\n".join(material.returned)
    recipients = _block_recipients(material.blocks) or _block_recipients(
        parse_blocks(notice)
    )
    if not recipients:
        recipients = _text_recipients(message, notice, returned)
    return DeliveryReport(
        recipients=tuple(recipients),
        original_message_id=_original_id(returned),
        reporting_mta=_reporting_mta(material.blocks, notice),
    )


def _block_recipients(blocks: list[dict[str, str]]) -> list[FailedRecipient]:
    found: dict[str, FailedRecipient] = {}
    for block in blocks:
        recipient = _block_recipient(block)
        if recipient is not None:
            found.setdefault(recipient.address, recipient)
    return list(found.values())


_IMPLIED_ACTIONS = {"2": "delivered", "4": "delayed"}


def _block_recipient(block: dict[str, str]) -> FailedRecipient | None:
    address = _named(block.get("final-recipient", ""))
    original = _named(block.get("original-recipient", ""))
    address = address or original
    if not address:
        return None
    diagnostic = block.get("diagnostic-code", "")[:500] or None
    status = _refined(
        status_code(block.get("status", ""), "245"), code_in(diagnostic or "")[0]
    )
    implied = _IMPLIED_ACTIONS.get((status or "5")[0], "failed")
    action = (block.get("action", "").split() or [implied])[0]
    recipient = _recipient(address.lower(), action.lower(), status, diagnostic)
    if original and original.lower() != recipient.address:
        return replace(recipient, original=original.lower())
    return recipient


def _named(value: str) -> str:
    """The address of a Final- or Original-Recipient field ("rfc822;a@b")."""
    return first_address(value) or value.rpartition(";")[2].strip(" <>")


def _refined(status: str | None, detail: str | None) -> str | None:
    # A generic Status (5.0.0) yields to the precise code of the same class
    # that the remote server gave in the Diagnostic-Code.
    if status is None or (
        detail and status.endswith(".0.0") and detail[0] == status[0]
    ):
        return detail or status
    return status


def _recipient(
    address: str, action: str, status: str | None, diagnostic: str | None
) -> FailedRecipient:
    # A delay or a success is never permanent; a failure is, unless its
    # status says the problem is temporary.
    if action in ("delayed", "delivered", "relayed", "expanded"):
        permanent = False
    else:
        permanent = status[0] == "5" if status else action == "failed"
    return FailedRecipient(address, action, status, diagnostic, permanent)


# A status with the line of text it was read from, or (None, None).
_Found = tuple[str | None, str | None]
_ENHANCED = re.compile(r"(?<![\w.-])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
_SMTP = re.compile(r"(?<![\w.:/-])(4[0-5]\d|5[0-5]\d)(?![\w.:/-])")


def status_code(text: str, classes: str = "45") -> str | None:
    """The first RFC 3463 code (`5.1.1`) of a class in `classes` in a text."""
    for match in _ENHANCED.finditer(text):
        if match.group(1) in classes:
            return f"{match.group(1)}.{int(match.group(2))}.{int(match.group(3))}"
    return None


def code_in(text: str) -> _Found:
    """An enhanced status, else one from an SMTP reply (550 gives 5.0.0)."""
    for line in text.split("\n"):
        code = status_code(line)
        if code:
            return code, _clean(line)[:500]
    for line in text.split("\n"):
        match = _SMTP.search(line)
        if match:
            return f"{match.group(1)[0]}.0.0", _clean(line)[:500]
    return None, None


_MESSAGE_ID_LINE = re.compile(r"^message-id[ \t]*:[ \t]*(.*)$", re.I | re.M)
_ANGLE_ID = re.compile(r"<[^<>\s]{1,250}>")


def _original_id(returned: str) -> str | None:
    match = _MESSAGE_ID_LINE.search(returned)
    if match is None:
        return None
    # The value may have been folded onto the next line.
    value = match.group(1).strip() or returned[match.end() :][:300].strip()
    angle = _ANGLE_ID.search(value)
    words = value.split()
    return angle.group(0) if angle else (words[0] if words else None)


_MTA_SENTENCE = re.compile(
    r"(?:mail system|qmail-send program|mail agent v[\d.]{1,12}) at ([\w.-]{3,253})",
    re.I,
)


def _reporting_mta(blocks: list[dict[str, str]], notice: str) -> str | None:
    for block in blocks:
        value = block.get("reporting-mta", "").rpartition(";")[2].strip()
        if value:
            return value[:253]
    match = _MTA_SENTENCE.search(notice)
    return match.group(1).rstrip(".") if match else None


_DELAYED = re.compile(
    r"delayed|will (?:be )?retr|still being retried|not yet been delivered"
    r"|could not send message for past|warning: could not send"
)
_LISTED_LINE = re.compile(
    r"[ \t]{0,20}(?:[*>•-]{1,3}[ \t]{0,5})?[\"'<]?([^\s\"'<>]{1,64}@[^\s\"'<>:]{1,255})"
    r"[\"'>]?[ \t]{0,9}(?:$|:|\[|\(|\.\.\.|on\s|,|;|-\s)",
)


def _text_recipients(
    message: Message, notice: str, returned: str
) -> list[FailedRecipient]:
    listed = _listed_failures(message)
    own = _own_addresses(message, returned)
    found = (
        listed
        or [a for a in _line_addresses(notice) if a not in own]
        or [a for a in addresses(notice) if a not in own][:1]
        or _single_returned_recipient(returned)
    )
    subject = header_text(message, "Subject")
    delayed = _DELAYED.search(f"{subject}\n{notice}".lower())
    action = "delayed" if delayed else "failed"
    return [
        _recipient(address, action, *_status_near(notice, address, found))
        for address in found
    ]


def _listed_failures(message: Message) -> list[str]:
    # Exim and Gmail name the failed addresses in a header of their own.
    value = header_text(message, "X-Failed-Recipients")
    tokens = (t.strip(" <>").lower() for t in re.split(r"[,;\s]+", value))
    return list(dict.fromkeys(t for t in tokens if "@" in t))


def _own_addresses(message: Message, returned: str) -> set[str]:
    # The bounce's own parties and the original sender are not who failed.
    names = ("From", "To", "Cc", "Reply-To", "Sender", "Return-Path")
    own = {a for name in names for a in addresses(header_text(message, name))}
    for line in _header_lines(returned, ("from", "sender", "return-path")):
        own.update(addresses(line))
    return own


def _header_lines(text: str, names: tuple[str, ...]) -> list[str]:
    lines = []
    for line in text.split("\n"):
        name, colon, value = line.partition(":")
        if colon and name.strip().lower() in names and line[:1] not in " \t":
            lines.append(value)
    return lines


def _line_addresses(notice: str) -> list[str]:
    matches = (_LISTED_LINE.match(line) for line in notice.split("\n"))
    return addresses(" ".join(match.group(1) for match in matches if match))


def _single_returned_recipient(returned: str) -> list[str]:
    # When the notice names nobody, the returned copy's only To is the one.
    lines = _header_lines(returned, ("to",))
    found = addresses(lines[0]) if lines else []
    return found if len(found) == 1 else []


def _status_near(notice: str, address: str, others: list[str]) -> _Found:
    lowered = notice.lower()
    start = max(lowered.find(address), 0)
    marks = (lowered.find(o, start + 1) for o in others if o != address)
    ends = [p for p in marks if p > start]
    segment = notice[start : min(ends, default=len(notice))]
    status, line = code_in(segment)
    return (status, line) if status else code_in(notice)
