"""`leadcapture db upgrade` from an empty database to head, on PostgreSQL and on SQLite."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect

from leadcapture.models import Base
from tests.support.pg import create_database, drop_database, sqlalchemy_url

from .services import PG_SERVER, leadcapture, stack_env


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_database(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    request.getfixturevalue("pg_templates")  # skips (or fails in CI) when PostgreSQL is away
    name = create_database(PG_SERVER, "lc_issue3_empty")
    yield sqlalchemy_url(PG_SERVER, name)
    drop_database(PG_SERVER, name)


def test_upgrade_from_empty_to_head_matches_the_models(empty_database, tmp_path):
    env = stack_env(tmp_path, empty_database, "", "")
    result = leadcapture(env, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    again = leadcapture(env, "db", "upgrade")  # idempotent: a second deploy step changes nothing
    assert again.returncode == 0, again.stderr
    engine = create_engine(empty_database)
    try:
        inspector = inspect(engine)
        tables = set(inspector.get_table_names())
        assert set(Base.metadata.tables) <= tables and "alembic_version" in tables
        for table in Base.metadata.sorted_tables:
            columns = {c["name"] for c in inspector.get_columns(table.name)}
            assert {c.name for c in table.columns} == columns, table.name
        with engine.connect() as conn:
            from alembic.migration import MigrationContext
            from alembic.script import ScriptDirectory

            from leadcapture.migrations import alembic_config

            heads = ScriptDirectory.from_config(alembic_config(empty_database)).get_heads()
            assert MigrationContext.configure(conn).get_current_heads() == tuple(heads)
    finally:
        engine.dispose()


def test_a_database_that_cannot_be_reached_is_one_clear_line(tmp_path):
    env = stack_env(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:9/none", "", "")
    result = leadcapture(env, "db", "upgrade")
    assert result.returncode == 1 and "migration failed" in result.stderr
    assert "Traceback" not in result.stderr
