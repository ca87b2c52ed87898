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
import json
import logging
import re
import threading
from dataclasses import dataclass, field
from email.utils import format_datetime

from sqlalchemy import Select, delete, select, update
from sqlalchemy.orm import Session

from mailbot import bounces, withdraw
from mailbot.app import App
from mailbot.clock import iso
from mailbot.db.models import Mail, Outbox, ServiceState
from mailbot.deadlines import chase
from mailbot.errors import (
    DeliveryUncertain,
    LoginRefused,
    PermanentError,
    ServerUnavailable,
    TemporaryError,
)
from mailbot.send.transport import DataRefused, Transport, of_mailbox, transport_for
from mailbot.store import dedupe_key, split_header_block

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=10)
# Set (service_state) while the SMTP server refuses mailbot's login: `status`
# is unhealthy until a mail goes out again.
LOGIN_REFUSED_KEY = "smtp_login_refused"
# Set while the server refuses every mail at DATA with one permanent answer
# (the relay's condition, not the mails'): `status` is unhealthy, naming it.
DATA_REFUSED_KEY = "smtp_refuses_every_mail"
# The last permanent refusal at DATA since the server last took a mail: its
# kind (_kind) and the rows it failed (JSON). A lone mail refused for good
# fails (BR-37); the next one refused alike shows the relay refusing all.
DATA_REFUSAL_SEEN_KEY = "smtp_data_refusal_seen"
# While the server refuses every mail of a batch for now (an outage of the
# relay, not of the mails), a mail waits this share of its age, within bounds.
OUTAGE_WAIT_SHARE = 4
OUTAGE_WAIT_MAX = dt.timedelta(minutes=30)


@dataclass
class DeliveryCounts:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    uncertain: int = 0
    # Not sent: the reason was gone when its turn came (withdraw.py).
    withdrawn: int = 0


@dataclass
class _Batch:
    """What one pass over the outbox learnt about the server."""

    # The server took a mail: a temporary refusal is then the mail's own.
    took_mail: bool = False
    # Rows refused for now before the server took any mail: not yet charged
    # an attempt (the relay may be refusing everything).
    deferred: list[int] = field(default_factory=list)
    last_refusal: str = ""
    # Rows refused for good at DATA before the server took any mail, and
    # the kinds of answer (_kind): one answer to every mail is the relay's.
    refused_at_data: list[int] = field(default_factory=list)
    data_answers: dict[str, str] = field(default_factory=dict)


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
    batch = _Batch()
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
                    _note_service_problem(app, LOGIN_REFUSED_KEY, str(exc))
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
        _end_batch(app, batch, counts)
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


def _note_service_problem(app: App, key: str, problem: str) -> None:
    with app.db.transaction() as session:
        row = session.get(ServiceState, key)
        if row is None:
            session.add(
                ServiceState(key=key, value=problem, updated_at=app.clock.now())
            )
        elif row.value != problem:
            row.value = problem


def _end_batch(app: App, batch: _Batch, counts: DeliveryCounts) -> None:
    if batch.took_mail:
        with app.db.transaction() as session:
            session.execute(
                delete(ServiceState).where(
                    ServiceState.key.in_(
                        (LOGIN_REFUSED_KEY, DATA_REFUSED_KEY, DATA_REFUSAL_SEEN_KEY)
                    )
                )
            )
        return
    if batch.refused_at_data and _refused_at_data(app, batch, counts):
        return
    if batch.deferred:
        app.outages.down(
            "smtp",
            f"every mail refused for now ({len(batch.deferred)} in this batch; "
            "not counted against [smtp] max_attempts, the mail waits): "
            f"{batch.last_refusal}",
        )


def _refused_at_data(app: App, batch: _Batch, counts: DeliveryCounts) -> bool:
    """Decide on the mails refused for good at DATA in a pass in which the
    server took none; True when that is the relay's outage.

    Answers that differ judge each mail: each failed for good. So does a
    lone mail refused with an answer not seen since the server last took a
    mail (BR-37: a 550 is permanent). Two or more mails refused alike, in
    this pass or since the last mail taken, are the relay refusing
    everything: they wait (those failed already are queued again), no
    attempt spent, and `status` says so until a mail goes.
    """
    now = app.clock.now()
    with app.db.transaction() as session:
        seen = session.get(ServiceState, DATA_REFUSAL_SEEN_KEY)
        if len(batch.data_answers) > 1:
            _fail_refused_at_data(session, batch, counts)
            return False
        [(kind, answer)] = batch.data_answers.items()
        earlier = json.loads(seen.value) if seen is not None else {}
        alike = earlier.get("kind") == kind
        rows = list(
            dict.fromkeys(
                [*(earlier.get("rows", []) if alike else []), *batch.refused_at_data]
            )
        )
        record = json.dumps({"kind": kind, "rows": rows})
        if seen is None:
            session.add(
                ServiceState(key=DATA_REFUSAL_SEEN_KEY, value=record, updated_at=now)
            )
        else:
            seen.value, seen.updated_at = record, now
        if len(rows) < 2:
            _fail_refused_at_data(session, batch, counts)
            return False
        for row in session.scalars(
            select(Outbox).where(Outbox.id.in_(rows), Outbox.state == "failed")
        ):
            # Failed alone before; the relay's refusal, it turns out.
            row.state, row.attempts = "pending", max(row.attempts - 1, 0)
            row.next_try_at = now + outage_wait(row, now)
            log.warning(
                "outbox %d queued again: the relay refuses every mail alike", row.id
            )
    problem = (
        f"the SMTP server refuses every mail with one permanent answer ({answer};"
        f" {len(rows)} mail(s) since it last took one): the relay's condition, not"
        " the mails'. Check its log and its policy for [mailbot] address (a"
        " blocked sender, a quota, a content filter); the mail waits, no attempt"
        " spent, and leaves once the relay takes mail. If it is the mails'"
        " content, `mailbot outbox drop ID` dismisses one"
    )
    _note_service_problem(app, DATA_REFUSED_KEY, problem)
    app.outages.down("smtp", problem)
    return True


def _fail_refused_at_data(
    session: Session, batch: _Batch, counts: DeliveryCounts
) -> None:
    """The server takes (or judges) mail after all: the mails it refused
    for good at DATA are refused for their own sake."""
    for row in session.scalars(
        select(Outbox).where(Outbox.id.in_(batch.refused_at_data))
    ):
        if row.state == "pending":
            row.state = "failed"
            row.attempts += 1
            counts.retried -= 1
            counts.failed += 1
            log.error("outbox %d delivery failed: %s", row.id, row.last_error)
    batch.refused_at_data.clear()


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
    batch: _Batch | None = None,
) -> None:
    batch = batch if batch is not None else _Batch(took_mail=True)
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
                # (_charge, _end_batch), else its outage.
                row.state = "pending"
                row.next_try_at = now + outage_wait(row, now)
                batch.refused_at_data.append(row.id)
                batch.data_answers.setdefault(_kind(error or ""), error or "")
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
            # takes another one (_charge), else an outage (_end_batch). A
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
                _charge(app, session, batch.deferred, now)
                _fail_refused_at_data(session, batch, counts)
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


def _charge(app: App, session: Session, ids: list[int], now: dt.datetime) -> None:
    """The server takes mail after all: the refusals of `ids` were theirs."""
    for row in session.scalars(select(Outbox).where(Outbox.id.in_(ids))):
        if row.state != "pending":
            continue
        row.attempts += 1
        if row.attempts >= app.settings.smtp.max_attempts:
            row.state = "failed"
            log.error("outbox %d delivery failed: %s", row.id, row.last_error)
        else:
            row.next_try_at = now + backoff(row.attempts)
    ids.clear()


_DATA_ANSWER_RE = re.compile(r"(\d{3})[ -]+(?:([245]\.\d{1,3}\.\d{1,3})\b)?")


def _kind(error: str) -> str:
    """What a refusal at DATA says, less what differs between mails (a
    queue id, a score): the reply code and enhanced status code, else the
    reply code and its words."""
    text = error.split(": ", 1)[-1]
    found = _DATA_ANSWER_RE.match(text)
    if found is None:
        return text
    if found.group(2):
        return f"{found.group(1)} {found.group(2)}"
    words = re.sub(r"[^a-z ]+", "", text[3:].lower()).split()
    return f"{found.group(1)} {' '.join(words)}"


def outage_wait(row: Outbox, now: dt.datetime) -> dt.timedelta:
    """How long a mail waits while the server refuses every mail for now.

    A share of how long it has waited already, so a long outage is not
    hammered, and at most OUTAGE_WAIT_MAX, so it leaves soon after.
    """
    waited = (now - row.queued_at) / OUTAGE_WAIT_SHARE
    return max(dt.timedelta(minutes=1), min(waited, OUTAGE_WAIT_MAX))


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


def backoff(attempts: int) -> dt.timedelta:
    """1, 2, 4, ... minutes, at most six hours."""
    return dt.timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))
