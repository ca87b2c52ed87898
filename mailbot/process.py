"""The path of one mail, written once: store, parse, classify, thread, record.

    store     raw bytes and SHA-256 kept before anything else (own transaction)
    parse     raw bytes -> ParsedMail, never raising
    classify  human, auto-reply or bounce
    record    author, thread, incident, TLP, fields, replies: one transaction

A mail that fails a stage is quarantined with the stage and the reason; the
caller's `mark_done` runs in the same transaction as the mail's results (or
its quarantine), so a source never marks a mail done before it is.

Every automatic attempt is counted before it starts, so a mail that kills the
process (memory, a runaway parser) is quarantined after limits.max_attempts
restarts instead of crashing the daemon for ever; a quarantined mail is
retried automatically, with backoff, until it has had that many attempts.
The database being unreachable is no fault of the mail: it raises
DatabaseUnavailable and the mail stays where it was, to be done later.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy import bindparam, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from mailbot import limits, logs, redelivery, render, store
from mailbot.app import App
from mailbot.classify import Classification, classify_parsed
from mailbot.clock import plausible_arrival
from mailbot.db.engine import connection_for
from mailbot.db.faults import unavailable
from mailbot.db.models import Mail
from mailbot.errors import DatabaseUnavailable, StageError
from mailbot.mail import ParsedMail, RawMail
from mailbot.parse import parse_within
from mailbot.record import record
from mailbot.settings import LimitsSettings

log = logging.getLogger(__name__)

MarkDone = Callable[[Session], None]

# The claim of every mail (_claimed), built once and run in Core: built
# afresh through the ORM it cost about three times the statement itself.
_CLAIM = select(Mail.state).where(Mail.id == bindparam("id")).with_for_update()
# What is read of a mail quarantined at "limits" to list it by: the start
# of its header block (at most limits.max_header_bytes), in bounded time.
HEADING_BYTES = 64 * 1024
HEADING_SECONDS = 2.0


@dataclass(frozen=True)
class Outcome:
    mail_id: int | None
    # "processed", "duplicate", "quarantined", or "refetched" (this very
    # delivery was stored before; counted nowhere again).
    result: str
    incident: str | None = None
    reason: str | None = None
    # Quarantined for a fault of the configuration (a template), not the mail.
    configuration: bool = False


def _no_mark(_session: Session) -> None:
    return None


def process_delivery(
    app: App, delivery: RawMail, mark_done: MarkDone = _no_mark
) -> Outcome:
    """Take one delivery through every stage; never raises for a bad mail.

    Raises DatabaseUnavailable when the database cannot be reached.
    """
    arrived, note = plausible_arrival(delivery.arrived_at, app.clock.now())
    if note is not None:
        # A misbehaving server's INTERNALDATE (1985, 2099) would start and
        # meet clocks at absurd times: the time mailbot saw the mail stands.
        log.warning("%s %s", delivery.origin, note)
        delivery = replace(delivery, arrived_at=arrived, notes=(*delivery.notes, note))
    try:
        # One session for both transactions: the mail row stored by the
        # first stays loaded for the second.
        with app.db.session() as session:
            with app.db.transaction(session):
                stored = store.accept(session, delivery, backfill=app.backfill)
                if not stored.new and stored.state != "received":
                    mark_done(session)
                    again = stored.state == "done"
                    return Outcome(
                        stored.mail_id, "refetched" if again else "duplicate"
                    )
                attempts = 1 if stored.new else _count_attempt(session, stored.mail_id)
            return process_stored(
                app, stored.mail_id, delivery.raw, mark_done, attempts, session
            )
    except DBAPIError as exc:
        if not unavailable(exc):
            raise
        raise DatabaseUnavailable(f"{delivery.origin}: {app.db.describe(exc)}") from exc


def _count_attempt(session: Session, mail_id: int) -> int:
    mail = session.get(Mail, mail_id)
    assert mail is not None
    mail.attempts = (mail.attempts or 0) + 1
    return mail.attempts


def process_stored(
    app: App,
    mail_id: int,
    raw: bytes,
    mark_done: MarkDone = _no_mark,
    attempts: int | None = None,
    session: Session | None = None,
) -> Outcome:
    """Run the stages after `store` for a mail whose raw bytes are kept.

    `attempts` counts the automatic tries, this one included; None is an
    operator's retry, which is never refused. `session`, when given, is the
    one the mail was stored in.
    """
    bounds = app.settings.limits
    if attempts is not None and attempts > bounds.max_attempts:
        reason = (
            f"processing stopped unfinished {attempts - 1} times (the process "
            f"died); after a fix, `mailbot quarantine retry {mail_id}`"
        )
        return quarantine(app, mail_id, "crash", reason, mark_done)
    over = limits.check_raw(raw, bounds)
    if over is not None:
        return _over_limit(app, mail_id, raw, over, mark_done)
    started = time.monotonic()
    key = None
    try:
        with logs.about_mail(mail_id), limits.time_limit(bounds.max_seconds_per_mail):
            parsed = _stage("parse", parse_within, raw, bounds)
            classification = _stage("classify", classify_parsed, parsed)
            key = redelivery.content_key(parsed, bounds)
        # The timer stays off while the database is used: a signal raised
        # inside a driver call leaves its connection in no usable state.
        with logs.about_mail(mail_id), app.db.transaction(session) as current:
            if not _claimed(current, mail_id):
                mark_done(current)
                return Outcome(mail_id, "refetched")
            # Recorded before, re-encoded on the way: nothing is done twice.
            copy = key and _stage(
                "record", _as_copy, current, mail_id, key, parsed, bounds, mark_done
            )
            if copy:
                return copy
            tag = _stage(
                "record", _record, app, current, mail_id, parsed, classification, key
            )
            mark_done(current)
    except limits.MailTimeout as exc:
        return _over_limit(app, mail_id, raw, str(exc), mark_done)
    except StageError as exc:
        if key and isinstance(exc.__cause__, IntegrityError):
            # Another process recorded a copy at the same moment, and the
            # key is unique: look again now that it is committed.
            with logs.about_mail(mail_id), app.db.transaction() as current:
                copy = _as_copy(current, mail_id, key, parsed, bounds, mark_done)
            if copy:
                return copy
        return quarantine(
            app, mail_id, exc.stage, exc.reason, mark_done, exc.configuration
        )
    took = time.monotonic() - started
    if took > bounds.max_seconds_per_mail:
        log.warning("mail %d took %.1f s (limits.max_seconds_per_mail)", mail_id, took)
    log.debug("mail %d processed in %.3f s", mail_id, took)
    return Outcome(mail_id, "processed", incident=tag)


def _claimed(session: Session, mail_id: int) -> bool:
    """Whether this process finishes mail `mail_id`: its row, locked for the
    transaction, is still "received".

    Two processes may hold the same stored mail: a second intake fetching
    it again (a leader that lost its lock finishing its batch while the new
    one starts from the same UID; a `poll` typed beside `run`), or both
    resuming it after a crash. Each recorded it: two incidents, two
    acknowledgements. PostgreSQL makes the second wait for the first's
    commit (FOR UPDATE), then see it finished; SQLite writes one
    transaction at a time (BEGIN IMMEDIATE).
    """
    state = (
        connection_for(session, Mail)
        .execute(_CLAIM, {"id": mail_id})
        .scalar_one_or_none()
    )
    if state == "received":
        return True
    log.info("mail %d already finished by another process (%s)", mail_id, state)
    return False


def _as_copy(
    session: Session,
    mail_id: int,
    key: str,
    parsed: ParsedMail,
    bounds: LimitsSettings,
    mark_done: MarkDone,
) -> Outcome | None:
    """Outcome "duplicate" when the mail is a copy of one recorded before
    (redelivery.py), else None and nothing done."""
    same = redelivery.earlier(session, mail_id, key, parsed.message_id, bounds)
    if same is None:
        return None
    result = redelivery.set_aside(session, mail_id, same)
    mark_done(session)
    return Outcome(same, result)


def _record(
    app: App,
    session: Session,
    mail_id: int,
    parsed: ParsedMail,
    classification: Classification,
    key: str | None,
) -> str | None:
    tag = record(app, session, mail_id, parsed, classification, key)
    cuts = limits.over_limit_notes(parsed.defects)
    if cuts:
        # Processed with what was within the limits: say so on the mail.
        mail = session.get(Mail, mail_id)
        assert mail is not None
        mail.flags = [*(mail.flags or []), limits.FLAG]
        log.warning("%s processed over a limit: %s", mail.ident, cuts[0])
    # Within the stage: a row that cannot be written quarantines the mail.
    session.flush()
    return tag


def _stage(name: str, function: Callable, *args: object):  # type: ignore[no-untyped-def]
    try:
        return function(*args)
    except (StageError, limits.MailTimeout):
        raise
    except Exception as exc:  # noqa: BLE001 - any failure sets the mail aside
        if unavailable(exc):
            # An unreachable database is no fault of the mail: not quarantined.
            raise
        if isinstance(exc, render.TemplateFault):
            # The message names the file and line: a traceback adds nothing.
            log.error("stage %s failed: %s", name, exc)
        else:
            log.exception("stage %s failed", name)
        raise StageError(
            name,
            f"{type(exc).__name__}: {exc}",
            configuration=isinstance(exc, render.TemplateFault),
        ) from exc


def _over_limit(
    app: App, mail_id: int, raw: bytes, reason: str, mark_done: MarkDone
) -> Outcome:
    """Quarantine at "limits" a mail not parsed (or not to the end), with
    the Message-ID, Subject and From its header block's start gives: the
    listing showed such a mail with no subject and no Message-ID."""
    bounds = app.settings.limits
    head = limits.header_lines(raw, min(HEADING_BYTES, bounds.max_header_bytes))
    try:
        with limits.time_limit(HEADING_SECONDS):
            heading = parse_within(head + b"\r\n\r\n", bounds)
    except limits.MailTimeout:
        heading = None
    return quarantine(app, mail_id, "limits", reason, mark_done, heading=heading)


def quarantine(
    app: App,
    mail_id: int,
    stage: str,
    reason: str,
    mark_done: MarkDone = _no_mark,
    configuration: bool = False,
    *,
    heading: ParsedMail | None = None,
) -> Outcome:
    """Set a mail aside with its stage and reason; the raw bytes stay.

    `heading`, a mail not recorded: its header fields to list it by."""
    with app.db.transaction() as session:
        if not _claimed(session, mail_id):
            mark_done(session)
            return Outcome(mail_id, "refetched")
        mail = session.get(Mail, mail_id)
        assert mail is not None
        if heading is not None:
            mail.message_id = heading.message_id
            mail.subject = heading.subject
            mail.from_addr = heading.from_.addr if heading.from_ else ""
        mail.state = "quarantined"
        mail.stage = stage
        mail.error = reason[:2000]
        mail.processed_at = app.clock.now()
        mark_done(session)
    log.error("mail %d quarantined at %s: %s", mail_id, stage, reason)
    return Outcome(mail_id, "quarantined", reason=reason, configuration=configuration)


# Stages whose failure may pass by itself (a bug hit by a race, a lock);
# "limits" and "crash" need a person.
_RETRIED_STAGES = ("parse", "classify", "record")


def resume_received(app: App) -> list[Outcome]:
    """Finish mails stored but never processed (a crash), and retry due
    quarantined ones; both count as attempts."""
    now = app.clock.now()
    bounds = app.settings.limits
    try:
        with app.db.transaction() as session:
            stuck = list(
                session.scalars(
                    select(Mail.id).where(
                        Mail.state == "received", Mail.direction == "in"
                    )
                )
            )
            due = [
                m.id
                for m in session.scalars(
                    select(Mail).where(
                        Mail.state == "quarantined",
                        Mail.direction == "in",
                        Mail.stage.in_(_RETRIED_STAGES),
                        Mail.attempts < bounds.max_attempts,
                    )
                )
                if m.processed_at is None
                or now >= m.processed_at + retry_delay(m.attempts)
            ]
        return [_again(app, mail_id) for mail_id in [*stuck, *due]]
    except DBAPIError as exc:
        if not unavailable(exc):
            raise
        raise DatabaseUnavailable(
            f"resuming stored mail: {app.db.describe(exc)}"
        ) from exc


def retry_delay(attempts: int) -> dt.timedelta:
    """5, 10, 20 ... minutes after the last failed attempt, at most a day."""
    return dt.timedelta(minutes=min(5 * 2 ** max(attempts - 1, 0), 24 * 60))


def _again(app: App, mail_id: int) -> Outcome:
    with app.db.transaction() as session:
        mail = session.get(Mail, mail_id)
        assert mail is not None
        if mail.state == "quarantined":
            log.info("mail %d retried after quarantine at %s", mail_id, mail.stage)
        mail.state = "received"
        attempts = _count_attempt(session, mail_id)
        raw = mail.raw
    return process_stored(app, mail_id, raw, attempts=attempts)
