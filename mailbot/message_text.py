"""The text of a mail's headers and parts, read without ever raising.

Every function here reads an `email.message.Message` parsed with the compat32
policy (what the parse stage keeps) and never raises on hostile input. The
text read is capped (`MAX_PARTS` parts, `MAX_TEXT` characters of each,
`MAX_HEADER` of a header) and no pattern nests quantifiers, so a crafted mail
cannot make reading it slow.
"""

from __future__ import annotations

import html
import quopri
import re
from collections.abc import Iterator
from email.header import decode_header
from email.message import Message
from itertools import islice

MAX_PARTS = 200
MAX_TEXT = 64 * 1024
MAX_HEADER = 8 * 1024
MAX_HEADERS = 1000


def decode_header_text(value: object) -> str:
    """A header value as clean text: encoded words decoded, no controls."""
    raw = _unescape_bytes(str(value)[:MAX_HEADER])
    if "=?" not in raw:
        return clean_text(raw)
    try:
        chunks = decode_header(raw)
    except Exception:  # noqa: BLE001 - malformed encoded words are common
        return clean_text(raw)
    return clean_text("".join(_decode_chunk(data, charset) for data, charset in chunks))


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


def clean_text(text: str) -> str:
    """One line of printable text: controls and runs of spaces made one space."""
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


def is_textual(part: Message) -> bool:
    """Whether a part is text to read: a text part, or a multipart unsplit."""
    # A multipart whose body the parser could not split is still readable.
    maintype = part.get_content_maintype()
    return maintype == "text" or (
        maintype == "multipart" and isinstance(part.get_payload(), str)
    )
