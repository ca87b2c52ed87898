"""The passes every command is made of: poll, sweep, deliver."""

from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError

from mailbot import send
from mailbot.app import App
from mailbot.clock import iso, parse_instant
from mailbot.db.models import ServiceState
from mailbot.errors import LoginRefused
from mailbot.fetch import PollResult
from mailbot.process import resume_received

log = logging.getLogger(__name__)


# Set (service_state) when the IMAP server refused mailbot's login; `status`
# names it until a poll works again (send.batch.LOGIN_REFUSED_KEY for SMTP's).
IMAP_LOGIN_REFUSED_KEY = "imap_login_refused"
# Set when the IMAP server failed a FETCH even of mail it delivered before
# (fetch/imap.py); `status` names it until a poll works again.
IMAP_FAILS_FETCH_KEY = "imap_fails_every_fetch"
LAST_POLL_KEY = "last_poll_at"


def poll(app: App, *, deliver: bool = True) -> PollResult:
    """One pass over the mailbox: fetch, process, then send what that queued."""
    resumed = resume_received(app)
    for outcome in resumed:
        log.info(
            "mail %s resumed after an interruption: %s", outcome.mail_id, outcome.result
        )
    if app.settings.source.kind == "maildir":
        from mailbot.fetch.maildir import poll_maildir

        result = poll_maildir(app)
    else:
        from mailbot.fetch.imap import poll_imap

        try:
            result = poll_imap(app)
        except LoginRefused as exc:
            note_imap_login_refused(app, str(exc))
            raise
    result.retried_misconfigured = [o.reason or "" for o in resumed if o.configuration]
    set_state(app, LAST_POLL_KEY, iso(app.clock.now()) or "")
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


def note_imap_login_refused(app: App, problem: str) -> None:
    """Keep for `status` that the IMAP server refused mailbot's login."""
    note_imap_problem(app, IMAP_LOGIN_REFUSED_KEY, problem)


def note_imap_problem(app: App, key: str, problem: str) -> None:
    """Keep for `status` a problem of the IMAP server's under `key`, since
    when: since the first time after the last poll that worked."""
    now = app.clock.now()
    try:
        with app.db.transaction() as session:
            row = session.get(ServiceState, key)
            if row is None:
                row = ServiceState(key=key, value=problem, updated_at=now)
                session.add(row)
            polled = session.get(ServiceState, LAST_POLL_KEY)
            if polled and polled.value and parse_instant(polled.value) > row.updated_at:
                row.updated_at = now  # again after polls that worked
            row.value = problem
    except DBAPIError as exc:
        # The problem is logged all the same; only `status` misses it.
        log.debug("%s not kept for status: %s", key, app.db.describe(exc))


def get_state(app: App, key: str) -> str | None:
    with app.db.transaction() as session:
        row = session.get(ServiceState, key)
        return row.value if row is not None else None


def last_poll(app: App):  # type: ignore[no-untyped-def]
    value = get_state(app, LAST_POLL_KEY)
    return parse_instant(value) if value else None
