"""Delivering the outbox: SMTP (TLS verified) or a local Maildir.

A row is claimed (state "sending", with a lease) and committed before any
SMTP traffic, then marked sent, retried later, failed, or "uncertain" when
the server took the whole message but its answer never came. An uncertain
row is never sent again automatically: a second copy is worse than an
operator's look (BR-37). A lease that expires in "sending" (the process
died mid-delivery) is uncertain for the same reason.

The loop is here; its parts beside it: `claim.py` (a row and its lease),
`transport.py` (SMTP or Maildir), `batch.py` (what a pass learns about the
relay: whose a refusal is, and when a refused mail goes again).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot import bounces
from mailbot.app import App
from mailbot.db.models import Mail, Outbox
from mailbot.errors import (
    DeliveryUncertain,
    LoginRefused,
    PermanentError,
    ServerUnavailable,
    TemporaryError,
)
from mailbot.send.batch import (
    DATA_REFUSED_KEY,
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
from mailbot.send.claim import (
    STOPS,
    Letter,
    claim_next,
    expire_leases,
    interrupted,
    release,
)
from mailbot.send.transport import (
    DataRefused,
    RelayRefused,
    Transport,
    of_mailbox,
    transport_for,
)

log = logging.getLogger(__name__)


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

    One delivery at a time in a process: the daemon delivers from several
    threads (after a poll, its outbox job, after the digest), and a second
    one meanwhile would send a second mail at once (two uncertain behind a
    server that does not answer). A call that finds one under way returns
    at once, counting nothing: that one sends what is due, one by one.
    """
    if not app.sending.acquire(blocking=False):
        log.debug("outbox: a delivery is under way in this process; left to it")
        return DeliveryCounts()
    try:
        return _deliver_due(app, transport, stop)
    finally:
        app.sending.release()


def _deliver_due(
    app: App, transport: Transport | None, stop: threading.Event | None
) -> DeliveryCounts:
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
                elif isinstance(exc, RelayRefused):
                    note_service_problem(app, DATA_REFUSED_KEY, str(exc))
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
                # A server that took the data and never answered, or closed
                # the connection before answering (a content filter that
                # crashes, a proxy's short timeout), would do it again: each
                # mail after it would be uncertain too, an operator's check
                # each and perhaps a second copy. One such mail per outage
                # wait is the price; a lone drop delays the rest a minute.
                app.outages.down(
                    "smtp",
                    f"{error}; outbox {letter.row_id} now uncertain (the server"
                    " may hold it): check the SMTP server and whether that mail"
                    f" arrived (`mailbot outbox settle {letter.row_id}"
                    " arrived|resend`); the rest of the outbox waits, untried,"
                    " as in an outage",
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
    """Record one exchange's outcome on its row, and count it."""
    batch = batch if batch is not None else Batch(took_mail=True)
    now = app.clock.now()
    later = {r: a for r, a in refused.items() if not a.startswith("5")}
    with app.db.transaction() as session:
        row = session.get(Outbox, letter.row_id)
        assert row is not None
        row.lease_until = None
        _refused_for_good(app, session, row, refused)
        # An error with refusals names them already (every one refused).
        row.last_error = error or (f"refused: {refused}" if refused else None)
        if outcome == "refused-at-data":
            if _perhaps_every_mail(row, batch):
                # Perhaps the relay refuses every mail (a blocked sender, a
                # quota): failed once it takes or judges another one
                # (charge, end_batch), else its outage.
                batch.refused_at_data.append(row.id)
                batch.data_answers.setdefault(refusal_kind(error or ""), error or "")
                _wait_for_relay(row, now, counts, letter, "refused at DATA", error)
                return
            outcome = "failed"
        server_wide = not (later and all(map(of_mailbox, later.values())))
        if outcome == "retry" and server_wide and _perhaps_every_mail(row, batch):
            # Charged only once the relay takes another mail (charge), else
            # an outage (end_batch). A mail it took for some recipients
            # already, or refused for its recipients' mailboxes (4.1.x,
            # 4.2.x), is charged at once.
            batch.deferred.append(row.id)
            batch.last_refusal = f"{letter.message_id}: {error}"
            _wait_for_relay(row, now, counts, letter, "refused for now", error)
            return
        partial = outcome == "sent" and bool(later)
        if outcome == "sent":
            _took(app, session, row, batch, counts, now)
            if later:
                # Delivered to the others; those refused for now get it later.
                row.recipients = list(later)
                outcome = "retry"
                error = f"sent to the others; refused for now: {later}"
                row.last_error = error
        outcome = _charge_attempt(app, row, outcome, now)
    _log_outcome(app, letter.message_id, outcome, error, refused)
    if partial:
        app.outages.up("smtp")
        counts.sent += 1
        return
    name = {"retry": "retried"}.get(outcome, outcome)
    setattr(counts, name, getattr(counts, name) + 1)


def _refused_for_good(
    app: App, session: Session, row: Outbox, refused: dict[str, str]
) -> None:
    """Recipients refused for good at RCPT: the same fact as a bounce, known
    earlier. A mail refused for all reached no one, and keeps its recipients
    for `outbox retry` once their marks are cleared."""
    never = {r: a for r, a in refused.items() if a.startswith("5")}
    if not never:
        return
    mail = session.get(Mail, row.mail_id)
    assert mail is not None
    bounces.refused_at_rcpt(app, session, mail, never)
    left = [r for r in row.recipients if r not in never]
    row.recipients = left or row.recipients


def _perhaps_every_mail(row: Outbox, batch: Batch) -> bool:
    """A refusal before the relay took any mail in this pass, of a mail it
    never took: perhaps it refuses every mail, which is its outage."""
    return not batch.took_mail and row.sent_at is None


def _wait_for_relay(
    row: Outbox,
    now: dt.datetime,
    counts: DeliveryCounts,
    letter: Letter,
    what: str,
    error: str | None,
) -> None:
    """Put `row` back, uncharged, for as long as an outage waits."""
    row.state = "pending"
    row.next_try_at = now + outage_wait(row, now)
    log.debug("%s %s, not yet counted: %s", letter.message_id, what, error)
    counts.retried += 1


def _took(
    app: App,
    session: Session,
    row: Outbox,
    batch: Batch,
    counts: DeliveryCounts,
    now: dt.datetime,
) -> None:
    """The relay took `row`'s mail: the first mail it takes in a pass
    charges the refusals deferred before it (they were the mails', not the
    relay's)."""
    row.sent_at = now
    if not batch.took_mail:
        batch.took_mail = True
        charge(app, session, batch.deferred, now)
        fail_refused_at_data(session, batch, counts)


def _charge_attempt(app: App, row: Outbox, outcome: str, now: dt.datetime) -> str:
    """Count the attempt on `row` and settle its state; the final outcome
    (a retry past [smtp] max_attempts has failed)."""
    row.attempts += 1
    if outcome == "retry" and row.attempts >= app.settings.smtp.max_attempts:
        outcome = "failed"
    if outcome == "retry":
        row.state = "pending"
        row.next_try_at = now + backoff(row.attempts)
    else:
        row.state = outcome
    return outcome


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
