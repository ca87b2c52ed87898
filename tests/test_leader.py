"""The leader lock: one holder at a time, freed when its holder dies.

Run on SQLite (a lock file beside the database) and, with
pytest --database postgresql, on PostgreSQL (an advisory lock on a
dedicated connection).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy
from mailbot_env import make_app
from sqlalchemy.pool import NullPool

from mailbot import leader
from mailbot.settings import Settings

HOLDER = """
import sys, time
from mailbot.config import load_settings
from mailbot import leader
from pathlib import Path
lock = leader.for_settings(load_settings(Path(sys.argv[1]), {}))
assert lock.try_acquire()
print("held", flush=True)
time.sleep(120)
"""


def settings_of(tmp_path: Path, database_url: str) -> Settings:
    app = make_app(tmp_path, database_url)
    app.close()
    return app.settings


def test_one_holder_at_a_time(tmp_path: Path, database_url: str) -> None:
    settings = settings_of(tmp_path, database_url)
    first, second = leader.for_settings(settings), leader.for_settings(settings)
    try:
        assert first.try_acquire()
        assert first.held()
        assert not second.try_acquire()
        assert second.contended  # held by another, not unreachable
        assert not second.held()
        # Asking again while holding it changes nothing.
        assert first.try_acquire()
        first.release()
        assert not first.held()
        assert second.try_acquire()
        assert not first.try_acquire()
    finally:
        first.release()
        second.release()


def test_the_lock_is_about_one_mailbox(tmp_path: Path, database_url: str) -> None:
    settings = settings_of(tmp_path, database_url)
    assert leader.lock_key("imap://a@h:993/INBOX") == leader.lock_key(
        "imap://a@h:993/INBOX"
    )
    assert leader.lock_key("imap://a@h:993/INBOX") != leader.lock_key(
        "imap://b@h:993/INBOX"
    )
    # One mailbox however its case-insensitive parts are spelled.
    imap = settings.imap
    spellings = {
        leader.intake_name(
            dataclasses.replace(
                settings,
                source=dataclasses.replace(settings.source, kind="imap"),
                imap=dataclasses.replace(imap, host=host, folder=folder),
            )
        )
        for host, folder in (
            ("imap.example.org", "INBOX"),
            ("IMAP.Example.ORG", "inbox"),
            ("imap.example.org.", "Inbox"),
        )
    }
    assert len(spellings) == 1, spellings
    if database_url.startswith("sqlite"):
        lock = leader.for_settings(settings)
        assert isinstance(lock, leader.FileLeader)
        assert lock.path.name == "mailbot.db.leader"
    else:
        assert isinstance(leader.for_settings(settings), leader.PostgresLeader)


def test_a_killed_holder_frees_the_lock(tmp_path: Path, database_url: str) -> None:
    settings = settings_of(tmp_path, database_url)
    config = tmp_path / "mailbot.toml"
    config.write_text(
        f'[mailbot]\naddress = "abuse@csirt.example.org"\n'
        f'[database]\nurl = "{database_url}"\n'
        f'[source]\nkind = "maildir"\n[maildir]\npath = "{tmp_path / "inbox"}"\n'
        f'[smtp]\nkind = "maildir"\npath = "{tmp_path / "sent"}"\n'
        f'[sites]\nfile = "{tmp_path / "sites.toml"}"\n',
        encoding="utf-8",
    )
    assert leader.intake_name(settings).startswith("maildir:")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(config)], stdout=subprocess.PIPE
    )
    lock = leader.for_settings(settings)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"held"
        assert not lock.try_acquire()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        deadline = time.monotonic() + 10
        while not lock.try_acquire():
            assert time.monotonic() < deadline, "the lock outlived its holder"
            time.sleep(0.1)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
        lock.release()


def test_a_lost_connection_is_a_lost_lock(tmp_path: Path, database_url: str) -> None:
    """On PostgreSQL the lock dies with its session: held() must notice."""
    settings = settings_of(tmp_path, database_url)
    lock, other = leader.for_settings(settings), leader.for_settings(settings)
    try:
        assert lock.try_acquire()
        if database_url.startswith("sqlite"):
            # A lock file cannot be lost while its process lives.
            assert lock.held()
            return
        assert isinstance(lock, leader.PostgresLeader)
        engine = sqlalchemy.create_engine(database_url, poolclass=NullPool)
        key = lock.key & 0xFFFF_FFFF_FFFF_FFFF
        with engine.connect() as connection:
            # Only this test's database and key: other sessions stay alone.
            connection.execute(
                sqlalchemy.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks"
                    " WHERE locktype = 'advisory' AND classid = :high"
                    " AND objid = :low AND database = (SELECT oid FROM"
                    " pg_database WHERE datname = current_database())"
                ),
                {"high": key >> 32, "low": key & 0xFFFF_FFFF},
            )
            connection.commit()
        engine.dispose()
        assert not lock.held()
        assert other.try_acquire()
        assert not lock.try_acquire()
    finally:
        lock.release()
        other.release()


def test_a_lock_that_cannot_be_asked_for_is_not_called_held_elsewhere(
    tmp_path: Path, caplog
) -> None:  # type: ignore[no-untyped-def]
    """A daemon that could not reach PostgreSQL to take the lock logged
    "held by another mailbot: standing by" (fix9d): the lock says whether
    another holds it, and the daemon says so only then."""
    from servers import free_port

    from mailbot.daemon import Daemon

    url = f"postgresql+psycopg://mailbot@127.0.0.1:{free_port()}/nowhere"
    lock = leader.PostgresLeader(url, "imap://abuse@mx/INBOX")
    try:
        assert not lock.try_acquire()
        assert not lock.contended
    finally:
        lock.release()
    app = make_app(tmp_path, "sqlite://")
    daemon = Daemon(app)
    daemon.leader = leader.PostgresLeader(url, "imap://abuse@mx/INBOX")
    try:
        assert not daemon._lead()
        assert "held by another mailbot" not in caplog.text
        assert "cannot connect to take it" in caplog.text
    finally:
        daemon.leader.release()
        app.close()
