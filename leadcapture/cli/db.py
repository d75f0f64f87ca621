"""`leadcapture db`: the database schema."""

from __future__ import annotations

import click

from leadcapture.cli.context import Runtime
from leadcapture.migrations import upgrade


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@click.pass_obj
def db_upgrade(runtime: Runtime, revision: str) -> None:
    """Apply the Alembic migrations."""
    services = runtime.services
    try:
        upgrade(services.db, revision)
    except Exception as exc:  # noqa: BLE001  (any driver error: say it in one line)
        raise click.ClickException(f"migration failed: {exc}") from exc
    click.echo(f"database is at revision {revision}: {services.db.engine.url.render_as_string()}")
