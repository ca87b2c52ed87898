"""`mailbot status --alive`: whether the daemon is alive, for a container's
health check.

`mailbot status` fails for what needs a person (mail held by the brake,
an uncertain delivery, a growing quarantine): an orchestrator that
restarts an unhealthy container would restart a daemon that works, and
restart it again, without fixing any of it. Alive asks only what a restart
can help with: does the database answer, and did a mailbot poll within
three poll intervals (the same bound as `status`). It runs no migration
and counts nothing, so it is cheap and changes no database: on a database
no mailbot has migrated (a SQLite file not there yet) it says so, not
alive, and makes nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from mailbot.clock import Clock, iso, parse_instant
from mailbot.db.engine import make_engine
from mailbot.db.faults import describe, role_of
from mailbot.db.models import ServiceState
from mailbot.settings import Settings

# How many poll intervals may pass without a successful poll, here and in
# `status` (health.py).
POLL_INTERVALS = 3


# Not alive, and said so, on a database no mailbot has migrated: the
# daemon migrates at start, so within the health check's start period this
# is a daemon that never started (or a URL naming another database).
NOT_MIGRATED = (
    "no mailbot has run on this database yet (it has no tables): start the"
    " daemon (`mailbot run`), or run `mailbot db upgrade` to make them; check"
    " database.url if a mailbot did run"
)


class _NotMigrated(Exception):
    pass


def check(settings: Settings, clock: Clock) -> dict[str, Any]:
    """`alive`, the last poll, and the problem when not alive."""
    try:
        last_poll = _last_poll(settings.database.url)
    except _NotMigrated:
        return _verdict(None, NOT_MIGRATED)
    except DBAPIError as exc:
        url = settings.database.url
        said = describe(exc, settings.named("database", "url"), role_of(url))
        return _verdict(None, f"the database does not answer: {said}")
    if last_poll is None:
        return _verdict(None, "no successful poll yet: is `mailbot run` running?")
    interval = dt.timedelta(seconds=settings.source.poll_interval)
    if clock.now() - last_poll > POLL_INTERVALS * interval:
        return _verdict(
            last_poll,
            f"no successful poll since {iso(last_poll)}, three poll intervals"
            " ago: check the mailbox server and the log",
        )
    return _verdict(last_poll, None)


def _last_poll(url: str) -> dt.datetime | None:
    """The last successful poll; _NotMigrated on a database without
    mailbot's tables. Asking makes nothing: SQLite made an empty file."""
    if _no_sqlite_file(url):
        raise _NotMigrated
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(ServiceState.__tablename__):
                raise _NotMigrated
            value = connection.scalar(
                select(ServiceState.value).where(ServiceState.key == "last_poll_at")
            )
    finally:
        engine.dispose()
    return parse_instant(value) if value else None


def _no_sqlite_file(url: str) -> bool:
    """Whether `url` names a SQLite file that is not there (in a folder that
    is: a missing folder is make_engine's configuration error)."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database:
        return False
    if database == ":memory:" or database.startswith("file:"):
        return False
    path = Path(database).expanduser()
    return path.parent.is_dir() and not path.exists()


def _verdict(last_poll: dt.datetime | None, problem: str | None) -> dict[str, Any]:
    alive = problem is None
    return {"alive": alive, "last_poll_at": iso(last_poll), "problem": problem}


def command(args: argparse.Namespace) -> int:
    import sys

    from mailbot.cli import clock_from, config_source, print_json
    from mailbot.config import load_settings

    path, origin = config_source(args)
    verdict = check(load_settings(path, origin=origin, servers=False), clock_from(args))
    if args.json:
        print_json(verdict)
    elif verdict["alive"]:
        print(f"mailbot is alive: last poll at {verdict['last_poll_at']}")
    if not verdict["alive"]:
        print(f"mailbot: not alive: {verdict['problem']}", file=sys.stderr)
        return 1
    return 0
