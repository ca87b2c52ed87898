"""Another delivery of a mail already recorded, known by what its author wrote.

The store stage knows a redelivery by its bytes (store.dedupe_key). A relay
may change the bytes and not the mail: a hop without 8BITMIME turns an 8-bit
body into quoted-printable or base64, a gateway re-wraps header lines or
encodes a subject or converts a text's charset, a mailbox migration does
any of these. Once the mail is
parsed, its content key names what the author wrote, whatever the transport
did:

    Message-ID, Date (the instant), the From, To and Cc addresses, the
    Subject (decoded, blanks collapsed); then each MIME part in document
    order: its depth, content type and file name, and its content with the
    transfer encoding undone and line ends evened out (CRLF, CR and LF
    alike, none at the end; text in UTF-8 whatever its charset, with no
    blanks at a line's end); the
    header block of an attached mail or a delivery report, decoded.

Trace headers (Received, Return-Path, DKIM and ARC signatures,
Authentication-Results) are left out: relays add them. Two mails with one
key say the same, from the same sender, to the same people, dated the same
second: the later is a duplicate delivery. A mail with another's Message-ID
but a changed body or subject is a different mail (a resend with changes,
or a forgery) and is processed.

A mail with neither Message-ID nor Date gets no key: two of them may be one
text sent twice at different times (a script's alert), which nothing tells
apart. Nor does a mail whose MIME tree is beyond the limits.

The first mail recorded with a key keeps it (mail.content_key, unique): of
two copies recorded at once by two processes, the second's key is refused
when the first commits, and process.py looks again. A mail recorded before
keys were kept has none: it is found by its Message-ID, parsed again and
keyed.
"""

from __future__ import annotations

import hashlib
import logging
from email.message import Message

from sqlalchemy import and_, bindparam, func, literal_column, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnClause

from mailbot.db.engine import connection_for
from mailbot.db.models import Duplicate, Mail
from mailbot.mail import Address, ParsedMail
from mailbot.parse import headers, parse_within
from mailbot.settings import LimitsSettings

log = logging.getLogger(__name__)

# Changing what the key covers changes every key: say so in the version,
# so that a key of one definition is never compared with another's.
_VERSION = b"mailbot content key 1\n"

# Mails recorded with this key, or with this Message-ID before keys were
# kept: a probe of each index (the key's tested through coalesce, so that
# no engine reads "no key" from the key's index, where every mail sent is).
# Mail itself is left out (stored, not recorded yet), and so is mail sent.
_EMPTY: ColumnClause[str] = literal_column("''")
_SAME = (
    select(Mail.id, Mail.content_key)
    .where(
        Mail.direction == "in",
        Mail.id != bindparam("me"),
        or_(
            Mail.content_key == bindparam("key"),
            and_(
                Mail.message_id == bindparam("message_id"),
                func.coalesce(Mail.content_key, _EMPTY) == _EMPTY,
            ),
        ),
    )
    .order_by(Mail.id)
)
_HELD = select(Mail.id).where(Mail.content_key == bindparam("key"))


def content_key(parsed: ParsedMail, bounds: LimitsSettings) -> str | None:
    """What the author wrote, as a SHA-256; None when no key is safe."""
    if parsed.message is None or not (parsed.message_id or parsed.date):
        return None
    digest = hashlib.sha256(_VERSION)
    _add(digest, "message-id", parsed.message_id or "")
    _add(digest, "date", parsed.date.isoformat() if parsed.date else "")
    _add(digest, "from", _addresses((parsed.from_,) if parsed.from_ else ()))
    _add(digest, "to", _addresses(parsed.to))
    _add(digest, "cc", _addresses(parsed.cc))
    _add(digest, "subject", " ".join(parsed.subject.split()))
    try:
        complete = _add_parts(digest, parsed.message, bounds)
    except Exception as exc:  # noqa: BLE001 - no key is today's dedupe, never a loss
        log.debug("%s: no content key (%s)", parsed.message_id, exc)
        return None
    return digest.hexdigest() if complete else None


def _addresses(addresses: tuple[Address, ...]) -> str:
    return " ".join(a.addr for a in addresses)


def _add(digest: hashlib._Hash, name: str, value: str | bytes) -> None:
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogatepass")
    digest.update(b"%s %d\n" % (name.encode(), len(value)))
    digest.update(value)


def _add_parts(digest: hashlib._Hash, message: Message, bounds: LimitsSettings) -> bool:
    """Every part of `message` into `digest`; False when over the limits."""
    stack = [(message, 0)]
    seen = 0
    while stack:
        part, depth = stack.pop()
        seen += 1
        if seen > bounds.max_mime_parts or depth > bounds.max_mime_depth:
            return False
        content_type = part.get_content_type()
        _add(digest, "part", f"{depth} {content_type}")
        payload = part.get_payload()
        if isinstance(payload, list):
            children = [child for child in payload if isinstance(child, Message)]
            if content_type.startswith("message/"):
                for inner in children:
                    _add_headers(digest, inner)
            stack.extend((child, depth + 1) for child in reversed(children))
            continue
        _add(digest, "name", " ".join((part.get_filename() or "").split()))
        data = part.get_payload(decode=True)
        data = data if isinstance(data, bytes) else b""
        if content_type.startswith("text/"):
            data = _without_trailing_blanks(_evened(_as_utf8(data, part)))
        else:
            data = _evened(data)
        _add(digest, "content", data)
    return True


def _add_headers(digest: hashlib._Hash, inner: Message) -> None:
    """The header block of an attached mail or a delivery report, decoded.

    Relays leave it alone, but for the transfer encoding a hop without
    8BITMIME changes, and it cannot stay 8-bit there: it is decoded."""
    for name, value in inner.raw_items():
        if name.lower() != "content-transfer-encoding":
            _add(digest, name.lower(), headers.decode_value(str(value), name, []))


def _as_utf8(data: bytes, part: Message) -> bytes:
    """Text in UTF-8 whatever its declared charset: a gateway may convert
    ISO-8859-1 to UTF-8 (or back) and say so in Content-Type; the text the
    reader sees is the same. Undecodable charsets keep their bytes."""
    charset = part.get_content_charset() or "us-ascii"
    if charset in ("utf-8", "us-ascii"):
        return data
    try:
        return data.decode(charset, "replace").encode("utf-8")
    except (LookupError, ValueError):
        return data


def _evened(data: bytes) -> bytes:
    """Line ends as one: a transport may write CRLF where the author had LF."""
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return data.rstrip(b"\n")


def _without_trailing_blanks(text: bytes) -> bytes:
    """Text without the blanks at its lines' ends, which 8-bit hops may drop
    (quoted-printable keeps them)."""
    if b" \n" in text or b"\t\n" in text:
        text = b"\n".join([line.rstrip(b" \t") for line in text.split(b"\n")])
    return text.rstrip(b" \t\n")


def earlier(
    session: Session,
    mail_id: int,
    key: str,
    message_id: str | None,
    bounds: LimitsSettings,
) -> int | None:
    """The mail recorded before with `key`, if any: one indexed look-up."""
    rows = (
        connection_for(session, Mail)
        .execute(_SAME, {"me": mail_id, "key": key, "message_id": message_id})
        .all()
    )
    for row in rows:
        if row.content_key == key:
            return int(row.id)
    for row in rows:
        # Recorded before keys were kept: parsed again and keyed, so that it
        # is parsed once. Its key may be another's (two copies recorded
        # before keys were kept): then it stays without.
        found = _key_of(session, row.id, bounds)
        if found == key or (found and not _held(session, found)):
            session.execute(
                update(Mail).where(Mail.id == row.id).values(content_key=found)
            )
        if found == key:
            return int(row.id)
    return None


def _held(session: Session, key: str) -> bool:
    return session.execute(_HELD, {"key": key}).first() is not None


def _key_of(session: Session, mail_id: int, bounds: LimitsSettings) -> str | None:
    raw = session.scalar(select(Mail.raw).where(Mail.id == mail_id))
    return content_key(parse_within(raw, bounds), bounds) if raw else None


def set_aside(session: Session, mail_id: int, original_id: int) -> str:
    """Count mail `mail_id` as a delivery of mail `original_id` that came
    re-encoded: its raw bytes kept with the duplicate, its row gone, so that
    it is counted once, as a duplicate. "refetched" when this very delivery
    was counted so before (a file ingested again)."""
    mail = session.get(Mail, mail_id)
    assert mail is not None
    before = session.scalar(
        select(Duplicate.id).where(
            Duplicate.mail_id == original_id, Duplicate.origin == mail.origin
        )
    )
    # Deliveries of this copy seen while it was being processed follow it.
    session.execute(
        update(Duplicate)
        .where(Duplicate.mail_id == mail_id)
        .values(mail_id=original_id)
    )
    if before is None:
        session.add(
            Duplicate(
                mail_id=original_id,
                origin=mail.origin,
                seen_at=mail.arrived_at,
                raw=mail.raw,
            )
        )
    session.delete(mail)
    log.info(
        "%s same mail as mail %d, re-encoded on the way: counted as a duplicate",
        mail.origin,
        original_id,
    )
    return "duplicate" if before is None else "refetched"
