"""A PostgreSQL server that goes silent: every wait for its answer ends.

libpq waits for an answer as long as its connection is open. A server, or
a proxy in front of it, that hangs with its connections open (its kernel
still acknowledging what mailbot sends) kept a statement waiting for ever:
the jobs stood still and `mailbot run` did not stop, SIGTERM included, as
the daemon waits for the work under way. Three bounds, for what each sees:

- TCP keepalives and tcp_user_timeout (libpq options) notice a peer gone
  from the network: an idle connection within about a minute, data left
  unacknowledged within [database] timeout.
- A statement whose answer does not come within [database] timeout is
  given up (the server may never have seen it: a statement_timeout could
  not help). Its connection is closed, and the error is an outage, which
  the work waits out as it waits out a server that is down.
- Once the process stops (give_up_after, at SIGTERM), a wait for the server
  still under way after the grace given ends the same way, connecting too.

psycopg (3.2 on) hands its waiting function a generator and resumes it
when the socket is ready, and every 0.1 s when it is not (Ready.NONE):
each resumption is a moment to check the bounds.
"""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Generator, Mapping
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, event

from mailbot.db.engine import CONNECT_TIMEOUT

# Keepalives: an idle connection to a peer gone from the network is noticed
# after 20 s and three unanswered probes 10 s apart.
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 20,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


class Silent(psycopg.OperationalError):
    """Raised when the database server does not answer in time, or the
    process stops while it has not answered; the connection is closed."""


class Bounds:
    """How long one engine's connections wait for the server."""

    def __init__(self, timeout: float | None) -> None:
        # Seconds without an answer; None: no bound.
        self.timeout = timeout
        # When (time.monotonic()) every wait ends: the process is stopping.
        self.give_up_at = math.inf


_BOUNDS: weakref.WeakKeyDictionary[Engine, Bounds] = weakref.WeakKeyDictionary()


def connect_args(query: Mapping[str, Any], timeout: float | None) -> dict[str, Any]:
    """The libpq options mailbot sets, but for those the URL gives itself."""
    wanted: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT, **KEEPALIVES}
    if timeout:
        wanted["tcp_user_timeout"] = int(timeout * 1000)
    return {key: value for key, value in wanted.items() if key not in query}


def watch(engine: Engine, timeout: float | None) -> None:
    """Make `engine`'s connections end a wait after `timeout` s of silence
    (None: never) and at a stop (give_up_after)."""
    bounds = _BOUNDS[engine] = Bounds(timeout)
    # A class of the engine's: a connection attempt (a class method) sees
    # the bounds too.
    kind = type("WatchedConnection", (WatchedConnection,), {"bounds": bounds})

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect, _record, cargs, cparams):  # type: ignore[no-untyped-def]
        return kind.connect(*cargs, **cparams)


def give_up_after(engine: Engine, seconds: float) -> None:
    """End every wait of `engine`'s connections `seconds` from now."""
    bounds = _BOUNDS.get(engine)
    if bounds is not None:
        bounds.give_up_at = min(bounds.give_up_at, time.monotonic() + seconds)


def unbounded(connection: Connection) -> None:
    """No silence bound on `connection` (a migration may rewrite a large
    table); a stop still ends its waits."""
    raw = connection.connection.dbapi_connection
    if isinstance(raw, WatchedConnection):
        raw.patient = True


class WatchedConnection(psycopg.Connection[Any]):
    """A psycopg connection whose waits end (Silent) when the server says
    nothing for its bounds' timeout, or the process stops."""

    bounds = Bounds(None)
    # No timeout on this connection's answers (unbounded).
    patient = False

    @classmethod
    def _connect_gen(cls, *args: Any, **kwargs: Any) -> Any:
        # connect_timeout bounds an attempt; a stop ends it sooner.
        return _watched(super()._connect_gen(*args, **kwargs), cls.bounds, None)

    def wait(self, gen: Any, *args: Any, **kwargs: Any) -> Any:
        timeout = None if self.patient else self.bounds.timeout
        try:
            return super().wait(_watched(gen, self.bounds, timeout), *args, **kwargs)
        except Silent:
            # A statement half sent or its answer half read: the connection
            # cannot be used again. Closed, SQLAlchemy drops it from the pool.
            self.pgconn.finish()
            raise


def _watched(
    gen: Generator[Any, Any, Any], bounds: Bounds, timeout: float | None
) -> Any:
    """`gen`, ended by Silent after `timeout` seconds without the socket
    ready, or once `bounds` give up."""
    quiet_since = time.monotonic()
    try:
        waiting = next(gen)
        while True:
            ready = yield waiting
            now = time.monotonic()
            if ready:  # psycopg's Ready.NONE is 0
                quiet_since = now
            elif now >= bounds.give_up_at:
                raise Silent("mailbot is stopping; the database server did not answer")
            elif timeout is not None and now - quiet_since >= timeout:
                raise Silent(
                    f"no answer from the database server within {timeout:g} s"
                    " ([database] timeout): a server or proxy that hangs with the"
                    " connection open?"
                )
            waiting = gen.send(ready)
    except StopIteration as done:
        return done.value
