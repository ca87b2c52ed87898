"""What a database error means for the work: an outage, a configuration
error, or a refusal of one mail's data.

One rule for every caller (the intake, the daemon's loop and jobs, the
start-up): the work waits out an outage, a configuration error stops the
command, anything else is the statement's own failure.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError

# SQLSTATE classes of a statement refused for what one mail holds: a data
# exception, a program limit exceeded (an index entry too large, say).
# psycopg raises the second as an OperationalError, the class of outages:
# taken for one, such a mail stopped every poll, each time it came first.
_REFUSED_FOR_THE_MAIL = frozenset({"22", "54"})
# The server cannot do the work now, whatever class the driver gives it:
# a connection exception, insufficient resources (disk full, too many
# connections), an operator intervention (shutdown, starting up).
_OUTAGE_CLASSES = frozenset({"08", "53", "57"})
# read_only_sql_transaction: the URL reaches a standby after a failover, or
# default_transaction_read_only is set; psycopg raises it as InternalError.
READ_ONLY = "25006"
_OUTAGE_STATES = frozenset({READ_ONLY})
# The role may not do what the statement does (CREATE in a schema, say).
INSUFFICIENT_PRIVILEGE = "42501"
# A connection refused for what the URL says (no such database or role, a
# password refused): no retry can help. PostgreSQL gives no SQLSTATE to a
# failed connection attempt, only its words.
_CONFIGURATION_WORDS = (
    "does not exist",
    "authentication failed",
    "no pg_hba.conf entry",
    "password",
    "permission denied",
    "invalid dsn",
    "invalid connection option",
)


def sqlstate(exc: BaseException) -> str:
    return str(getattr(getattr(exc, "orig", None), "sqlstate", None) or "")


def unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database is out of reach or cannot take writes
    now (the work waits for it), rather than that a statement failed, maybe
    for one mail's data (the mail is set aside)."""
    if not isinstance(exc, DBAPIError):
        return False
    state = sqlstate(exc)
    if state in _OUTAGE_STATES or state[:2] in _OUTAGE_CLASSES:
        return True
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, (OperationalError, InterfaceError)):
        return False
    return state[:2] not in _REFUSED_FOR_THE_MAIL


def misconfigured(exc: BaseException) -> bool:
    """Whether a failure to connect is the URL's (a database or role that
    does not exist, a refused password) rather than a server down."""
    if not isinstance(exc, (OperationalError, InterfaceError)):
        return False
    orig = getattr(exc, "orig", None)
    if isinstance(orig, sqlite3.Error):
        return False  # a SQLite file is locked or full, not misnamed
    if sqlstate(exc)[:2] == "28" or sqlstate(exc) == "3D000":
        return True
    text = first_line(exc).lower()
    return any(words in text for words in _CONFIGURATION_WORDS)


def first_line(exc: BaseException) -> str:
    """The driver's first line, without SQLAlchemy's statement, parameters
    and link (the parameters may hold a mail's bytes)."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:300]


def describe(
    exc: BaseException, url: str = "[database] url", role: str | None = None
) -> str:
    """One line for a log or an error: what the database said, and what to
    check when that is clear. `url` is where the database URL is set: the
    variable when one set it (the file's key is not the URL in use then);
    `role` the role it connects as, when known (role_of)."""
    said = first_line(exc)
    advice = _advice(exc, url, role)
    return f"{said}: {advice}" if advice else said


def role_of(url: str) -> str | None:
    """The role a database URL connects as, when it names one; nothing else
    of the URL (its password above all) is read out."""
    try:
        return make_url(url).username or None
    except ArgumentError:
        return None


def _advice(exc: BaseException, url: str, role: str | None) -> str | None:
    if sqlstate(exc) == READ_ONLY:
        return read_only_advice(url)
    code = getattr(getattr(exc, "orig", None), "sqlite_errorcode", None)
    if code is not None and code & 0xFF == sqlite3.SQLITE_READONLY:
        return unwritable_file_advice(url)
    if sqlstate(exc) == INSUFFICIENT_PRIVILEGE:
        # The operator grants to a role by its name: "the role" sent her
        # to read it out of the URL herself.
        who = f"the role {role} ({url})" if role else f"the role in {url}"
        return (
            f"{who} lacks rights on mailbot's tables: connect as their owner"
            " (the role that ran `mailbot db upgrade`), or grant"
            f" {role or 'the role'} SELECT, INSERT, UPDATE, DELETE on the"
            " tables and USAGE on the sequences of mailbot's schema"
        )
    return None


def read_only_advice(url: str = "[database] url") -> str:
    return (
        "the database is read-only (a standby after a failover?); check that"
        f" {url} points at the primary"
    )


def unwritable_file_advice(url: str = "[database] url") -> str:
    return (
        "the file or its folder cannot be written (a read-only file system,"
        f" permissions): check them, then {url}'s path"
    )
