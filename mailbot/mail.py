"""The typed values that travel between the stages of a mail's path."""

from __future__ import annotations

import datetime as dt
import email.message
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RawMail:
    """One delivery as a source handed it over, before anything is parsed.

    `origin` names where it came from (an IMAP folder and UID, a file path),
    for logs and for the quarantine list.
    """

    raw: bytes
    arrived_at: dt.datetime
    origin: str
    # What intake noted about the delivery itself (an implausible arrival
    # time replaced), kept with the mail's parse defects.
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Address:
    name: str
    addr: str  # lower-cased addr-spec; empty for an empty path such as <>

    @property
    def domain(self) -> str:
        return self.addr.rpartition("@")[2]

    @property
    def local_part(self) -> str:
        return self.addr.rpartition("@")[0]


@dataclass(frozen=True)
class TextPart:
    """A piece of a mail that can be read as text.

    `part` is the MIME part number ("1", "2.1", ...), so every value taken
    from it can say where it came from. `kind` is "body", "html" (converted to
    text), "attachment" (a text-like file) or "forward" (the body of an
    attached message/rfc822).
    """

    part: str
    content_type: str
    kind: str
    text: str
    filename: str | None = None
    # Another alternative of a text already read (the HTML copy of a
    # multipart/alternative's text part): read for fields, not as the
    # mail's own text (body_text).
    alternative: bool = False


@dataclass(frozen=True)
class Attachment:
    """An attachment: `size` its decoded bytes; `payload` empty when `read` is
    False (over limits.max_attachment_bytes: the raw mail keeps it)."""

    part: str
    filename: str
    content_type: str
    size: int
    payload: bytes
    read: bool = True


@dataclass(frozen=True)
class ParsedMail:
    """What mailbot reads from one mail's raw bytes; never raises on bad mail.

    Header values are decoded and cleaned (no CR, LF, NUL or surrogates), so
    they are safe to store, log and reuse. `defects` lists what the parser
    had to repair or guess.
    """

    message_id: str | None
    subject: str
    from_: Address | None
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    date: dt.datetime | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]
    text_parts: tuple[TextPart, ...]
    attachments: tuple[Attachment, ...]
    defects: tuple[str, ...] = field(default=())
    # The Subject of each mail it carries whole (message/rfc822), decoded.
    forwarded_subjects: tuple[str, ...] = field(default=())
    message: email.message.Message | None = field(
        default=None, compare=False, repr=False
    )

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    @property
    def body_text(self) -> str:
        """The mail's own text (body and HTML parts), without attachments,
        each alternative once: a command or a sign-off said twice (text and
        HTML) is not read twice."""
        return "\n".join(
            p.text
            for p in self.text_parts
            if p.kind in ("body", "html") and not p.alternative
        )
