"""The path of one mail, written once: store, parse, classify, thread, record.

    store     raw bytes and SHA-256 kept before anything else (own transaction)
    parse     raw bytes -> ParsedMail, never raising
    classify  human, auto-reply or bounce
    record    author, thread, incident, TLP, fields, replies: one transaction

A mail that fails a stage is quarantined with the stage and the reason; the
caller's `mark_done` runs in the same transaction as the mail's results (or
its quarantine), so a source never marks a mail done before it is.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from mailbot import store
from mailbot.app import App
from mailbot.classify import Classification, classify
from mailbot.db.models import Mail
from mailbot.errors import StageError
from mailbot.mail import ParsedMail, RawMail
from mailbot.parse import parse
from mailbot.record import record

log = logging.getLogger(__name__)

MarkDone = Callable[[Session], None]


@dataclass(frozen=True)
class Outcome:
    mail_id: int | None
    result: str  # "processed", "duplicate", "quarantined"
    incident: str | None = None
    reason: str | None = None


def _no_mark(_session: Session) -> None:
    return None


def process_delivery(
    app: App, delivery: RawMail, mark_done: MarkDone = _no_mark
) -> Outcome:
    """Take one delivery through every stage; never raises for a bad mail."""
    with app.db.transaction() as session:
        stored = store.accept(session, delivery)
        if not stored.new and stored.state != "received":
            mark_done(session)
            return Outcome(stored.mail_id, "duplicate")
    return process_stored(app, stored.mail_id, delivery.raw, mark_done)


def process_stored(
    app: App, mail_id: int, raw: bytes, mark_done: MarkDone = _no_mark
) -> Outcome:
    """Run the stages after `store` for a mail whose raw bytes are kept."""
    started = time.monotonic()
    try:
        parsed = _stage("parse", parse, raw)
        classification = _stage("classify", _classify, parsed)
        with app.db.transaction() as session:
            tag = _stage(
                "record", record, app, session, mail_id, parsed, classification
            )
            mark_done(session)
    except StageError as exc:
        return quarantine(app, mail_id, exc.stage, exc.reason, mark_done)
    log.debug("mail %d processed in %.3f s", mail_id, time.monotonic() - started)
    return Outcome(mail_id, "processed", incident=tag)


def _classify(parsed: ParsedMail) -> Classification:
    if parsed.message is None:
        return Classification(kind="human", reason=None, dsn=None)
    return classify(parsed.message)


def _stage(name: str, function: Callable, *args: object):  # type: ignore[no-untyped-def]
    try:
        return function(*args)
    except StageError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure sets the mail aside
        log.exception("stage %s failed", name)
        raise StageError(name, f"{type(exc).__name__}: {exc}") from exc


def quarantine(
    app: App, mail_id: int, stage: str, reason: str, mark_done: MarkDone = _no_mark
) -> Outcome:
    """Set a mail aside with its stage and reason; the raw bytes stay."""
    with app.db.transaction() as session:
        mail = session.get(Mail, mail_id)
        assert mail is not None
        mail.state = "quarantined"
        mail.stage = stage
        mail.error = reason[:2000]
        mail.attempts += 1
        mail.processed_at = app.clock.now()
        mark_done(session)
    log.error("mail %d quarantined at %s: %s", mail_id, stage, reason)
    return Outcome(mail_id, "quarantined", reason=reason)


def resume_received(app: App) -> list[Outcome]:
    """Finish mails whose raw bytes were stored but never processed (a crash)."""
    from sqlalchemy import select

    with app.db.transaction() as session:
        rows = session.execute(
            select(Mail.id, Mail.raw).where(
                Mail.state == "received", Mail.direction == "in"
            )
        ).all()
    return [process_stored(app, row.id, row.raw) for row in rows]


def plausible_date(date: dt.datetime | None, arrived_at: dt.datetime) -> dt.datetime:
    """The Date header when plausible, else the arrival time (DOMAIN.md)."""
    if date is None:
        return arrived_at
    if date > arrived_at + dt.timedelta(minutes=15):
        return arrived_at
    if date < arrived_at - dt.timedelta(days=7):
        return arrived_at
    return date
