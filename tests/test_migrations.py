"""The migrations build exactly the schema the models describe, on both engines."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from mailbot.db.engine import HEAD, current_revision, make_engine, upgrade
from mailbot.db.models import Base


def test_migrations_match_models(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True}
            )
            differences = compare_metadata(context, Base.metadata)
        assert differences == []
        assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)
    finally:
        engine.dispose()


def test_upgrade_is_idempotent(database_url: str) -> None:
    upgrade(database_url)
    first = current_revision(database_url)
    upgrade(database_url)
    assert current_revision(database_url) == first is not None


def test_head_is_alembic_s_head(database_url: str) -> None:
    # engine.HEAD lets a database at the newest revision skip Alembic at
    # start-up: it must name the newest migration script.
    from alembic.script import ScriptDirectory

    from mailbot.db import engine as db_engine

    script = ScriptDirectory.from_config(db_engine.alembic_config(database_url))
    assert script.get_heads() == [db_engine.HEAD]
    assert not db_engine.at_head(database_url)  # nothing there yet
    upgrade(database_url)
    assert db_engine.at_head(database_url)
    assert current_revision(database_url) == db_engine.HEAD


def test_an_outgoing_mail_has_one_outbox_row(tmp_path, database_url: str) -> None:  # type: ignore[no-untyped-def]
    # A second row for the same mail would deliver it twice: the database
    # refuses it, whatever code path would try.
    import datetime as dt

    import pytest
    from mailbot_env import make_app
    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    from mailbot.db.models import Outbox
    from mailbot.mail import RawMail
    from mailbot.process import process_delivery

    app = make_app(tmp_path, database_url)
    try:
        report = (
            b"From: cert@cert.example.net\r\nTo: abuse@egi.example\r\n"
            b"Subject: Scans from 203.0.113.9\r\nMessage-ID: <one-row@x>\r\n"
            b"Date: Fri, 04 Dec 2026 10:00:00 +0000\r\n\r\nScans.\r\n"
        )
        process_delivery(app, RawMail(report, app.clock.now(), "t1"))
        with app.db.transaction() as session:
            row = session.scalars(select(Outbox)).one()
            now = dt.datetime.now(dt.UTC)
            fields = dict(envelope_from="a@b", recipients=["x@y"], purpose="again")
            times = dict(queued_at=now, next_try_at=now)
            session.add(Outbox(mail_id=row.mail_id, **fields, **times))
            with pytest.raises(IntegrityError):
                session.flush()
            session.rollback()
    finally:
        app.close()


def test_a_database_of_a_newer_mailbot_is_named_as_such(
    tmp_path, database_url: str, capsys
) -> None:  # type: ignore[no-untyped-def]
    """After rolling mailbot back a release, every command ended in Alembic's
    "Can't locate revision identified by '0006'" and a hint to debug."""
    import pytest
    from sqlalchemy import text

    from mailbot.cli import main
    from mailbot.errors import MailbotError

    upgrade(database_url)
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    with pytest.raises(MailbotError, match="at migration 0099, which this mailbot"):
        upgrade(database_url)
    config = _config_for(tmp_path, database_url)
    assert main(["--config", str(config), "incidents"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "restore the database backup" in err[0], err


# A process that migrates a database once the test says go: its imports are
# done first, so that the processes of a round start their migrations at once.
_MIGRATING = """
import sys
import alembic.command, alembic.script
from mailbot.db.engine import upgrade
print("ready", flush=True)
sys.stdin.readline()
upgrade(sys.argv[1])
"""


def test_processes_started_together_all_migrate(database_url: str) -> None:
    """Two mailbots started at once on a new PostgreSQL database (the pair
    of README's "Two instances") both created the tables, and all but one
    died on a duplicate key in pg_type."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    for _ in range(3):
        _empty(database_url)
        children = [
            subprocess.Popen(
                [sys.executable, "-c", _MIGRATING, database_url],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(4)
        ]
        for child in children:
            assert child.stdout is not None and child.stdout.readline() == "ready\n"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        said = [child.communicate(timeout=120)[0] for child in children]
        assert [child.returncode for child in children] == [0] * 4, said
        assert current_revision(database_url) == HEAD


def _empty(url: str) -> None:
    """Make the database at `url` new again: no tables, no revision."""
    from pathlib import Path

    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{parsed.database}{suffix}").unlink(missing_ok=True)
        return
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def test_a_role_that_may_not_create_the_tables_is_told_what_to_grant(
    tmp_path, database_server_url, capsys
) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL 15 lets only the database's owner create in schema public:
    `db upgrade` as another role printed "ProgrammingError: permission
    denied for schema public" and nothing on what to do."""
    import secrets

    from servers import _admin_engine, _local_postgres, fresh_database
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from mailbot.cli import main

    server = database_server_url or _local_postgres()
    role = f"mailbot_test_{secrets.token_hex(4)}"
    admin = _admin_engine(server)
    with admin.connect() as connection:
        connection.execute(text(f"CREATE ROLE {role} LOGIN"))
    try:
        with fresh_database(server) as url:
            engine = make_engine(url)
            with engine.begin() as connection:
                # What PostgreSQL 15 does by itself, on older servers too.
                connection.execute(text("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
            engine.dispose()
            as_role = make_url(url).set(username=role, password=None)
            config = _config_for(
                tmp_path, as_role.render_as_string(hide_password=False)
            )
            assert main(["--config", str(config), "db", "upgrade"]) == 2
            err = capsys.readouterr().err.strip()
            assert err.startswith("mailbot: configuration error: database.url:")
            assert "permission denied for schema public" in err
            assert "as the database's owner" in err
            assert f"GRANT CREATE ON SCHEMA public TO {role};" in err
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()


def _config_for(folder, url: str):  # type: ignore[no-untyped-def]
    """A mailbot.toml in `folder` for the database at `url`."""
    config = folder / "mailbot.toml"
    (folder / "sites.toml").write_text("", encoding="utf-8")
    config.write_text(
        "[mailbot]\naddress = 'abuse@example.org'\n"
        f"[database]\nurl = '{url}'\n"
        "[source]\nkind = 'maildir'\n[smtp]\nkind = 'maildir'\n",
        encoding="utf-8",
    )
    return config
