"""The outbox: mail to send is written in the transaction of its cause.

Queuing stores the outgoing mail (so replies to it thread by its
Message-ID) and an outbox row; the sender delivers it later, outside any
transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import event, update
from sqlalchemy.orm import Session

from mailbot import brake, compose
from mailbot.compose import Outgoing
from mailbot.db.models import Chase, Mail, Outbox
from mailbot.robot_address import is_plain_address, is_robot_address
from mailbot.store import dedupe_key

if TYPE_CHECKING:
    from mailbot.app import App

log = logging.getLogger(__name__)


def deliverable(recipients: Iterable[str]) -> list[str]:
    """The recipients a mail is queued to: robots and what is not a plain
    address are dropped."""
    return [r for r in recipients if is_plain_address(r) and not is_robot_address(r)]


def queue(
    session: Session,
    outgoing: Outgoing,
    *,
    purpose: str,
    incident_id: int | None,
    now: dt.datetime,
    app: App | None = None,
) -> Outbox | None:
    """Store `outgoing` and queue it; robots are dropped from its recipients.

    With `app`, the mail is automatic: the caps and the brake apply, and a
    mail they stop is kept "held" (brake.py).
    """
    recipients = deliverable(outgoing.recipients)
    if not recipients:
        log.warning("%s not queued: no human recipient", outgoing.message_id)
        return None
    verdict = brake.Verdict()
    if app is not None:
        verdict = brake.admit(
            app,
            session,
            recipients=recipients,
            incident_id=incident_id,
            purpose=purpose,
        )
    mail = Mail(
        direction="out",
        dedupe_key=dedupe_key(outgoing.raw),
        raw_sha256=hashlib.sha256(outgoing.raw).hexdigest(),
        raw=outgoing.raw,
        size=len(outgoing.raw),
        origin=f"outbox:{purpose}",
        message_id=outgoing.message_id,
        subject=outgoing.subject,
        from_addr=outgoing.sender,
        recipients=recipients,
        date=now,
        arrived_at=now,
        event_at=now,
        state="processed",
        role="mailbot",
        thread_reason="reply",
        incident_id=incident_id,
        processed_at=now,
    )
    session.add(mail)
    # No flush here: the session writes the mail and outbox rows of a
    # batch (the sweep's) together, before its next query or commit.
    row = Outbox(
        mail=mail,
        envelope_from=outgoing.sender,
        recipients=recipients,
        purpose=purpose,
        state=brake.HELD if verdict.reason else "pending",
        queued_at=now,
        next_try_at=now,
        last_error=verdict.reason,
    )
    session.add(row)
    if verdict.reason and verdict.engages is None and app is not None:
        # The mail that engages the brake is told by the brake's own alert.
        _held_once_committed(app, session, row, verdict.cap or "", purpose)
    if not verdict.reason:
        brake.count(session, recipients, incident_id, purpose)
    log.info(
        "%s queued (%s) to %s", outgoing.message_id, purpose, ", ".join(recipients)
    )
    return row


def _held_once_committed(
    app: App, session: Session, row: Outbox, cap: str, purpose: str
) -> None:
    """Tell `app.held` (brake.HeldMail, the count logged as held) of `row`
    when its transaction commits: a sweep's batch redone apart after a
    rollback, or an incident's savepoint undone, holds nothing by it."""
    pending: list[tuple[Outbox, str, str]] | None = session.info.get(_HELD)
    if pending is None:
        pending = session.info[_HELD] = []
        event.listen(session, "after_commit", partial(_report_held, app))
    pending.append((row, cap, purpose))


_HELD = "mailbot.outbox.held"


def _report_held(app: App, session: Session) -> None:
    """What the commit kept of the mails held in `session`: a rollback (of
    a savepoint too) takes the rows it undid out of the session."""
    pending = session.info[_HELD]
    for row, cap, purpose in pending:
        if row in session:
            app.held.add(cap, purpose, row.last_error or "")
    pending.clear()


def released(
    app: App, session: Session, row: Outbox, mail: Mail, now: dt.datetime
) -> None:
    """Queue a mail the caps or the brake held anew, at its release.

    It waits from now, not from its hold (`status` judges a wait stuck by
    it); a reminder to a site outside its working hours waits for the next
    working moment there, as the sender would find at its next pass, and
    `status` and `outbox` say so. Its level counts as sent now.
    """
    from mailbot.deadlines import chase

    leaves = now
    if row.purpose.startswith("chase-"):
        session.execute(
            update(Chase).where(Chase.mail_id == mail.id).values(queued_at=now)
        )
        leaves = chase.waits_for_hours(app, session, mail, now) or now
    row.state, row.next_try_at, row.queued_at = "pending", leaves, leaves
    # Why it was held is past: `mailbot outbox` listed it as the mail's
    # last error while it waited to leave.
    row.last_error = None


def cite_released(app: App, session: Session, mails: Sequence[Mail]) -> None:
    """Have each mail of `mails`, released together, cite those released
    before it that its recipients get.

    A mail written while another of its thread was held left that one out
    of its References: it had reached no one, and perhaps never would
    (respond.threads_mails). Released together, the earlier one leaves
    first, so the later one cites it, as it would have had it been sent.
    Its In-Reply-To stays: it still answers the mail it answered.
    """
    from mailbot import respond

    released = {m.message_id for m in mails if m.message_id}
    ids = sorted({m.incident_id for m in mails if m.incident_id is not None})
    if len(released) < 2 or not ids:
        return
    threads = respond.threads_mails(session, ids)
    for mail in mails:
        thread = threads.get(mail.incident_id or 0, [])
        at = next(
            (n for n, t in enumerate(thread) if t.message_id == mail.message_id), 0
        )
        before = [t for t in thread[:at] if t.message_id in released]
        cited = compose.references(mail.raw)
        missing = [
            msgid
            for msgid in respond.known_to(app, before, mail.recipients or [])
            if msgid not in cited
        ]
        if missing:
            _cite(mail, [*cited[:-1], *missing, *cited[-1:]])
            log.info("%s released: cites %s", mail.message_id, ", ".join(missing))


def _cite(mail: Mail, chain: list[str]) -> None:
    """Write `chain` as `mail`'s References, keeping its row true to its bytes."""
    mail.raw = compose.with_references(mail.raw, chain)
    mail.raw_sha256 = hashlib.sha256(mail.raw).hexdigest()
    mail.size = len(mail.raw)
