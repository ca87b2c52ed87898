"""`mailbot outbox`: the mail not (yet) delivered, and settling what nobody knows.

An uncertain delivery (the server took the data and never answered) is never
resent by itself: only a person can find out, in the recipient's mailbox or
the server's log, whether it arrived. `outbox settle ID arrived` records that
it did; `outbox settle ID resend` queues it again with its Message-ID, so a
copy that did arrive after all is recognised by the recipient's client.
"""

from __future__ import annotations

import argparse
from typing import Any

from sqlalchemy import select

from mailbot.app import App
from mailbot.clock import iso
from mailbot.db.models import Mail, Outbox
from mailbot.errors import MailbotError, UsageError

# What `list` shows: everything but the mail delivered.
UNDELIVERED = ("pending", "sending", "held", "uncertain", "failed")
# ... and the mail not sent because its reason was gone (withdraw.py).
LISTED = (*UNDELIVERED, "withdrawn")
# Which rows each settlement applies to.
SETTLEABLE = {"arrived": ("uncertain",), "resend": ("uncertain", "failed")}


def undelivered(app: App) -> list[dict[str, Any]]:
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
                "state": row.state,
                "purpose": row.purpose,
                "message_id": message_id,
                "subject": subject,
                "recipients": list(row.recipients),
                "attempts": row.attempts,
                "queued_at": iso(row.queued_at),
                "last_error": row.last_error,
            }
            for row, message_id, subject in rows
        ]


def settle(app: App, row_id: int, outcome: str) -> str:
    """Record what a person found out about an outbox row; the new state."""
    with app.db.transaction() as session:
        row = session.get(Outbox, row_id)
        if row is None or row.state not in SETTLEABLE[outcome]:
            states = " or ".join(SETTLEABLE[outcome])
            raise MailbotError(
                f"outbox row {row_id} is not {states}: `mailbot outbox` lists them"
            )
        now = app.clock.now()
        note = f"settled by hand at {iso(now)}: {outcome}"
        row.last_error = f"{row.last_error or ''} [{note}]".strip()
        if outcome == "arrived":
            row.state, row.sent_at = "sent", now
        else:
            row.state, row.next_try_at, row.lease_until = "pending", now, None
        return row.state


def command(args: argparse.Namespace) -> int:
    from mailbot.cli import print_json
    from mailbot.commands import app_from

    if args.action == "settle" and (args.id is None or args.outcome is None):
        raise UsageError("settle", "give the ID `mailbot outbox` lists and "
                         "`arrived` or `resend`")  # fmt: skip
    app = app_from(args)
    try:
        if args.action == "settle":
            state = settle(app, args.id, args.outcome)
            if state == "pending":
                print(
                    f"outbox row {args.id} is pending again: the running daemon"
                    " sends it within its outbox interval, or the next"
                    " `mailbot poll` or `mailbot sweep` does"
                )
            else:
                print(f"outbox row {args.id} is now {state}")
            return 0
        rows = undelivered(app)
    finally:
        app.close()
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("every queued mail was delivered")
        return 0
    print(
        f"{'ID':>6} {'STATE':<9} {'QUEUED':<20} {'PURPOSE':<24} RECIPIENTS  LAST ERROR"
    )
    for row in rows:
        print(
            f"{row['id']:>6} {row['state']:<9} {row['queued_at']:<20} "
            f"{row['purpose']:<24} {', '.join(row['recipients'])}  "
            f"{row['last_error'] or ''}"
        )
    return 0
