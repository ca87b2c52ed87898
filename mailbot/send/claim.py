"""Claiming outbox rows for delivery, one at a time, with a lease.

A claimed row is "sending" until its exchange is recorded; the claim is
committed before any SMTP traffic. A row whose process stops is put back,
or is uncertain when the server may have the message; a lease that runs
out (the process died) makes it uncertain as well.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from dataclasses import dataclass
from email.utils import format_datetime

from sqlalchemy import Select, select, update

from mailbot import withdraw
from mailbot.app import App
from mailbot.clock import iso
from mailbot.db.models import Mail, Outbox
from mailbot.deadlines import chase
from mailbot.send.batch import DeliveryCounts
from mailbot.store import dedupe_key, split_header_block

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=10)


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
