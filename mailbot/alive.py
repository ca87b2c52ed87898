"""`mailbot status --alive`: whether the daemon is alive, for a container's
health check.

`mailbot status` fails for what needs a person (mail held by the brake,
an uncertain delivery, a growing quarantine): an orchestrator that
restarts an unhealthy container would restart a daemon that works, and
restart it again, without fixing any of it. Alive asks only what a restart
can help with: does the database answer, and did a mailbot poll within
three poll intervals (the same bound as `status`). It runs no migration
and counts nothing, so it is cheap and changes no database.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from mailbot.clock import Clock, iso, parse_instant
from mailbot.db.engine import make_engine
from mailbot.db.faults import describe
from mailbot.db.models import ServiceState
from mailbot.settings import Settings

# How many poll intervals may pass without a successful poll, here and in
# `status` (health.py).
POLL_INTERVALS = 3


def check(settings: Settings, clock: Clock) -> dict[str, Any]:
    """`alive`, the last poll, and the problem when not alive."""
    try:
        last_poll = _last_poll(settings.database.url)
    except DBAPIError as exc:
        said = describe(exc, settings.named("database", "url"))
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
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            value = connection.scalar(
                select(ServiceState.value).where(ServiceState.key == "last_poll_at")
            )
    finally:
        engine.dispose()
    return parse_instant(value) if value else None


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
