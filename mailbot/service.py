"""The passes every command is made of: poll, sweep, deliver."""

from __future__ import annotations

import logging

from mailbot import send
from mailbot.app import App
from mailbot.clock import iso, parse_instant
from mailbot.db.models import ServiceState
from mailbot.fetch import PollResult
from mailbot.process import resume_received

log = logging.getLogger(__name__)


def poll(app: App, *, deliver: bool = True) -> PollResult:
    """One pass over the mailbox: fetch, process, then send what that queued."""
    for outcome in resume_received(app):
        log.info(
            "mail %s resumed after an interruption: %s", outcome.mail_id, outcome.result
        )
    if app.settings.source.kind == "maildir":
        from mailbot.fetch.maildir import poll_maildir

        result = poll_maildir(app)
    else:
        from mailbot.fetch.imap import poll_imap

        result = poll_imap(app)
    set_state(app, "last_poll_at", iso(app.clock.now()) or "")
    log.info("poll: %s", result.summary())
    if deliver and not app.backfill:
        send.deliver_due(app)
    return result


def set_state(app: App, key: str, value: str) -> None:
    """Set `key`, by one upsert: two processes writing a key that is not
    there yet (two first polls) both succeed, the later value stays."""
    from mailbot.db.engine import upsert_insert

    with app.db.transaction() as session:
        connection = session.connection()
        row = {"key": key, "value": value, "updated_at": app.clock.now()}
        connection.execute(
            upsert_insert(connection.dialect.name)(ServiceState)
            .values(row)
            .on_conflict_do_update(
                index_elements=["key"],
                set_={"value": value, "updated_at": row["updated_at"]},
            )
        )


def get_state(app: App, key: str) -> str | None:
    with app.db.transaction() as session:
        row = session.get(ServiceState, key)
        return row.value if row is not None else None


def last_poll(app: App):  # type: ignore[no-untyped-def]
    value = get_state(app, "last_poll_at")
    return parse_instant(value) if value else None
