"""The parse stage: the raw bytes of one mail -> `ParsedMail`, never raising.

mail-parser parses the mail once; its compat32 message tree, address lists
and diagnostics feed everything below. Where it falls short, the standard
library stands behind it, one step at a time:

    mail-parser -> stdlib compat32 -> headers only -> an empty ParsedMail

Each step down, and every repair or guess on the way (charset aliases,
Latin-1 fallbacks, synthetic filenames, cut limits), is one short string in
`ParsedMail.defects`, logged at DEBUG with the Message-ID.
"""

from __future__ import annotations

import email
import email.utils
import logging
from collections.abc import Iterable
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from typing import Any

import mailparser
from mailparser.exceptions import MailParserRecursionError
from mailparser.utils import get_addresses

from mailbot.limits import OVER_LIMIT
from mailbot.mail import Address, ParsedMail
from mailbot.parse import headers, parts
from mailbot.parse.parts import Limits
from mailbot.settings import LimitsSettings

__all__ = ["Limits", "parse"]

log = logging.getLogger(__name__)

# The address headers ParsedMail exposes, with mail-parser's attribute names.
_ADDRESS_HEADERS = {"from": "from_", "reply-to": "reply_to", "to": "to", "cc": "cc"}


def parse_within(raw: bytes, bounds: LimitsSettings) -> ParsedMail:
    """`parse` with the configured limits ([limits])."""
    return parse(
        raw,
        max_parts=bounds.max_mime_parts,
        max_depth=bounds.max_mime_depth,
        max_attachment_bytes=bounds.max_attachment_bytes,
        max_unpacked_bytes=bounds.max_mail_bytes,
    )


def parse(
    raw: bytes,
    *,
    max_parts: int = 500,
    max_depth: int = 30,
    max_text_chars: int = 5_000_000,
    max_attachment_bytes: int = 10 * 1024 * 1024,
    max_unpacked_bytes: int = 25 * 1024 * 1024,
) -> ParsedMail:
    """Parse one mail. Never raises; what went wrong is in `defects`.

    `max_parts` bounds the MIME parts read, `max_depth` the nesting opened,
    `max_text_chars` the text kept of each part, `max_attachment_bytes` the
    decoded size of an attachment that is read (and what is unpacked from
    one compressed attachment), `max_unpacked_bytes` what is unpacked from
    all of a mail's compressed attachments; beyond them parts are cut and a
    defect starting with "over limit:" says so.
    """
    defects: list[str] = []
    limits = Limits(
        max_parts, max_depth, max_text_chars, max_attachment_bytes, max_unpacked_bytes
    )
    try:
        mail = _parse(_as_bytes(raw, defects), limits, defects)
    except Exception as exc:  # noqa: BLE001 - the last step down: an empty mail
        defects.append(f"parse failed: {type(exc).__name__}: {exc}"[:200])
        mail = _empty(defects)
    _log_defects(mail)
    return mail


def _as_bytes(raw: object, defects: list[str]) -> bytes:
    if isinstance(raw, bytes):
        return raw
    if isinstance(raw, bytearray | memoryview):
        return bytes(raw)
    if isinstance(raw, str):
        defects.append("input was text, not bytes: encoded as utf-8")
        return raw.encode("utf-8", "surrogateescape")
    defects.append(f"input was {type(raw).__name__}, not bytes")
    return b""


def _parse(data: bytes, limits: Limits, defects: list[str]) -> ParsedMail:
    if not data.strip():
        defects.append("empty input")
    message, parser, complete = _load(data, defects)
    fields = _header_fields(message, parser, defects)
    if not message.keys() and data.strip():
        defects.append("no header fields: probably not a mail")
    text_parts: tuple = ()
    attachments: tuple = ()
    subjects: tuple = ()
    if complete:
        try:
            text_parts, attachments, subjects = parts.collect(message, limits, defects)
        except Exception as exc:  # noqa: BLE001 - keep the headers at least
            defects.append(f"MIME parts unreadable ({type(exc).__name__})")
    return ParsedMail(
        **fields,
        text_parts=text_parts,
        attachments=attachments,
        defects=tuple(dict.fromkeys(defects)),
        forwarded_subjects=subjects,
        message=message,
    )


def _load(data: bytes, defects: list[str]) -> tuple[Message, Any, bool]:
    """The message tree, mail-parser's view of it (or None), and whether the
    whole tree is there (False: headers only)."""
    try:
        parser = mailparser.parse_from_bytes(data)
    except MailParserRecursionError:
        # The stdlib parser would recurse just as deep: go straight down.
        defects.append(f"{OVER_LIMIT} MIME nesting too deep to parse, headers only")
        return _headers_only(data, defects), None, False
    except Exception as exc:  # noqa: BLE001 - mail-parser bugs must not lose the mail
        defects.append(f"mail-parser failed ({type(exc).__name__}): stdlib used")
    else:
        if isinstance(parser.message, Message):
            return parser.message, parser, True
        defects.append("mail-parser gave no message: stdlib used")
    try:
        return email.message_from_bytes(data, policy=compat32), None, True
    except Exception as exc:  # noqa: BLE001 - RecursionError among others
        defects.append(f"stdlib parser failed ({type(exc).__name__}): headers only")
    return _headers_only(data, defects), None, False


def _headers_only(data: bytes, defects: list[str]) -> Message:
    try:
        return BytesParser(policy=compat32).parsebytes(data, headersonly=True)
    except Exception as exc:  # noqa: BLE001 - nothing readable at all
        defects.append(f"header block unreadable ({type(exc).__name__})")
        return Message()


def _header_fields(message: Message, parser: Any, defects: list[str]) -> dict:
    """ParsedMail's header fields, each read on its own: one that cannot be
    read is left empty with a defect naming it, and costs no other."""
    raw_items = list(message.raw_items())
    items = tuple(_item(name, value, defects) for name, value in raw_items)
    # Raw values, not get_all(): compat32 hands 8-bit values out as Header
    # objects already decoded with replacement characters.
    every: dict[str, list[str]] = {}
    for name, value in raw_items:
        every.setdefault(str(name).lower(), []).append(str(value))
    raws = {name: values[0] for name, values in every.items()}
    if parser is not None:
        _field("address diagnostics", None, defects, _parser_notes, parser)
    lists = {
        name: _address_field(every.get(name, []), parser, _title(name), defects)
        for name in _ADDRESS_HEADERS
    }
    return {
        "message_id": _field(
            "Message-ID", None, defects, _message_id, raws.get("message-id")
        ),
        "subject": next((v for k, v in items if k.lower() == "subject"), ""),
        "from_": lists["from"][0] if lists["from"] else None,
        "reply_to": lists["reply-to"],
        "to": lists["to"],
        "cc": lists["cc"],
        "date": _field("Date", None, defects, headers.parse_date, raws.get("date")),
        "in_reply_to": _field(
            "In-Reply-To",
            (),
            defects,
            headers.message_ids,
            raws.get("in-reply-to"),
            "In-Reply-To",
        ),
        "references": _field(
            "References", (), defects, _references, every.get("references", ())
        ),
        "headers": items,
    }


def _field(what: str, empty: Any, defects: list[str], read: Any, *args: Any) -> Any:
    """`read(*args, notes)`, or `empty` with a defect naming `what` when it
    raises; its notes are kept only when it does not."""
    notes: list[str] = []
    try:
        value = read(*args, notes)
    except Exception as exc:  # noqa: BLE001 - one field must not cost the others
        defects.append(f"header {what} unreadable ({type(exc).__name__}): left empty")
        return empty
    defects.extend(notes)
    return value


def _item(name: object, value: object, defects: list[str]) -> tuple[str, str]:
    """One entry of `ParsedMail.headers`: the name and its display text."""
    title = _title(name)
    text = _field(title, "", defects, headers.decode_value, value, title)
    return headers.clean(str(name)), text


def _address_field(
    values: list[str], parser: Any, name: str, defects: list[str]
) -> tuple[Address, ...]:
    """Header `name`'s addresses as mail-parser read them, else the stdlib."""
    sources = (parser, None) if parser is not None else (None,)
    for source in sources:
        notes: list[str] = []
        try:
            found = _addresses(values, source, name, notes)
        except Exception as exc:  # noqa: BLE001 - try the next source
            reader = "mail-parser" if source is not None else "stdlib"
            defects.append(f"header {name}: {reader} failed ({type(exc).__name__})")
            continue
        defects.extend(notes)
        return found
    defects.append(f"header {name} unreadable: left empty")
    return ()


def _parser_notes(parser: Any, notes: list[str]) -> None:
    notes.extend(_address_notes(parser.address_header_defects, "", 0))


def _references(values: Iterable[str], notes: list[str]) -> tuple[str, ...]:
    return tuple(
        ref
        for value in values
        for ref in headers.message_ids(value, "References", notes)
    )


def _title(name: object) -> str:
    """A header name spelt one way, so notes about one header read alike."""
    return headers.clean(str(name)).title()


# RFC 5321 paths end at 256 characters: a longer address is garbage, and
# the database columns are sized to this bound (Message-IDs: headers.py).
MAX_ADDRESS = 320


def _message_id(raw: str | None, defects: list[str]) -> str | None:
    ids = headers.message_ids(raw, "Message-ID", defects)
    if ids:
        value = ids[0]
    else:
        value = headers.clean(
            headers.repair_8bit(str(raw or ""), "Message-ID", defects)
        )
    return headers.bounded_id(value, "Message-ID", defects) or None


def _addresses(
    values: Iterable[str], parser: Any, name: str, defects: list[str]
) -> tuple[Address, ...]:
    """Every address in every occurrence (`values`) of header `name`."""
    found: list[Address] = []
    for occurrence, raw in enumerate(values):
        pairs = _pairs(parser, name, occurrence, raw, defects)
        if not pairs and "@" in str(raw):
            pairs = _recover(raw, name, defects)
        for display, addr in pairs:
            if len(addr) > MAX_ADDRESS:
                defects.append(f"{OVER_LIMIT} {name}: address too long, ignored")
            elif addr:
                found.append(headers.address(display, addr, name, defects))
    return tuple(found)


def _pairs(
    parser: Any, name: str, occurrence: int, raw: object, defects: list[str]
) -> list[tuple[str, str]]:
    # mail-parser has parsed the first occurrence already; read the others
    # with its parser too. It escapes raw 8-bit bytes in display names as
    # backslash sequences, so such a header is repaired first and reread.
    value = str(raw)
    if parser is not None and occurrence == 0 and value.isascii():
        pairs = getattr(parser, _ADDRESS_HEADERS[name.lower()])
    else:
        if not value.isascii():
            value = headers.repair_8bit(headers.unfold(value), name, defects)
        diagnostics: list[dict] = []
        pairs = get_addresses(value, defects=diagnostics, decode_names=True)
        if parser is None:
            defects.extend(_address_notes(diagnostics, name, occurrence))
    return [
        ("" if display == addr else display, addr) for display, addr in pairs if addr
    ]


def _recover(raw: object, name: str, defects: list[str]) -> list[tuple[str, str]]:
    """Addresses from a header mail-parser found ambiguous: its candidates,
    else whatever the stdlib's lenient parser reads."""
    diagnostics: list[dict] = []
    get_addresses(raw, defects=diagnostics, decode_names=True)
    pairs = [
        (candidate.get("display_name", ""), candidate.get("address", ""))
        for diagnostic in diagnostics
        for candidate in diagnostic.get("candidates", ())
    ]
    if not pairs:
        value = headers.clean(headers.repair_8bit(str(raw), name, defects))
        pairs = email.utils.getaddresses([value])
    pairs = [(display, addr) for display, addr in pairs if "@" in addr]
    note = f"{len(pairs)} guessed" if pairs else "none readable"
    defects.append(f"{name}: malformed address list, {note}")
    return pairs


def _address_notes(diagnostics: list[dict], name: str, occurrence: int) -> list[str]:
    return [
        f"address header {d.get('header', name)}[{d.get('occurrence', occurrence)}]:"
        f" {d.get('reason', 'defect')}"
        for d in diagnostics
    ]


def _empty(defects: list[str]) -> ParsedMail:
    return ParsedMail(
        message_id=None,
        subject="",
        from_=None,
        reply_to=(),
        to=(),
        cc=(),
        date=None,
        in_reply_to=(),
        references=(),
        headers=(),
        text_parts=(),
        attachments=(),
        defects=tuple(defects),
    )


def _log_defects(mail: ParsedMail) -> None:
    if not mail.defects or not log.isEnabledFor(logging.DEBUG):
        return
    ident = mail.message_id or "(no Message-ID)"
    for defect in mail.defects:
        log.debug("%s parse defect: %s", ident, defect)


def replied_ids(head: bytes) -> frozenset[str]:
    """The Message-IDs a stored mail names in In-Reply-To and References,
    read from its header block alone (`head`: the raw mail's start, which
    may end anywhere); an unreadable header names none."""
    end = head.find(b"\r\n\r\n")
    if end < 0:
        end = head.find(b"\n\n")
    block = head if end < 0 else head[: end + 2]
    notes: list[str] = []
    try:
        message = BytesParser(policy=compat32).parsebytes(block, headersonly=True)
        found = headers.message_ids(
            message.get("In-Reply-To"), "In-Reply-To", notes
        ) + _references(message.get_all("References") or (), notes)
    except Exception:  # noqa: BLE001 - hostile bytes name no request
        return frozenset()
    return frozenset(found)
