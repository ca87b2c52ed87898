"""The MIME tree of a parsed mail as text parts and attachments.

The tree is walked without recursion, numbering parts the way IMAP does
("1", "1.2", and "2.1" for the body of a message/rfc822 at part 2), and
stopping at the configured number of parts and nesting depth.
"""

from __future__ import annotations

import binascii
import email
import quopri
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from typing import NamedTuple

from mailbot.html_text import html_to_text
from mailbot.limits import OVER_LIMIT
from mailbot.mail import Attachment, TextPart
from mailbot.parse import archives, charsets, headers, sniff
from mailbot.parse.params import Meta, meta_of, unflowed
from mailbot.parse.sniff import text_like


@dataclass(frozen=True)
class Limits:
    """Bounds against hostile mail; whatever is beyond them is cut."""

    max_parts: int = 500
    max_depth: int = 30
    max_text_chars: int = 5_000_000
    max_attachment_bytes: int = 10 * 1024 * 1024
    # Bytes unpacked from all the compressed attachments of one mail.
    max_unpacked_bytes: int = 25 * 1024 * 1024


class _Node(NamedTuple):
    part: Message
    number: str
    depth: int
    forward: bool
    ctype: str
    # Inside an alternative other than the one read as the mail's text
    # (multipart/alternative: the HTML copy of a text part).
    alternative: bool = False


@dataclass
class _Collected:
    text_parts: list[TextPart] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    unpacked: archives.Budget | None = None


# message/* types that carry a whole mail; the others (delivery-status,
# feedback-report, ...) carry header blocks and are read as text reports.
_ENCAPSULATED = frozenset({"message/rfc822", "message/global", "message/news"})
_BODY_TYPES = frozenset({"text/plain", "text/html"})
_SUFFIXES = {
    "text/plain": ".txt",
    "text/html": ".html",
    "text/csv": ".csv",
    "text/calendar": ".ics",
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "application/json": ".json",
    "application/xml": ".xml",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
}


def collect(
    message: Message, limits: Limits, defects: list[str]
) -> tuple[tuple[TextPart, ...], tuple[Attachment, ...], tuple[str, ...]]:
    """The text parts and attachments of `message`, in document order, and
    the subjects of the mails it carries whole (message/rfc822)."""
    found = _Collected()
    for node in _walk(message, limits, defects):
        try:
            _take(node, found, limits, defects)
        except Exception as exc:  # noqa: BLE001 - one bad part must not cost the rest
            defects.append(f"part {node.number}: unreadable ({type(exc).__name__})")
    return tuple(found.text_parts), tuple(found.attachments), tuple(found.subjects)


def _walk(message: Message, limits: Limits, defects: list[str]) -> Iterator[_Node]:
    """Every node of the tree in document order; containers are opened here."""
    stack = [_root(message, "", 0, False)]
    seen = 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > limits.max_parts:
            defects.append(
                f"{OVER_LIMIT} more than {limits.max_parts} MIME parts, rest not read"
            )
            return
        _note_defects(node, defects)
        yield node
        children = _children(node, defects)
        if children and node.depth >= limits.max_depth:
            defects.append(
                f"{OVER_LIMIT} part {node.number} nested deeper than {limits.max_depth}"
            )
            continue
        stack.extend(reversed(children))


def _root(message: Message, prefix: str, depth: int, forward: bool) -> _Node:
    """A (possibly encapsulated) message: a multipart or its single body.

    IMAP numbers the children of a multipart from its own number, and the
    single body of a mail as part 1 of it.
    """
    ctype = message.get_content_type()
    if ctype.startswith("multipart/") and message.is_multipart():
        return _Node(message, prefix, depth, forward, ctype)
    return _Node(message, f"{prefix}.1" if prefix else "1", depth, forward, ctype)


def _children(node: _Node, defects: list[str]) -> list[_Node]:
    if node.ctype in _ENCAPSULATED:
        inner = _encapsulated(node.part, node.number, defects)
        if inner is None:
            return []
        return [_root(inner, node.number, node.depth + 1, True)]
    if not node.ctype.startswith("multipart/") or not node.part.is_multipart():
        return []
    prefix = f"{node.number}." if node.number else ""
    children = [
        (i, child)
        for i, child in enumerate(node.part.get_payload(), 1)
        if isinstance(child, Message)
    ]
    read = None
    if node.ctype == "multipart/alternative" and not node.alternative:
        read = next((i for i, child in children if _has_plain_text(child)), None)
    return [
        _Node(
            child,
            f"{prefix}{i}",
            node.depth + 1,
            node.forward,
            child.get_content_type(),
            node.alternative or (read is not None and i != read),
        )
        for i, child in children
    ]


def _has_plain_text(part: Message) -> bool:
    """Whether `part` is, or holds, a text/plain body that is not blank: the
    alternative read as the mail's text (the others say the same again)."""
    for leaf in part.walk():
        if leaf.get_content_type() != "text/plain" or leaf.is_multipart():
            continue
        if leaf.get_content_disposition() == "attachment" or leaf.get_filename():
            continue
        payload = leaf.get_payload(decode=True)
        if isinstance(payload, bytes) and payload.strip():
            return True
    return False


def _encapsulated(part: Message, number: str, defects: list[str]) -> Message | None:
    """The mail inside a message/rfc822 part, undoing a transfer encoding.

    The parser reads a base64 or quoted-printable message/rfc822 body as a
    mail without headers; decode it and parse the result instead.
    """
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if not isinstance(inner, Message):
        return None
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    body = inner.get_payload()
    if cte not in ("base64", "quoted-printable") or inner.keys():
        return inner
    if not isinstance(body, str):
        return inner
    data = body.encode("ascii", "surrogateescape")
    if cte == "base64":
        decoded = binascii.a2b_base64(data)
    else:
        decoded = quopri.decodestring(data)
    defects.append(f"part {number}: {cte} message/rfc822 decoded")
    return email.message_from_bytes(decoded)


def _note_defects(node: _Node, defects: list[str]) -> None:
    where = f"part {node.number}" if node.number else "message"
    for defect in node.part.defects:
        defects.append(f"{where}: {type(defect).__name__}")


def _take(node: _Node, found: _Collected, limits: Limits, defects: list[str]) -> None:
    """Files one node as body text, attachment, or both."""
    part, ctype = node.part, node.ctype
    if ctype.startswith("multipart/") and part.is_multipart():
        return
    meta = meta_of(part, node.number, defects)
    explicit = meta.filename is not None or meta.disposition == "attachment"
    if ctype in _ENCAPSULATED:
        # Its defects were noted when the tree was walked (_children).
        inner = _encapsulated(part, node.number, [])
        if inner is not None and inner.get("subject") is not None:
            subject = str(inner.get("subject"))
            found.subjects.append(headers.decode_value(subject, "Subject", defects))
        if explicit:
            whole = _flatten(part)
            data = _bounded(whole, node.number, limits, defects)
            _add_attachment(node, meta, found, data, defects, len(whole))
        return
    if part.is_multipart():
        _take_report(node, meta, found, limits, defects)
        return
    if ctype.startswith("multipart/"):
        defects.append(f"part {node.number}: multipart without boundary read as text")
        ctype = "text/plain"
    data = _decoded(part)
    binary = ctype.startswith("text/") and _binary(data, ctype, node.number, defects)
    if ctype in _BODY_TYPES and not explicit and not binary:
        text = _text_of(data, meta.charset, ctype, node.number, limits, defects)
        if meta.flowed and ctype == "text/plain":
            text = unflowed(text, meta.flowed == "delsp")
        kind = "html" if ctype == "text/html" else "body"
        found.text_parts.append(
            TextPart(
                node.number,
                ctype,
                _kind(node, kind),
                text,
                alternative=node.alternative,
            )
        )
        return
    if len(data) > limits.max_attachment_bytes:
        data, size = _bounded(data, node.number, limits, defects), len(data)
        _add_attachment(node, meta, found, data, defects, size)
        return
    attachment = _add_attachment(node, meta, found, data, defects)
    # A part typed text is an archive by its bytes alone (a client that
    # sends auth.log.gz as text/plain), never by its name.
    named = None if ctype.startswith("text/") else meta.filename
    archive = archives.kind_of(data, named)
    if archive is not None:
        _take_archive(
            node.number, attachment.filename, data, archive, found, limits, defects
        )
        return
    if not binary and text_like(ctype, meta.filename, data):
        text = _text_of(data, meta.charset, ctype, node.number, limits, defects)
        found.text_parts.append(
            TextPart(node.number, ctype, "attachment", text, attachment.filename)
        )


def _binary(data: bytes, ctype: str, number: str, defects: list[str]) -> bool:
    """Whether a part typed text holds a program, an image or random bytes
    (noted as a defect): it is kept as an attachment, not read as text."""
    kind = sniff.binary_kind(data)
    # An archive typed text (auth.log.gz as text/plain) is opened instead.
    if kind is None or archives.kind_of(data, None) is not None:
        return False
    defects.append(f"part {number}: binary content ({kind}) typed {ctype}, not read")
    return True


def _take_archive(
    number: str,
    filename: str,
    data: bytes,
    kind: str,
    found: _Collected,
    limits: Limits,
    defects: list[str],
) -> None:
    """The members of a compressed attachment, each an attachment of its own
    ("logs.zip/auth.log", part "2/auth.log"), the text-like ones read."""
    if found.unpacked is None:
        found.unpacked = archives.Budget(limits.max_unpacked_bytes)
    where = f"part {number} {filename}"
    members = archives.unpack(
        data,
        kind,
        filename,
        limits.max_attachment_bytes,
        found.unpacked,
        where,
        defects,
    )
    binary: list[str] = []
    nested: list[str] = []
    used: set[str] = set()
    for member in members:
        name = archives.safe_name(member.name)
        part = f"{number}/{name}"
        if part in used:
            part = f"{part}#{len(used) + 1}"
        used.add(part)
        inner = archives.kind_of(member.data, member.name)
        text = inner is None and text_like(_OCTET, name, member.data)
        ctype = _member_type(name, text)
        path = f"{filename}/{name}"
        if member.cut and not text:
            # Only its start was unpacked, and that is not read: it is not
            # read, as an attachment over the limit is not (its bytes are
            # dropped, the raw mail keeps them packed).
            found.attachments.append(
                Attachment(part, path, ctype, len(member.data), b"", read=False)
            )
        else:
            found.attachments.append(
                Attachment(part, path, ctype, len(member.data), member.data)
            )
        if inner is not None:
            nested.append(name)
        elif not text:
            binary.append(name)
        else:
            body = _text_of(member.data, None, ctype, part, limits, defects)
            found.text_parts.append(TextPart(part, ctype, "attachment", body, path))
    if nested:
        defects.append(
            f"{where}: archive inside an archive listed, not opened: {_few(nested)}"
        )
    if binary:
        defects.append(f"{where}: binary member(s) not read as text: {_few(binary)}")


_OCTET = "application/octet-stream"


def _member_type(name: str, text: bool) -> str:
    if not text:
        return _OCTET
    return "text/csv" if name.lower().endswith(".csv") else "text/plain"


def _few(names: list[str]) -> str:
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _bounded(data: bytes, number: str, limits: Limits, defects: list[str]) -> bytes:
    """The decoded bytes of an attachment, or none when they are over the limit.

    The raw mail keeps the whole attachment; only its parsed copy is dropped.
    """
    if len(data) <= limits.max_attachment_bytes:
        return data
    defects.append(
        f"{OVER_LIMIT} part {number} attachment of {len(data)} bytes not read "
        f"(limits.max_attachment_bytes {limits.max_attachment_bytes})"
    )
    return b""


def _kind(node: _Node, kind: str) -> str:
    return "forward" if node.forward else kind


def _take_report(
    node: _Node, meta: Meta, found: _Collected, limits: Limits, defects: list[str]
) -> None:
    """A delivery-status or feedback-report part: its header blocks as text."""
    # Cleaned as every other text part is (NUL out, lone surrogates
    # replaced): a NUL in a report's block reached a DN, kept on SQLite,
    # and quarantined the mail on PostgreSQL, which refuses NUL in text.
    text = _clean_text(_report_text(node.part, defects), node.number, defects)
    text = _limit(text, node.number, limits, defects)
    attachment = _add_attachment(node, meta, found, text.encode("utf-8"), defects)
    found.text_parts.append(
        TextPart(node.number, node.ctype, "attachment", text, attachment.filename)
    )


def _report_text(part: Message, defects: list[str]) -> str:
    blocks = []
    for block in part.get_payload():
        if not isinstance(block, Message):
            continue
        lines = [
            f"{name}: {headers.decode_value(value, name, defects)}"
            for name, value in block.raw_items()
        ]
        body = block.get_payload()
        if isinstance(body, str) and body.strip():
            lines.append(headers.repair_8bit(body, "report body", defects).strip())
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _text_of(
    data: bytes,
    charset: str | None,
    ctype: str,
    number: str,
    limits: Limits,
    defects: list[str],
) -> str:
    """Decoded, cleaned and size-limited text of one part."""
    # Decoding more bytes than can survive the cut is wasted work.
    data = data[: limits.max_text_chars * 4]
    text, notes = charsets.decode(data, charset)
    defects.extend(f"part {number}: {note}" for note in notes)
    text = _clean_text(text, number, defects)
    if ctype == "text/html" or (ctype.endswith("html") and "<" in text):
        text = html_to_text(_limit(text, number, limits, defects))
    return _limit(text, number, limits, defects)


def _clean_text(text: str, number: str, defects: list[str]) -> str:
    if "\x00" in text:
        defects.append(f"part {number}: NUL characters removed")
        text = text.replace("\x00", "")
    if not text.isascii() and headers.SURROGATES.search(text):
        defects.append(f"part {number}: lone surrogates replaced")
        text = headers.SURROGATES.sub("\ufffd", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _limit(text: str, number: str, limits: Limits, defects: list[str]) -> str:
    if len(text) <= limits.max_text_chars:
        return text
    defects.append(
        f"{OVER_LIMIT} part {number} text cut at {limits.max_text_chars} chars"
    )
    return text[: limits.max_text_chars]


def _add_attachment(
    node: _Node,
    meta: Meta,
    found: _Collected,
    data: bytes,
    defects: list[str],
    size: int | None = None,
) -> Attachment:
    """Add the attachment of `node`; `size` its bytes when `data` lacks them
    (over the limit, not read)."""
    filename = meta.filename
    if not filename:
        position = len(found.attachments) + 1
        filename = f"attachment-{position}{_suffix(node.ctype)}"
        # Inline images and report parts go without names by habit; a part
        # sent as an attachment without one is the sender's slip.
        if meta.disposition == "attachment":
            defects.append(f"part {node.number}: attachment without filename")
    read = size is None or size == len(data)
    size = len(data) if size is None else size
    attachment = Attachment(node.number, filename, node.ctype, size, data, read)
    found.attachments.append(attachment)
    return attachment


def _suffix(ctype: str) -> str:
    if ctype in _SUFFIXES:
        return _SUFFIXES[ctype]
    return ".txt" if ctype.startswith(("text/", "message/")) else ".bin"


def _decoded(part: Message) -> bytes:
    """A leaf part's payload with its transfer encoding undone."""
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _flatten(part: Message) -> bytes:
    """The bytes of an attached mail, as the parser can reproduce them."""
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if not isinstance(inner, Message):
        return _decoded(part)
    try:
        return inner.as_bytes()
    except (LookupError, UnicodeError, ValueError, TypeError):
        return inner.as_string().encode("utf-8", "surrogateescape")
