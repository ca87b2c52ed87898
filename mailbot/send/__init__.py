"""Delivering the outbox: SMTP (TLS verified) or a local Maildir.

A row is claimed (state "sending", with a lease) and committed before any
SMTP traffic, then marked sent, retried later, failed, or "uncertain" when
the server took the whole message but its answer never came. An uncertain
row is never sent again automatically: a second copy is worse than an
operator's look (BR-37). A lease that expires in "sending" (the process
died mid-delivery) is uncertain for the same reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import threading
from dataclasses import dataclass
from email.utils import format_datetime

from sqlalchemy import Select, select, update

from mailbot import bounces, withdraw
from mailbot.app import App
from mailbot.clock import iso
from mailbot.db.models import Mail, Outbox
from mailbot.deadlines import chase
from mailbot.errors import (
    DeliveryUncertain,
    LoginRefused,
    PermanentError,
    ServerUnavailable,
    TemporaryError,
)
from mailbot.send.batch import (
    LOGIN_REFUSED_KEY,
    Batch,
    DeliveryCounts,
    backoff,
    charge,
    end_batch,
    fail_refused_at_data,
    note_service_problem,
    outage_wait,
    refusal_kind,
)
from mailbot.send.transport import DataRefused, Transport, of_mailbox, transport_for
from mailbot.store import dedupe_key, split_header_block

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=10)


def deliver_due(
    app: App,
    transport: Transport | None = None,
    stop: threading.Event | None = None,
) -> DeliveryCounts:
    """Send every due outbox row once; returns what happened to them.

    Rows are claimed one at a time, each just before its SMTP exchange: a
    process killed mid-batch leaves at most the one row whose exchange was
    under way in "sending" (it becomes uncertain), never the rows after it.
    `stop` (the daemon's) ends the batch between two mails.

    A server that takes a mail's data and never answers ends the batch: that
    mail is uncertain, the rest wait untried, as in an outage.

    A temporary refusal costs a mail one of its `max_attempts` only when the
    server took another mail in the same batch: a relay that refuses every
    mail for now (full disk, a login or policy problem) is an outage, and the
    mail waits for it like for a server that cannot be reached.
    """
    app.held.report()
    counts = DeliveryCounts(uncertain=expire_leases(app))
    own = transport is None
    transport = transport or transport_for(app)
    batch = Batch()
    try:
        while not (stop is not None and stop.is_set()):
            letter = claim_next(app, counts)
            if letter is None:
                break
            try:
                outcome, error, refused = _exchange(transport, letter)
            except ServerUnavailable as exc:
                # The server, not the mail: put it back, untried.
                release(app, [letter.row_id])
                refused = isinstance(exc, LoginRefused)
                app.outages.down("smtp", str(exc), login_refused=refused)
                if refused:
                    note_service_problem(app, LOGIN_REFUSED_KEY, str(exc))
                break
            except STOPS:
                interrupted(app, letter, getattr(transport, "data_sent", True))
                raise
            try:
                _finish(app, letter, outcome, error, refused, counts, batch)
            except STOPS:
                interrupted(app, letter, outcome in ("sent", "uncertain"))
                raise
            if outcome == "uncertain":
                # A server that took the data and never answered would do
                # it again: each mail after it would wait out [smtp] timeout
                # and be uncertain too, an operator's check each.
                app.outages.down(
                    "smtp",
                    f"{error}, outbox {letter.row_id} now uncertain: check the"
                    " SMTP server (it took the data and did not answer within"
                    " [smtp] timeout) and whether that mail arrived (`mailbot"
                    f" outbox settle {letter.row_id} arrived|resend`); the rest"
                    " of the outbox waits, untried, as in an outage",
                )
                _wait_out(app)
                break
        end_batch(app, batch, counts)
    finally:
        if own:
            transport.close()
    return counts


def _wait_out(app: App) -> None:
    """Put the due mail back as in an outage (outage_wait): a server that
    stalls after every mail's data costs one uncertain mail each time, so
    not one each tick of the daemon."""
    now = app.clock.now()
    with app.db.transaction() as session:
        for row in session.scalars(
            select(Outbox).where(Outbox.state == "pending", Outbox.next_try_at <= now)
        ):
            row.next_try_at = now + outage_wait(row, now)


@dataclass(frozen=True)
class Letter:
    """A claimed outbox row, with what its SMTP exchange needs."""

    row_id: int
    message_id: str | None
    sender: str
    recipients: list[str]
    raw: bytes


def claim_next(app: App, counts: DeliveryCounts | None = None) -> Letter | None:
    """Take the next due row for this process ("sending", with a lease).

    A row whose reason went away while it waited is withdrawn instead
    (withdraw.py; counted in `counts`), and the next one is taken.
    """
    now = app.clock.now()
    with app.db.transaction() as session:
        while True:
            row = session.scalars(_next_due(app, now)).first()
            if row is None:
                return None
            mail = session.get(Mail, row.mail_id)
            assert mail is not None
            if withdraw.check(app, session, row, mail):
                session.flush()
                if counts is not None:
                    counts.withdrawn += 1
                continue
            later = (
                chase.waits_for_hours(app, session, mail, now)
                if row.purpose.startswith("chase-")
                else None
            )
            if later is None:
                break
            # Queued anew for then: it is not stuck meanwhile (status,
            # metrics), and counts against the caps of the day it leaves.
            row.next_try_at = row.queued_at = later
            session.flush()
            log.info(
                "%s (%s) waits for the site's working hours: leaves at %s",
                mail.message_id,
                row.purpose,
                iso(later),
            )
        row.state, row.lease_until = "sending", now + LEASE
        redate(mail, now)
        return Letter(
            row.id, mail.message_id, row.envelope_from, list(row.recipients), mail.raw
        )


def _next_due(app: App, now: dt.datetime) -> Select[Outbox]:
    query = (
        select(Outbox)
        .where(Outbox.state == "pending", Outbox.next_try_at <= now)
        .order_by(Outbox.id)
        .limit(1)
    )
    if not app.db.is_sqlite:
        query = query.with_for_update(skip_locked=True)
    return query


# A mail that leaves later than this after it was written (an outage, the
# brake, a retry) is dated again: its Date says when it was really sent.
REDATE_AFTER = dt.timedelta(minutes=1)
_DATE_RE = re.compile(rb"^Date:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*", re.M | re.I)


def redate(mail: Mail, now: dt.datetime) -> None:
    """Set the Date header of a mail that waited in the outbox to `now`."""
    if mail.date is None or now - mail.date < REDATE_AFTER:
        return
    head, body = split_header_block(mail.raw)
    date = b"Date: " + format_datetime(now).encode("ascii")
    new_head, found = _DATE_RE.subn(lambda _: date, head, count=1)
    if not found:
        return
    sep = mail.raw[len(head) : len(mail.raw) - len(body)]
    raw = new_head + sep + body
    mail.raw, mail.size, mail.date = raw, len(raw), now
    mail.raw_sha256 = hashlib.sha256(raw).hexdigest()
    mail.dedupe_key = dedupe_key(raw)


def release(app: App, ids: list[int]) -> None:
    """Give claimed rows back, as if never claimed (no attempt counted)."""
    with app.db.transaction() as session:
        session.execute(
            update(Outbox)
            .where(Outbox.id.in_(ids), Outbox.state == "sending")
            .values(state="pending", lease_until=None)
        )


# An orderly stop of the process: Ctrl-C, and SIGTERM of a one-shot command
# (commands.py turns it into KeyboardInterrupt).
STOPS = (KeyboardInterrupt, SystemExit)


def interrupted(app: App, letter: Letter, maybe_delivered: bool) -> None:
    """The process is stopping with `letter` claimed: back to the outbox at
    once if the server cannot have the message, else uncertain, never left
    "sending" until its lease runs out. The exchange's own outcome, once
    recorded, stands."""
    try:
        _put_back(app, letter, maybe_delivered)
    except Exception:  # noqa: BLE001 - the stop goes on; the lease still ends it
        log.warning(
            "%s claimed when interrupted and not put back (the database"
            " failed); its lease ends in %s",
            letter.message_id,
            LEASE,
            exc_info=True,
        )


def _put_back(app: App, letter: Letter, maybe_delivered: bool) -> None:
    with app.db.transaction() as session:
        row = session.get(Outbox, letter.row_id)
        if row is None or row.state != "sending":
            return
        row.lease_until = None
        if maybe_delivered:
            row.state = "uncertain"
            row.last_error = (
                "interrupted after the message data was handed to the server"
            )
            log.error(
                "%s delivery uncertain: %s; check whether it arrived, then"
                " `mailbot outbox settle %d arrived` or `resend`",
                letter.message_id,
                row.last_error,
                row.id,
            )
        else:
            row.state = "pending"
            log.warning(
                "%s delivery interrupted before the message data: back in the"
                " outbox, sent by the next run",
                letter.message_id,
            )


def expire_leases(app: App) -> int:
    """Rows whose sender stopped mid-delivery become uncertain; how many."""
    now = app.clock.now()
    with app.db.transaction() as session:
        stale = list(session.scalars(select(Outbox).where(Outbox.lease_lapsed(now))))
        for row in stale:
            row.state = "uncertain"
            row.last_error = "the sending process stopped during delivery"
            log.error("outbox %d delivery uncertain: %s", row.id, row.last_error)
    return len(stale)


def _exchange(transport: Transport, letter: Letter):  # type: ignore[no-untyped-def]
    """The outcome of one SMTP exchange: (outcome, error, refused)."""
    try:
        refused = transport.send(letter.sender, letter.recipients, letter.raw)
    except ServerUnavailable:
        raise  # a TemporaryError, but of the server: the caller's to handle
    except DeliveryUncertain as exc:
        return "uncertain", str(exc), {}
    except DataRefused as exc:
        return "refused-at-data", str(exc), {}
    except PermanentError as exc:
        return "failed", str(exc), getattr(exc, "refused", {})
    except TemporaryError as exc:
        return "retry", str(exc), getattr(exc, "refused", {})
    return "sent", None, refused


def _finish(
    app: App,
    letter: Letter,
    outcome: str,
    error: str | None,
    refused: dict[str, str],
    counts: DeliveryCounts,
    batch: Batch | None = None,
) -> None:
    batch = batch if batch is not None else Batch(took_mail=True)
    now = app.clock.now()
    later = {r: a for r, a in refused.items() if not a.startswith("5")}
    with app.db.transaction() as session:
        row = session.get(Outbox, letter.row_id)
        assert row is not None
        row.lease_until = None
        never = {r: a for r, a in refused.items() if a.startswith("5")}
        if never:
            # Refused for good at RCPT: the same fact as a bounce, known earlier.
            mail = session.get(Mail, row.mail_id)
            assert mail is not None
            bounces.refused_at_rcpt(app, session, mail, never)
            row.recipients = [r for r in row.recipients if r not in never]
        row.last_error = error if not refused else f"{error or ''} refused: {refused}"
        if outcome == "refused-at-data":
            if not batch.took_mail and row.sent_at is None:
                # Perhaps the relay refuses every mail (a blocked sender, a
                # quota): failed once it takes or judges another one
                # (charge, end_batch), else its outage.
                row.state = "pending"
                row.next_try_at = now + outage_wait(row, now)
                batch.refused_at_data.append(row.id)
                batch.data_answers.setdefault(refusal_kind(error or ""), error or "")
                log.debug(
                    "%s refused at DATA, failed only if other mail goes: %s",
                    letter.message_id,
                    error,
                )
                counts.retried += 1
                return
            outcome = "failed"
        server_wide = not (later and all(map(of_mailbox, later.values())))
        if (
            outcome == "retry"
            and server_wide
            and not batch.took_mail
            and row.sent_at is None
        ):
            # Perhaps the relay refuses every mail: charged only once it
            # takes another one (charge), else an outage (end_batch). A
            # mail it took for some recipients already, or refused for its
            # recipients' mailboxes (4.1.x, 4.2.x), is charged at once.
            row.state = "pending"
            row.next_try_at = now + outage_wait(row, now)
            batch.deferred.append(row.id)
            batch.last_refusal = f"{letter.message_id}: {error}"
            log.debug(
                "%s refused for now, not yet counted: %s", letter.message_id, error
            )
            counts.retried += 1
            return
        partial = outcome == "sent" and bool(later)
        if outcome == "sent":
            row.sent_at = now
            if not batch.took_mail:
                batch.took_mail = True
                charge(app, session, batch.deferred, now)
                fail_refused_at_data(session, batch, counts)
            if later:
                # Delivered to the others; those refused for now get it later.
                row.recipients = list(later)
                outcome = "retry"
                error = f"sent to the others; refused for now: {later}"
                row.last_error = error
        row.attempts += 1
        if outcome == "retry" and row.attempts >= app.settings.smtp.max_attempts:
            outcome = "failed"
        if outcome == "retry":
            row.state = "pending"
            row.next_try_at = now + backoff(row.attempts)
        else:
            row.state = outcome
    _log_outcome(app, letter.message_id, outcome, error, refused)
    if partial:
        app.outages.up("smtp")
        counts.sent += 1
        return
    name = {"retry": "retried"}.get(outcome, outcome)
    setattr(counts, name, getattr(counts, name) + 1)


def _log_outcome(app, message_id, outcome, error, refused) -> None:  # type: ignore[no-untyped-def]
    if outcome == "sent":
        app.outages.up("smtp")
        log.info("%s sent%s", message_id, f" (refused: {refused})" if refused else "")
    elif outcome == "retry":
        if refused and any(a.startswith("4") for a in refused.values()):
            log.warning("%s %s; retried later", message_id, error)
        else:
            log.info("%s delivery failed, will retry: %s", message_id, error)
    else:
        log.error("%s delivery %s: %s", message_id, outcome, error)
