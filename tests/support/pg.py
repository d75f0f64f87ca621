"""Throw-away PostgreSQL databases for tests: one migrated template, cheap copies of it."""

from __future__ import annotations

import uuid

import psycopg
from psycopg import sql

from leadcapture.db import Database
from leadcapture.migrations import upgrade


def admin_url(server: str) -> str:
    """The libpq URL of the maintenance database on a server given as postgresql[+psycopg]://..."""
    return server.replace("postgresql+psycopg://", "postgresql://", 1)


def sqlalchemy_url(server: str, name: str) -> str:
    """The SQLAlchemy URL of database name on server."""
    base = admin_url(server).rsplit("/", 1)[0]
    return f"postgresql+psycopg://{base.removeprefix('postgresql://')}/{name}"


def create_database(server: str, prefix: str = "lc_issue3", template: str | None = None) -> str:
    """Create a fresh, uniquely named database and return its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
    with psycopg.connect(admin_url(server), autocommit=True, connect_timeout=5) as conn:
        conn.execute(query)
    return name


def drop_database(server: str, name: str) -> None:
    """Drop a database, closing whatever still uses it."""
    with psycopg.connect(admin_url(server), autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class TemplateDatabases:
    """A database migrated to head once; copy() makes a fresh one from it per test."""

    def __init__(self, server: str, prefix: str = "lc_issue3"):
        self.server, self.prefix = server, prefix
        self.template = create_database(server, f"{prefix}_tpl")
        db = Database(sqlalchemy_url(server, self.template))
        upgrade(db)
        db.dispose()
        self.created: list[str] = []

    def copy(self) -> str:
        """The URL of a new database with the migrated schema."""
        name = create_database(self.server, self.prefix, template=self.template)
        self.created.append(name)
        return sqlalchemy_url(self.server, name)

    def drop_all(self) -> None:
        """Drop every copy and the template."""
        for name in [*self.created, self.template]:
            drop_database(self.server, name)
