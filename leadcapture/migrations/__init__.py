"""Running the Alembic migrations shipped in leadcapture/migrations."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

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
        command.upgrade(cfg, revision)
        connection.commit()
