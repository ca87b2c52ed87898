"""A local Maildir as the mailbox: the embedded default needs no server.

Files are never changed. A file whose origin is recorded (stored, or seen as
a duplicate) is done; the others are new.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select, union

from mailbot.ahead import read_ahead
from mailbot.app import App
from mailbot.db.models import Duplicate, Mail
from mailbot.fetch import PollResult
from mailbot.fetch.files import Unreadable, iter_maildir, maildir_files
from mailbot.process import process_delivery

log = logging.getLogger(__name__)


def _done_origins(app: App, prefix: str) -> set[str]:
    with app.db.transaction() as session:
        query = union(
            select(Mail.origin).where(Mail.origin.startswith(prefix)),
            select(Duplicate.origin).where(Duplicate.origin.startswith(prefix)),
        )
        return set(session.scalars(query))


def _unreadable(problem: Unreadable) -> None:
    # Not done, so tried again at the next poll; the rest goes on.
    log.error(
        "%s %s; skipped, and tried again at the next poll",
        problem.path,
        problem.reason,
    )


def poll_maildir(app: App) -> PollResult:
    path = app.settings.path(app.settings.maildir.path)
    if not (path / "cur").is_dir() and not (path / "new").is_dir():
        raise FileNotFoundError(
            f"{path} is no Maildir (no cur/ or new/): check maildir.path"
        )
    done = _done_origins(app, f"maildir:{path}#")
    result = PollResult()
    waiting = maildir_files(Path(path), done, _unreadable)
    try:
        mails = iter_maildir(Path(path), waiting, _unreadable)
        for delivery in read_ahead(app, mails, len(waiting)):
            outcome = process_delivery(app, delivery)
            result.add(outcome)
    finally:
        if app.read_ahead is not None:
            app.read_ahead.rest()
    return result
