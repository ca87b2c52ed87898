"""The migrations build exactly the schema the models describe, on both engines."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from mailbot.db.engine import current_revision, make_engine, upgrade
from mailbot.db.models import Base


def test_migrations_match_models(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
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
