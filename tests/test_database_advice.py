"""What a database that refuses mailbot's writes tells the operator to
check: the URL by where it was set (MAILBOT_DATABASE_URL when a variable
set it, not the file's [database] url, which is not the URL in use then).
"""

from __future__ import annotations

import secrets
from pathlib import Path

import opsenv
import pytest
import sqlalchemy
from mailbot_env import make_app
from servers import _admin_engine, database_server, fresh_database

from mailbot.config import load_settings
from mailbot.db.faults import describe

REPORT = (
    b"From: reporter@example.net\r\nTo: abuse@csirt.example.org\r\n"
    b"Subject: scanning from 192.0.2.7\r\nMessage-ID: <advice-1@example.net>\r\n"
    b"Date: Sun, 06 Dec 2026 08:00:00 +0000\r\n\r\nPort scans from 192.0.2.7.\r\n"
)


def _poll(tmp_path: Path, url: str, used: str, where: str = "variable") -> list[str]:
    """`poll` of one mail with the database URL `used` set by
    MAILBOT_DATABASE_URL (or, `where` "file", by the configuration file),
    the database made at `url`: its exit status 1 and its stderr's lines."""
    app = make_app(tmp_path, url)
    env = opsenv.cli_env(app, MAILBOT_DATABASE_URL=used)
    inbox = app.settings.path(app.settings.maildir.path) / "new"
    app.close()
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "1.eml").write_bytes(REPORT)
    options: list[str] = []
    if where == "file":
        config = tmp_path / "url.toml"
        config.write_text(f"[database]\nurl = '{env.pop('MAILBOT_DATABASE_URL')}'\n")
        options = ["--config", str(config)]
    done = opsenv.run_cli(env, *options, "poll")
    assert done.returncode == 1, (done.stdout, done.stderr)
    return done.stderr.strip().splitlines()


def test_a_read_only_sqlite_file_names_the_variable(tmp_path: Path) -> None:
    """SQLite opened read-only said only "attempt to write a readonly
    database" once running (the advice came only at start-up)."""
    path = tmp_path / "mailbot.db"
    said = _poll(
        tmp_path, f"sqlite:///{path}", f"sqlite:///file:{path}?mode=ro&uri=true"
    )
    assert len(said) == 1, said
    assert "readonly database" in said[0], said
    assert "cannot be written" in said[0], said
    assert "check them, then MAILBOT_DATABASE_URL's path" in said[0], said
    assert "[database] url" not in said[0]


def _read_only(admin: sqlalchemy.Engine, name: str, on: bool) -> None:
    value = "SET default_transaction_read_only = on" if on else "RESET "
    if not on:
        value += "default_transaction_read_only"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'ALTER DATABASE "{name}" {value}')


def test_a_read_only_postgresql_names_the_variable(tmp_path: Path) -> None:
    """A read-only PostgreSQL (a standby) was told "check that [database]
    url points at the primary" though the variable set the URL."""
    server = database_server("postgresql")
    admin = _admin_engine(server)
    try:
        with fresh_database(server) as url:
            name = sqlalchemy.engine.make_url(url).database
            assert name
            make_app(tmp_path, url).close()
            _read_only(admin, name, on=True)
            try:
                said = _poll(tmp_path, url, url)
            finally:
                _read_only(admin, name, on=False)
    finally:
        admin.dispose()
    assert len(said) == 1, said
    assert "read-only transaction" in said[0], said
    assert "check that MAILBOT_DATABASE_URL points at the primary" in said[0]


def _poll_as_reader(tmp_path: Path, where: str, password: str) -> tuple[str, str]:
    """`poll` as a role that may only read mailbot's tables, its URL (with
    `password`) set by MAILBOT_DATABASE_URL or in the configuration file
    (`where`): the role's name and the one line poll printed."""
    server = database_server("postgresql")
    role = f"mailbot_test_{secrets.token_hex(4)}"
    admin = _admin_engine(server)
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
    try:
        with fresh_database(server) as url:
            app = make_app(tmp_path, url)
            with app.db.engine.begin() as connection:
                connection.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {role}")
                connection.exec_driver_sql(
                    f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"
                )
            app.close()
            as_role = sqlalchemy.engine.make_url(url).set(
                username=role, password=password
            )
            said = _poll(
                tmp_path, url, as_role.render_as_string(hide_password=False), where
            )
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        admin.dispose()
    assert len(said) == 1, said
    return role, said[0]


@pytest.mark.parametrize(
    ("where", "named"),
    [("variable", "MAILBOT_DATABASE_URL"), ("file", "[database] url")],
)
def test_a_role_without_write_rights_is_told_what_to_grant(
    tmp_path: Path, where: str, named: str
) -> None:
    """A role that may read mailbot's tables but not write them printed
    "database: ProgrammingError: permission denied for table mail" and
    nothing on what to do; then "the role in MAILBOT_DATABASE_URL", which
    the operator had to read out of the URL to grant it anything."""
    password = f"pw-{secrets.token_hex(6)}"
    role, said = _poll_as_reader(tmp_path, where, password)
    assert "permission denied for table" in said, said
    assert f"the role {role} ({named}) lacks rights on mailbot's tables" in said
    assert f"grant {role} SELECT, INSERT, UPDATE, DELETE" in said
    assert password not in said


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({}, "[database] url"),
        ({"MAILBOT_DATABASE_URL": "sqlite:///x.db"}, "MAILBOT_DATABASE_URL"),
    ],
)
def test_the_url_is_named_where_it_was_set(
    tmp_path: Path, environ: dict[str, str], named: str
) -> None:
    config = tmp_path / "mailbot.toml"
    config.write_text(
        "[mailbot]\naddress = 'abuse@example.org'\n"
        "[database]\nurl = 'sqlite:///y.db'\n"
        "[source]\nkind = 'maildir'\n[smtp]\nkind = 'maildir'\n",
        encoding="utf-8",
    )
    settings = load_settings(config, environ, servers=False)
    assert settings.named("database", "url") == named
    path = tmp_path / "ro.db"
    sqlalchemy.create_engine(f"sqlite:///{path}").connect().close()
    engine = sqlalchemy.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        with (
            pytest.raises(sqlalchemy.exc.OperationalError) as refused,
            engine.begin() as connection,
        ):
            connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    finally:
        engine.dispose()
    assert describe(refused.value, named).endswith(f"then {named}'s path")
