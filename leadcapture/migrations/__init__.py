"""Running the Alembic migrations shipped in leadcapture/migrations."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from leadcapture.db import Database

MIGRATIONS = Path(__file__).parent


def alembic_config(url: str) -> Config:
    """An Alembic Config for the given database URL, without an alembic.ini."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to the given revision (head by default)."""
    cfg = alembic_config(db.url)
    with db.engine.connect() as connection:
        cfg.attributes["connection"] = connection
        sqlite = connection.dialect.name == "sqlite"
        # A batch migration rebuilds a SQLite table: dropping the old one with foreign keys on
        # would cascade to every row that references it. The pragma only takes effect outside a
        # transaction, so it is set on the driver's connection before the migration's begins.
        if sqlite:
            _sqlite_foreign_keys(connection, on=False)
        try:
            command.upgrade(cfg, revision)
            if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                raise RuntimeError("the migration left rows whose foreign key names no row")
            connection.commit()
        finally:
            if sqlite:
                connection.rollback()  # nothing left after the commit; ends the transaction either way
                _sqlite_foreign_keys(connection, on=True)


def _sqlite_foreign_keys(connection: Connection, *, on: bool) -> None:
    connection.connection.driver_connection.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
