"""Which `mailbot run` polls the mailbox: the leader lock.

Two daemons may share one PostgreSQL database for high availability. Both
sweep deadlines and send the outbox (their claims skip rows the other holds),
but only the leader fetches mail: two pollers would fetch every mail twice.

On PostgreSQL the leader holds a session advisory lock on a connection of
its own, outside the pool. A pooled connection would keep the lock after it
went back to the pool (LIBRARIES.md), and a reused one could hand it to an
unrelated piece of work. When the leader dies its connection closes and the
server drops the lock; the standby, which tries again every poll interval,
takes over. TCP keepalives bound how long a half-dead connection holds it,
and [database] timeout how long a silent server keeps it (db/silence.py).

On SQLite one instance per database file is the supported deployment. A
second one on the same file takes a lock file beside the database instead,
waits as a standby, and says so.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from mailbot.db.engine import ANSWER_TIMEOUT, postgres_engine
from mailbot.settings import Settings

log = logging.getLogger(__name__)


class Leader(Protocol):
    """A lock that at most one process holds at a time."""

    where: str  # what is locked, for log lines and errors
    # The last try_acquire found it held by another process (not: could not
    # ask, which the lock logs itself).
    contended: bool

    def try_acquire(self) -> bool:
        """Take the lock if it is free, without waiting; whether we hold it."""
        ...

    def held(self) -> bool:
        """Whether we still hold it (False once the lock's connection died)."""
        ...

    def release(self) -> None: ...

    def give_up_after(self, seconds: float) -> None:
        """The process stops: a server's answer is waited for `seconds` more."""
        ...


def intake_name(settings: Settings) -> str:
    """The mailbox being polled: the thing the leader lock is about."""
    if settings.source.kind == "maildir":
        return f"maildir:{settings.path(settings.maildir.path)}"
    s = settings.imap
    # Spelled as one mailbox whatever the case of its host name and of
    # INBOX (both case-insensitive): two instances configured "imap.x.org"
    # and "IMAP.x.org" took two locks and both polled.
    folder = "INBOX" if s.folder.upper() == "INBOX" else s.folder
    return f"imap://{s.username}@{(s.host or '').lower().rstrip('.')}:{s.port}/{folder}"


def lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key for `name`, the same in every process."""
    digest = hashlib.sha256(f"mailbot-intake:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresLeader:
    """pg_try_advisory_lock held on one dedicated, unpooled connection."""

    def __init__(
        self, url: str, name: str, timeout: float | None = ANSWER_TIMEOUT
    ) -> None:
        self.key = lock_key(name)
        self.where = f"advisory lock {self.key} ({name})"
        self._engine = postgres_engine(
            url, timeout, poolclass=NullPool, isolation_level="AUTOCOMMIT"
        )
        self._connection: Connection | None = None
        self._unreachable = False
        self._stopping = False
        self.contended = False

    def try_acquire(self) -> bool:
        self.contended = False
        if self._connection is not None:
            return self.held()
        try:
            connection = self._engine.connect()
        except DBAPIError as exc:
            # Said once per outage; the retries every poll interval are DEBUG.
            level = logging.DEBUG if self._unreachable else logging.WARNING
            log.log(level, "%s: cannot connect to take it: %s", self.where, exc.orig)
            self._unreachable = True
            return False
        self._unreachable = False
        try:
            got = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
            ).scalar()
        except DBAPIError as exc:
            log.warning("%s: cannot take it: %s", self.where, exc.orig)
            connection.close()
            return False
        if not got:
            connection.close()
            self.contended = True
            return False
        self._connection = connection
        return True

    def held(self) -> bool:
        if self._connection is None:
            return False
        try:
            # The lock lives as long as this session: a live session holds it.
            self._connection.execute(text("SELECT 1"))
        except DBAPIError as exc:
            if self._stopping:
                # The stop gave up the wait (give_up_after): a stop, not a
                # loss; no other instance took the lock.
                log.warning(
                    "%s: stopping while the database does not answer (%s); the"
                    " server frees the lock when it finds the connection gone",
                    self.where,
                    exc.orig,
                )
            else:
                log.error("%s lost with its connection: %s", self.where, exc.orig)
            self._drop()
            return False
        return True

    def release(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(DBAPIError):
                self._connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": self.key}
                )
            self._drop()
        self._engine.dispose()

    def give_up_after(self, seconds: float) -> None:
        from mailbot.db import silence

        self._stopping = True
        silence.give_up_after(self._engine, seconds)

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(DBAPIError):
                connection.close()


class FileLeader:
    """flock on a file beside a SQLite database; the kernel drops it on exit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = f"lock file {path}"
        self._file: IO[str] | None = None
        self.contended = False

    def try_acquire(self) -> bool:
        self.contended = False
        if self._file is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            self.contended = True
            return False
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return True

    def held(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def give_up_after(self, seconds: float) -> None:
        return None  # a file lock waits for no server


class SoleLeader:
    """No other process can share the database (in-memory SQLite)."""

    where = "a private database"
    contended = False

    def try_acquire(self) -> bool:
        return True

    def held(self) -> bool:
        return True

    def release(self) -> None:
        return None

    def give_up_after(self, seconds: float) -> None:
        return None


def for_settings(settings: Settings) -> Leader:
    """The leader lock that fits the configured database."""
    url = make_url(settings.database.url)
    if url.get_backend_name() == "postgresql":
        return PostgresLeader(
            settings.database.url,
            intake_name(settings),
            settings.database.timeout,
        )
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return SoleLeader()
    if database.startswith("file:"):
        database = database[len("file:") :].split("?", 1)[0]
    path = Path(database).expanduser().resolve()
    return FileLeader(path.with_name(path.name + ".leader"))
