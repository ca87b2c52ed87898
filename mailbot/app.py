"""The running application: settings, database, sites, clock and templates.

Commands build one App and hand it to the stages; nothing else is global.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
from sqlalchemy.exc import DBAPIError

from mailbot import render
from mailbot.brake import HeldMail
from mailbot.clock import Clock
from mailbot.db.engine import Database
from mailbot.db.faults import (
    INSUFFICIENT_PRIVILEGE,
    READ_ONLY,
    first_line,
    misconfigured,
    read_only_advice,
    sqlstate,
    unavailable,
    unwritable_file_advice,
)
from mailbot.deadlines import (
    ChasePolicy,
    Rule,
    WorkingCalendar,
    chase_policy_from_config,
    rules_from_config,
)
from mailbot.errors import ConfigError, MailbotError
from mailbot.outage import Outages
from mailbot.settings import Settings
from mailbot.sites import Directory, check_not_own, load_directory

if TYPE_CHECKING:
    from mailbot.ahead import ReadAhead

log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings
    clock: Clock = field(default_factory=Clock)
    directory: Directory | None = None
    # --backfill: record everything, send nothing.
    backfill: bool = False
    _calendars: dict[str | None, WorkingCalendar] = field(default_factory=dict)
    # Servers down right now, so that each outage is logged once (outage.py).
    outages: Outages = field(default_factory=Outages)
    # Mail the caps held, logged as one line per pass (brake.py).
    held: HeldMail = field(default_factory=HeldMail)
    # Held while this process delivers the outbox (send.deliver_due): one
    # mail at a time in a process. The daemon's courier thread is its only
    # sender; the lock keeps any other caller from sending a second meanwhile.
    sending: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.directory is None:
            self.directory = self._load_directory()
        self.outages.on_login_refused = self._login_refused

    def _login_refused(self, resource: str, problem: str) -> None:
        if resource == "mailbox":
            from mailbot import service

            service.note_imap_login_refused(self, problem)

    def _load_directory(self) -> Directory:
        path = self.settings.path(self.settings.sites.file)
        if not _exists(path) and "file" not in self.settings.raw.get("sites", {}):
            log.warning("sites file %s not found; no site is known", path)
            return Directory()
        directory = load_directory(path)
        check_not_own(directory, self.settings.own_addresses)
        return directory

    @property
    def sites(self) -> Directory:
        assert self.directory is not None
        return self.directory

    @cached_property
    def db(self) -> Database:
        settings = self.settings
        return Database(
            settings.database.url,
            settings.database.timeout,
            named=settings.named("database", "url"),
        )

    @cached_property
    def rules(self) -> tuple[Rule, ...]:
        return rules_from_config(
            self.settings.raw.get("rules"), self.settings.environment.get("rules", ())
        )

    @cached_property
    def chase_policy(self) -> ChasePolicy:
        return chase_policy_from_config(
            self.settings.raw.get("chase"), self.settings.environment.get("chase", ())
        )

    def calendar(self, site_name: str | None) -> WorkingCalendar:
        """The working calendar of a site; the CSIRT's zone when unknown."""
        cached = self._calendars.get(site_name)
        if cached is None:
            site = self.sites.site(site_name)
            cached = (
                WorkingCalendar.for_site(site)
                if site is not None
                else WorkingCalendar(timezone=self.settings.mailbot.timezone)
            )
            self._calendars[site_name] = cached
        return cached

    @cached_property
    def templates(self) -> jinja2.Environment:
        override = self.settings.templates.directory
        if not override:
            return render.environment(None)
        env = render.environment(self.settings.path(override))
        # A template that compiles may still fail on every mail it renders.
        from mailbot import template_check

        template_check.check(
            env, self.rules, self.chase_policy.levels, self.settings.mailbot.address
        )
        return env

    @cached_property
    def read_ahead(self) -> ReadAhead | None:
        """Workers reading fetched mail ahead of the database work, if any."""
        from mailbot.ahead import ReadAhead, workers_for

        workers = workers_for(self.settings.intake.workers)
        return ReadAhead(self, workers) if workers > 0 else None

    def close(self) -> None:
        self.held.report()
        ahead = self.__dict__.get("read_ahead")
        if ahead is not None:
            ahead.close()
        if "db" in self.__dict__:
            self.db.dispose()


class DatabaseUnusable(MailbotError):
    """The database could not be opened or migrated at start-up.

    `outage` when it may pass by itself (a server down or starting, a file
    locked, a full disk): `mailbot run` waits for it.
    """

    def __init__(self, message: str, *, outage: bool = False) -> None:
        super().__init__(message)
        self.outage = outage


class DatabaseRefused(ConfigError, DatabaseUnusable):
    """The database refused mailbot for what its URL says (no such database
    or role, a password refused): a configuration error, no retry helps."""


def _advice(said: str, url: str = "[database] url") -> str:
    """What to look at, by what the driver said: the URL is not always it."""
    if "database is locked" in said:
        return (
            "another process held it locked for longer than the wait (another"
            " mailbot, a sqlite3 shell in a transaction, a backup): try again"
            " when it is done"
        )
    if "unable to open database file" in said or "readonly" in said:
        return unwritable_file_advice(url)
    if "disk is full" in said or "No space left" in said:
        return "the disk is full: free space"
    return f"check {url} (host, user, password, path) and that the server is running"


def open_app(settings: Settings, clock: Clock | None = None, **kwargs: object) -> App:
    """An App with the database migrated, as every database command needs."""
    app = App(settings=settings, clock=clock or Clock(), **kwargs)  # type: ignore[arg-type]
    # Parse the clocks' configuration and compile the templates now, so a
    # bad key or template fails at start-up.
    _ = app.rules, app.chase_policy, app.templates
    for site in app.sites.sites:
        app.calendar(site.name)
    try:
        app.db.upgrade()
    except DBAPIError as exc:
        app.close()
        error = _database_error(app, exc)
        if error is exc:
            raise
        raise error from exc
    return app


def _database_error(app: App, exc: DBAPIError) -> Exception:
    """What a database that cannot be used at start-up means: a configuration
    error (exit 2 at once), an outage (`run` waits for it), or neither."""
    said = first_line(exc)
    key, url = _url_named(app.settings)
    if misconfigured(exc):
        return DatabaseRefused(
            key,
            f"the database refused mailbot ({said}): check {url}"
            " (user, password, database name)",
        )
    if sqlstate(exc) == INSUFFICIENT_PRIVILEGE:
        role = app.db.engine.url.username or "the URL's role"
        return DatabaseRefused(
            key,
            f"the database refused the migrations ({said}): "
            + _privilege_advice(said, role),
        )
    if unavailable(exc):
        advice = read_only_advice(url) if sqlstate(exc) == READ_ONLY else None
        return DatabaseUnusable(
            f"{key}: cannot use the database ({said}); "
            + (advice or _advice(said, url)),
            outage=True,
        )
    if getattr(exc.orig, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB:
        # SQLite opens any file; its first statement finds it is no database.
        return ConfigError(
            key,
            f"{app.db.engine.url.database} is no SQLite database ({said}):"
            f" point {key} at mailbot's database, or at a new file",
        )
    return exc


def _privilege_advice(said: str, role: str) -> str:
    """What to do when the role may not migrate the schema: on PostgreSQL 15
    and later only the database's owner may create in schema public."""
    advice = "run `mailbot db upgrade` once as the database's owner"
    schema = re.search(r"for schema (\S+)", said)
    if schema is None:
        # The tables are another role's (the owner migrated them before).
        return f"{advice} (the role that owns mailbot's tables)"
    name = schema.group(1)
    return (
        f"{advice}, or grant the role {role} CREATE on the schema:"
        f" GRANT CREATE ON SCHEMA {name} TO {role};"
    )


def _url_named(settings: Settings) -> tuple[str, str]:
    """The database URL's name in an error, and where to check it: the
    variable when one set it (a file's [database] url is not the one in
    use then), else the file's key."""
    where = settings.named("database", "url")
    return ("database.url" if where.startswith("[") else where), where


def _exists(path: Path) -> bool:
    """Whether `path` exists; True when that cannot be told (a folder on the
    way the user may not search), so that reading it says why."""
    try:
        return path.exists()
    except OSError:
        return True
