"""`mailbot outbox`: the mail not (yet) delivered, and what a person decides.

An uncertain delivery (the server took the data and never answered) is never
resent by itself: only a person can find out, in the recipient's mailbox or
the server's log, whether it arrived. `outbox settle ID arrived` records that
it did; `outbox settle ID resend` queues it again with its Message-ID, so a
copy that did arrive after all is recognised by the recipient's client.

A mail that failed for good (or one the operator no longer wants sent) is
dismissed with `outbox drop ID`, or given a fresh set of attempts with
`outbox retry ID` once its cause is fixed. Each decision is noted on the
row and in the trail of the mail's incident (`show TAG`).
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot import incidents
from mailbot.app import App
from mailbot.clock import iso
from mailbot.csirt import trail
from mailbot.db.models import Incident, Mail, Outbox
from mailbot.deadlines import chase
from mailbot.errors import MailbotError, UsageError

# What `list` shows: everything but the mail delivered or dropped.
UNDELIVERED = ("pending", "sending", "held", "uncertain", "failed")
# ... and the mail not sent because its reason was gone (withdraw.py).
LISTED = (*UNDELIVERED, "withdrawn")
# Which rows each decision applies to. A row being sent ("sending") is
# the sender's until its exchange ends; a held one is the brake's to
# release, but may be dropped.
SETTLEABLE = {
    "arrived": ("uncertain",),
    "resend": ("uncertain", "failed"),
    "retry": ("failed",),
    "drop": ("failed", "uncertain", "pending", "held"),
}


def undelivered(app: App) -> list[dict[str, Any]]:
    now = app.clock.now()
    with app.db.transaction() as session:
        rows = session.execute(
            select(Outbox, Mail.message_id, Mail.subject)
            .join(Mail, Mail.id == Outbox.mail_id)
            .where(Outbox.state.in_(LISTED))
            .order_by(Outbox.id)
        ).all()
        return [
            {
                "id": row.id,
                "state": row.state_at(now),
                "purpose": row.purpose,
                "message_id": message_id,
                "subject": subject,
                "recipients": list(row.recipients),
                "attempts": row.attempts,
                "queued_at": iso(row.queued_at),
                # When a pending mail may leave (the sender's next pass
                # after it); a released reminder waits for the site's hours.
                "leaves_at": iso(row.next_try_at) if row.state == "pending" else None,
                "last_error": row.last_error,
            }
            for row, message_id, subject in rows
        ]


def settle(app: App, row_id: int, outcome: str, reason: str | None = None) -> str:
    """Record what a person decided about an outbox row; the new state.

    `outcome`: arrived or resend (an uncertain row), retry (a failed one,
    with its attempts counted afresh) or drop (never send it).
    """
    from mailbot.cli_values import fits_id

    if not fits_id(row_id):
        raise MailbotError(_not_settleable(row_id, None, outcome))
    with app.db.transaction() as session:
        query = select(Outbox).where(Outbox.id == row_id)
        if not app.db.is_sqlite:
            # The sender claims a pending row under the same lock: a row it
            # is sending is never dropped behind its back.
            query = query.with_for_update()
        row = session.scalars(query).first()
        now = app.clock.now()
        if row is None or row.state_at(now) not in SETTLEABLE[outcome]:
            raise MailbotError(_not_settleable(row_id, row, outcome))
        if outcome == "retry":
            _check_retry(session, row)
        before = row.state_at(now)
        if outcome == "drop":
            row.state, row.lease_until = "dropped", None
            asked = chase.ask_again(session, row.mail_id, now)
            if asked:
                again = ", ".join(f"clock {d.rule} level {n}" for d, n in asked)
                told = f"reached no one: {again} asked again at the next sweep"
                reason = f"{reason}; {told}" if reason else told
        note = f"{_VERB[outcome]} at {iso(now)}"
        if outcome in ("arrived", "resend"):
            note += f": {outcome}"
        if reason:
            note += f": {reason}"
        row.last_error = f"{row.last_error or ''} [{note}]".strip()
        if outcome == "arrived":
            row.state, row.sent_at = "sent", now
        elif outcome in ("retry", "resend"):
            # A fresh set of [smtp] max_attempts: the cause is fixed, or a
            # person wants it tried again.
            row.attempts = 0
            row.state, row.next_try_at, row.lease_until = "pending", now, None
        _note_in_trail(session, row, outcome, before, reason, now)
        return row.state


def _check_retry(session: Session, row: Outbox) -> None:
    """Refuse to retry a mail none of whose recipients can take it yet."""
    if not row.recipients:
        # Failed before its recipients were kept with it.
        raise MailbotError(
            f"outbox row {row.id} has no recipient left (each was refused"
            " for good and marked bouncing): nothing to send again; `mailbot"
            " outbox drop` it"
        )
    marked = sorted(chase.bouncing(session) & {r.lower() for r in row.recipients})
    if len(marked) == len({r.lower() for r in row.recipients}):
        raise MailbotError(
            f"outbox row {row.id}: every recipient is marked as failing for"
            f" good ({', '.join(marked)}): once an address works again,"
            " `mailbot bounces clear ADDRESS`, then retry; or `mailbot outbox"
            f" drop {row.id}`"
        )


_VERB = {
    "arrived": "settled by hand",
    "resend": "settled by hand",
    "retry": "retried by hand",
    "drop": "dropped by hand",
}


def _not_settleable(row_id: int, row: Outbox | None, outcome: str) -> str:
    states = " or ".join(SETTLEABLE[outcome])
    if row is None:
        return f"no outbox row {row_id}: `mailbot outbox` lists them"
    hint = {
        "sending": "it is being sent now; look again in a minute",
        "uncertain": "check whether it arrived, then `mailbot outbox settle"
        f" {row_id} arrived` or `resend`",
    }.get(row.state, "`mailbot outbox` lists the rows it applies to")
    return f"outbox row {row_id} is {row.state}, not {states}: {hint}"


def _note_in_trail(
    session: Session,
    row: Outbox,
    outcome: str,
    before: str,
    reason: str | None,
    now: dt.datetime,
) -> None:
    mail = session.get(Mail, row.mail_id)
    if mail is None or mail.incident_id is None:
        return
    incident = session.get(Incident, mail.incident_id)
    if incident is None:
        return
    incident = incidents.resolve(incident, session)
    detail = (
        f"outbox row {row.id} ({row.purpose}, {before}) to "
        f"{', '.join(row.recipients) or 'no one left'}"
    )
    if reason:
        detail += f": {reason}"
    trail.note(
        session,
        incident.id,
        actor=trail.operator(),
        action=f"outbox_{outcome}",
        detail=detail,
        mail_id=mail.id,
        at=now,
    )


_USAGE = {
    "settle": "give the ID `mailbot outbox` lists and `arrived` or `resend`",
    "retry": "give the ID of a failed row that `mailbot outbox` lists",
    "drop": "give the ID of the row that `mailbot outbox` lists",
}


def command(args: argparse.Namespace) -> int:
    from mailbot.cli import printed_whole
    from mailbot.commands import app_from

    action = args.action
    row_id: int | None = args.id
    if action in _USAGE:
        if action != "settle" and args.outcome is not None:
            # It said "give the ID" of `drop 4 arrived`, the ID given.
            raise UsageError(
                action,
                f"takes no {args.outcome!r}: `arrived` and `resend` go with"
                f" settle; {_USAGE[action]}",
            )
        if row_id is None or (action == "settle") != (args.outcome is not None):
            raise UsageError(action, _USAGE[action])
    elif row_id is not None or args.reason is not None:
        raise UsageError(
            "list", "takes no ID; `settle`, `retry` or `drop` do"
        )  # fmt: skip
    # It only changes rows: the daemon, or the next poll or sweep, sends.
    app = app_from(args, servers=False)
    try:
        if row_id is not None:
            outcome = args.outcome if action == "settle" else action
            state = settle(app, row_id, outcome, args.reason)
            print(_told(row_id, state))
            return 0
        rows = undelivered(app)
    finally:
        app.close()
    # Said "every queued mail was delivered" with the only mail dropped.
    if printed_whole(args, rows, "the outbox is empty: no mail waits to be sent"):
        return 0
    print(
        f"{'ID':>6} {'STATE':<9} {'QUEUED':<20} {'LEAVES':<20} {'PURPOSE':<24}"
        " RECIPIENTS  LAST ERROR"
    )
    for row in rows:
        print(
            f"{row['id']:>6} {row['state']:<9} {row['queued_at']:<20} "
            f"{row['leaves_at'] or '-':<20} "
            f"{row['purpose']:<24} {', '.join(row['recipients'])}  "
            f"{row['last_error'] or ''}"
        )
    return 0


def _told(row_id: int, state: str) -> str:
    if state == "pending":
        return (
            f"outbox row {row_id} is pending again: the running daemon"
            " sends it within its outbox interval, or the next"
            " `mailbot poll` or `mailbot sweep` does"
        )
    if state == "dropped":
        return (
            f"outbox row {row_id} is dropped: it will never be sent (`show TAG`"
            " marks the mail, its incident's trail says who dropped it)"
        )
    return f"outbox row {row_id} is now {state}"
