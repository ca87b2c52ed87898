"""The store stage: keep a delivery's raw bytes before anything else happens.

A delivery is the same mail as one already stored when its dedupe key
matches: the Message-ID plus a hash of the content that survives transport
(the identity headers and the body, line endings normalised). The
Message-ID alone is no proof (BR-19: a sender reused one for two reports),
and headers added in transit must not make a redelivery look new (BR-25).
A copy whose body a relay re-encoded has other bytes: it is stored here, and
known as the same mail once parsed (redelivery.py).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailbot.db.engine import add_written_unless_taken, connection_for
from mailbot.db.models import Duplicate, Mail
from mailbot.mail import RawMail

log = logging.getLogger(__name__)

# The headers that say which mail this is; everything else in the header
# block may be added or rewritten on the way (Received, X-Migrated, ...).
_IDENTITY_HEADERS = (b"message-id", b"date", b"from", b"to", b"cc", b"subject")
_HEADER_RE = re.compile(rb"^([!-9;-~]+)[ \t]*:(.*(?:\r?\n[ \t].*)*)", re.M)
# The look-up of every delivery, as a Core statement (see connection_for).
_BY_KEY = select(Mail.id, Mail.state, Mail.origin).where(
    Mail.dedupe_key == bindparam("key")
)


@dataclass(frozen=True)
class Stored:
    """What the store stage did with one delivery."""

    mail_id: int
    new: bool  # False: the same mail was stored before (a duplicate delivery)
    # The stored mail's state: received, processed or quarantined; "done"
    # when this very delivery (same origin) was stored before; "elsewhere"
    # when another delivery of it is stored and not finished yet.
    state: str
    # The new row itself: held here, it stays in its session's identity
    # map (which holds objects weakly) for the next transaction.
    row: Mail | None = None


def split_header_block(raw: bytes) -> tuple[bytes, bytes]:
    match = re.search(rb"\r?\n\r?\n", raw)
    if match is None:
        return raw, b""
    return raw[: match.start()], raw[match.end() :]


def dedupe_key(raw: bytes) -> str:
    """Message-ID plus a hash of the content that transport leaves alone."""
    head, body = split_header_block(raw)
    digest = hashlib.sha256()
    for name, value in _HEADER_RE.findall(head):
        if name.lower() in _IDENTITY_HEADERS:
            unfolded = b" ".join(value.split())
            digest.update(name.lower() + b":" + unfolded + b"\n")
    for line in body.splitlines():
        digest.update(line.rstrip() + b"\n")
    return digest.hexdigest()


def accept(
    session: Session, delivery: RawMail, key: str | None = None, backfill: bool = False
) -> Stored:
    """Store `delivery` unless it is stored already; record a duplicate if so.

    `backfill`: stored by `ingest --backfill`, kept on the new mail's row."""
    key = key or dedupe_key(delivery.raw)
    stored = _accept(session, delivery, key, backfill)
    if stored is None:
        # The stored mail whose key was taken went after our insert (another
        # process set it aside as a re-encoded copy, redelivery.py): the key
        # is free now.
        stored = _accept(session, delivery, key, backfill)
        assert stored is not None, f"dedupe key {key} neither free nor taken"
    return stored


def _accept(
    session: Session, delivery: RawMail, key: str, backfill: bool
) -> Stored | None:
    """What became of `delivery`; None when the mail it matched was gone
    when looked up (a re-encoded copy set aside meanwhile, redelivery.py)."""
    # Most deliveries are new: written first, looked up only when the key
    # is taken (one statement a delivery instead of two). The INSERT waits
    # for another transaction writing the same key, and does nothing once
    # it committed (PostgreSQL; SQLite writes one transaction at a time).
    values = {
        "direction": "in",
        "dedupe_key": key,
        "raw_sha256": hashlib.sha256(delivery.raw).hexdigest(),
        "raw": delivery.raw,
        "size": len(delivery.raw),
        "origin": delivery.origin,
        "arrived_at": delivery.arrived_at,
        "defects": list(delivery.notes),
        "state": "received",
        # Processing starts right after this commit: its first attempt is
        # counted here, in the same statement as the bytes.
        "attempts": 1,
        "backfill": backfill,
    }
    # Core, not the unit of work: every delivery writes one (add_written).
    mail = add_written_unless_taken(session, Mail, "dedupe_key", **values)
    if mail is not None:
        return Stored(mail.id, new=True, state="received", row=mail)
    found = connection_for(session, Mail).execute(_BY_KEY, {"key": key}).first()
    if found is None:
        return None
    if found.origin == delivery.origin and found.state != "received":
        # The same delivery fetched again (the process stopped between
        # recording the mail and marking it done): not a second delivery.
        log.info("%s already stored as mail %d", delivery.origin, found.id)
        return Stored(found.id, new=False, state="done")
    if found.origin == delivery.origin:
        # Stored by this very delivery and never finished (a crash):
        # the caller finishes it now.
        return Stored(found.id, new=False, state=found.state)
    # Another delivery of the same mail. If that one is not finished, it
    # is being processed right now (another process) or was left by a
    # crash, which resume_received finishes: either way not here too.
    try:
        # The mail found may be going right now: another process that holds
        # it sets it aside as a re-encoded copy (redelivery.py), and its
        # row is deleted when that commits. The duplicate's insert waits
        # for that process, then finds no mail: the key is free again.
        with session.begin_nested():
            origin, seen = delivery.origin, delivery.arrived_at
            session.add(Duplicate(mail_id=found.id, origin=origin, seen_at=seen))
    except IntegrityError:
        return None
    log.info("%s duplicate of mail %d, skipped", delivery.origin, found.id)
    state = "elsewhere" if found.state == "received" else found.state
    return Stored(found.id, new=False, state=state)
