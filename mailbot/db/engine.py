"""Engines, sessions and migrations, the same on SQLite and PostgreSQL.

On SQLite every transaction begins with BEGIN IMMEDIATE: the driver's default
loses read-modify-write updates between processes (LIBRARIES.md), and a
deferred BEGIN fails with "database is locked" when two writers meet.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Insert,
    create_engine,
    event,
    insert,
    inspect,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Mapper, Session, make_transient_to_detached, sessionmaker
from sqlalchemy.sql.schema import (
    CallableColumnDefault,
    ScalarElementColumnDefault,
)

from mailbot.db.faults import describe

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000
# Seconds an attempt to reach a database server may take, unless the URL
# says (?connect_timeout=N): psycopg's own 130 s kept a daemon that was
# told to stop, and every job, inside one attempt to reach a server that
# took the connection and answered nothing.
CONNECT_TIMEOUT = 10
# The newest migration (tests/test_migrations.py checks it is Alembic's
# head). A database already there is not handed to Alembic at start-up:
# loading it and checking SQLite's foreign keys took longer than most
# commands' own work.
HEAD = "0007"
# Seconds a PostgreSQL statement may wait for the server's answer by
# default ([database] timeout; db/silence.py).
ANSWER_TIMEOUT = 120.0
# The PostgreSQL advisory lock that lets one process at a time migrate a
# database: "mailbot" in ASCII, a key no other program is likely to take.
MIGRATION_LOCK = 0x6D61696C626F74


def make_engine(
    url: str, *, foreign_keys: bool = True, timeout: float | None = ANSWER_TIMEOUT
) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and immediate locks,
    PostgreSQL keepalives and `timeout` on each wait for an answer."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        try:
            return postgres_engine(url, timeout, pool_pre_ping=True)
        except ImportError as exc:
            from mailbot.errors import ConfigError

            raise ConfigError(
                "database.url",
                f"the driver for {parsed.drivername} URLs is not installed "
                f"({exc.name or exc}): mailbot's PostgreSQL extra installs "
                "psycopg, `pip install 'mailbot[postgresql]'`, for URLs "
                "postgresql+psycopg://user@host/db",
            ) from None
    _make_parent_dir(parsed.database)
    engine = create_engine(
        url,
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000},
        # An error's text names no parameters: they may hold a mail's bytes,
        # and errors reach the log and the terminal.
        hide_parameters=True,
    )
    _install_sqlite_hooks(engine, foreign_keys=foreign_keys)
    return engine


def postgres_engine(url: str, timeout: float | None, **options: Any) -> Engine:
    """An engine whose connections notice a server gone or silent (silence.py)."""
    # Imported with the driver: psycopg comes with the PostgreSQL extra.
    from mailbot.db import silence

    engine = create_engine(
        url,
        future=True,
        hide_parameters=True,
        connect_args=silence.connect_args(make_url(url).query, timeout),
        **options,
    )
    silence.watch(engine, timeout)
    return engine


def _make_parent_dir(database: str | None) -> None:
    """Check that the database file's directory exists.

    A new database file is made where none is, but not a new directory: a
    typo in the path would otherwise start an empty database, which polls
    the whole mailbox again and answers the last week's mail a second time.
    """
    if database and database != ":memory:" and not database.startswith("file:"):
        parent = Path(database).expanduser().parent
        if not parent.is_dir():
            from mailbot.errors import ConfigError

            raise ConfigError(
                "database.url",
                f"directory {parent} does not exist: create it (the database "
                "file is made there on first use), or correct the path",
            )


def _install_sqlite_hooks(engine: Engine, *, foreign_keys: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # Autocommit at the driver level, so that SQLAlchemy's begin below is
        # the only BEGIN sent, and it is an immediate one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):  # type: ignore[no-untyped-def]
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """The engine and session factory of one database URL."""

    def __init__(
        self,
        url: str,
        timeout: float | None = ANSWER_TIMEOUT,
        *,
        named: str = "[database] url",
    ) -> None:
        self.url = url
        self.timeout = timeout
        # Where the operator set the URL, for advice (faults.describe).
        self.named = named
        self.engine = make_engine(url, timeout=timeout)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextlib.contextmanager
    def transaction(self, session: Session | None = None) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any exception.

        In `session` when given (from `session()`): what the transaction
        before it loaded stays loaded, and is not read again.
        """
        if session is not None:
            with session.begin():
                yield session
            return
        with self._sessions() as fresh, fresh.begin():
            yield fresh

    def session(self) -> Session:
        """A session for several transactions in a row, closed by its caller."""
        return self._sessions()

    def upgrade(self) -> None:
        upgrade(self.url, timeout=self.timeout)

    def give_up_after(self, seconds: float) -> None:
        """End every wait for the server's answer `seconds` from now, the
        waits to connect included: the process is stopping (silence.py)."""
        if not self.is_sqlite:
            from mailbot.db import silence

            silence.give_up_after(self.engine, seconds)

    def describe(self, exc: BaseException) -> str:
        """A database error in one line, with what to check (faults.py)."""
        return describe(exc, self.named, self.engine.url.username)

    def dispose(self) -> None:
        self.engine.dispose()


def connection_for(session: Session, *models: type) -> Connection:
    """The connection of `session`'s transaction, for a Core statement over
    the tables of `models`.

    A Core statement costs a fifth of the same statement through the ORM
    (bench/ingest.py runs a dozen a mail), but does not autoflush: rows of
    `models` the session holds unwritten are flushed first, so the statement
    sees them as an ORM query would. Other pending rows wait for the commit.
    """
    flush_for(session, *models)
    return session.connection()


def flush_for(session: Session, *models: type) -> None:
    """Flush `session` when it holds unwritten rows of `models` (new, changed
    or deleted): what a query over their tables must see, without a flush
    for the session's other pending rows."""
    if models and any(
        isinstance(row, models)
        for rows in (session.new, session.dirty, session.deleted)
        for row in rows
    ):
        session.flush()


_Row = TypeVar("_Row")


@dataclass(frozen=True)
class _Written:
    """How add_written writes rows of one model, worked out once."""

    insert: Insert
    # (attribute, default, whether the default is a callable to call)
    defaults: tuple[tuple[str, Any, bool], ...]
    columns: tuple[str, ...]
    primary_key: tuple[str, ...]


_WRITTEN: dict[type, _Written] = {}
_UNLESS_TAKEN: dict[tuple[type, str, str], Any] = {}


def _written(model: type) -> _Written:
    mapper: Mapper[Any] = inspect(model)
    defaults = []
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        default = column.default
        if column.primary_key or default is None and column.server_default is None:
            continue
        if isinstance(default, ScalarElementColumnDefault):
            defaults.append((prop.key, default.arg, False))
        elif isinstance(default, CallableColumnDefault):
            defaults.append((prop.key, default.arg, True))
        else:
            # Its value would be known only by reading the row back.
            raise TypeError(f"{model.__name__}.{prop.key}: a default not known")
    return _Written(
        insert(model),
        tuple(defaults),
        tuple(prop.key for prop in mapper.column_attrs),
        tuple(p.key for p in mapper.column_attrs if p.columns[0].primary_key),
    )


def add_written(session: Session, model: type[_Row], **values: Any) -> _Row:
    """Write one new row of `model` by a Core INSERT in `session`'s
    transaction, and put it in `session` as loaded: the row the ORM would
    write, without the unit of work's flush (twice the statement's cost,
    bench/ingest.py) and without reading the row back.

    The columns with a default and no value get it; those without either
    are NULL, left out of the INSERT as the ORM leaves a JSON column (whose
    None would be JSON null), and None on the object: every attribute is
    loaded, none read back by a query.
    """
    form, row = _row_of(model, values)
    written = session.connection().execute(form.insert, row).inserted_primary_key
    assert written is not None
    return _loaded(session, model, form, row, tuple(written))


def upsert_insert(dialect: str):  # type: ignore[no-untyped-def]
    """The INSERT of `dialect` ("postgresql" or "sqlite") that takes ON
    CONFLICT clauses: both engines have them, in their own module."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def add_written_unless_taken(
    session: Session, model: type[_Row], unique: str, **values: Any
) -> _Row | None:
    """add_written, unless a row holds the same value of the unique column
    `unique`, committed or being written by another transaction (whose end
    the INSERT waits for on PostgreSQL; SQLite writes one transaction at a
    time): None then, nothing written, and the transaction still usable
    without a savepoint (two statements of every delivery)."""
    form, row = _row_of(model, values)
    connection = session.connection()
    dialect = connection.dialect.name
    statement = _UNLESS_TAKEN.get((model, unique, dialect))
    if statement is None:
        table = model.__table__  # type: ignore[attr-defined]
        statement = _UNLESS_TAKEN[model, unique, dialect] = (
            upsert_insert(dialect)(table)
            .on_conflict_do_nothing(index_elements=[unique])
            .returning(*(table.c[key] for key in form.primary_key))
        )
    written = connection.execute(statement, row).first()
    if written is None:
        return None
    return _loaded(session, model, form, row, tuple(written))


def _row_of(model: type, values: dict[str, Any]) -> tuple[_Written, dict[str, Any]]:
    form = _WRITTEN.get(model)
    if form is None:
        form = _WRITTEN[model] = _written(model)
    row: dict[str, Any] = {}
    for key, default, call in form.defaults:
        if key not in values:
            # The models' callables take no context (`list`): SQLAlchemy
            # wraps them in one that ignores it.
            row[key] = default(None) if call else default
    row.update(values)
    return form, row


def _loaded(
    session: Session,
    model: type[_Row],
    form: _Written,
    row: dict[str, Any],
    written: tuple[Any, ...],
) -> _Row:
    loaded: dict[str, Any] = dict.fromkeys(form.columns)
    loaded.update(row)
    loaded.update(zip(form.primary_key, written, strict=True))
    instance = model(**loaded)
    # Persistent without a query (what it is not given it would expire).
    make_transient_to_detached(instance)
    session.add(instance)
    return instance


def migrations_location() -> str:
    """The migration scripts: inside the installed package, else the checkout's.

    `pip install .` ships them as mailbot.migrations. Run from a source tree
    (`python -m mailbot` or the tests at the repository's root, where the
    tree's own mailbot/ comes first on sys.path), they are the top-level
    migrations/ folder beside it.
    """
    try:
        return str(resources.files("mailbot.migrations"))
    except ModuleNotFoundError:
        return str(Path(__file__).resolve().parents[2] / "migrations")


def alembic_config(url: str) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", migrations_location())
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(
    url: str, revision: str = "head", timeout: float | None = ANSWER_TIMEOUT
) -> None:
    """Apply pending migrations.

    Migrations run on a connection without SQLite's foreign keys: a batch
    migration of a parent table would otherwise cascade-delete its children.
    The keys are checked afterwards instead. A migration's statements have
    no `timeout`: one may rewrite a large table.
    """
    engine = make_engine(url, foreign_keys=False, timeout=timeout)
    try:
        if revision == "head" and _at_head(engine):
            return
        from alembic import command
        from alembic.util import CommandError

        with engine.begin() as connection:
            if engine.dialect.name != "sqlite":
                from mailbot.db import silence

                silence.unbounded(connection)
            _wait_for_other_migrations(connection)
            config = alembic_config(url)
            config.attributes["connection"] = connection
            try:
                command.upgrade(config, revision)
            except CommandError as exc:
                newer = _unknown_revision(connection)
                if newer is None:
                    raise
                raise newer from exc
        if engine.dialect.name == "sqlite":
            _check_foreign_keys(engine)
    finally:
        engine.dispose()


def _wait_for_other_migrations(connection: Connection) -> None:
    """On PostgreSQL, wait until no other process migrates the database.

    Two mailbots started together on a new database (the pair of README's
    "Two instances", or `run` beside a health check) both created the same
    tables, and all but one died on a duplicate key in pg_type. The lock is
    the transaction's: it is released when the migrations commit, and
    Alembic, which reads the revision after it, finds them done. SQLite's
    BEGIN IMMEDIATE already lets one writer in at a time.
    """
    if connection.dialect.name != "postgresql":
        return
    key = {"key": MIGRATION_LOCK}
    taken = text("SELECT pg_try_advisory_xact_lock(:key)")
    if not connection.execute(taken, key).scalar():
        log.info("database: waiting for another process's migrations")
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), key)


def _unknown_revision(connection: Connection) -> Exception | None:
    """The error to show when the database carries a migration this mailbot
    does not have (a newer mailbot ran on it, then this one came back), or
    None when that is not why Alembic failed."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from mailbot.errors import MailbotError

    found = connection.execute(text("SELECT version_num FROM alembic_version"))
    scripts = ScriptDirectory(migrations_location())
    for version in found.scalars():
        try:
            scripts.get_revision(version)
        except CommandError:
            return MailbotError(
                f"the database is at migration {version}, which this mailbot "
                f"(newest migration {HEAD}) does not know: a newer mailbot "
                "migrated it. Run that newer version, or restore the database "
                "backup taken before the upgrade"
            )
    return None


def _check_foreign_keys(engine: Engine) -> None:
    with engine.connect() as connection:
        broken = connection.execute(text("PRAGMA foreign_key_check")).fetchall()
    if broken:
        raise RuntimeError(f"migration left broken foreign keys: {broken[:5]}")


def at_head(url: str) -> bool:
    """Whether the database carries exactly the newest migration."""
    engine = make_engine(url)
    try:
        return _at_head(engine)
    finally:
        engine.dispose()


def _at_head(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            versions = connection.execute(
                text("SELECT version_num FROM alembic_version")
            ).scalars()
            return list(versions) == [HEAD]
    except (OperationalError, ProgrammingError):
        return False  # a new database: no alembic_version table yet


def current_revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            from alembic.runtime.migration import MigrationContext

            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
