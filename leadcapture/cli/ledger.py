"""`leadcapture ledger`: check the consent ledger's hash chain."""

from __future__ import annotations

import sys

import click

from leadcapture.cli.context import Runtime
from leadcapture.consent.ledger import verify


@click.group()
def ledger() -> None:
    """The consent ledger."""


@ledger.command("verify")
@click.pass_obj
def ledger_verify(runtime: Runtime) -> None:
    """Check the hash chain; exit 1 and name the first bad event if anything was changed."""
    services = runtime.services
    with services.db.session() as session:
        count, problem = verify(session, services.vault)
    if problem is not None:
        click.echo(f"ledger BROKEN at {problem} ({count} events before it are intact)", err=True)
        sys.exit(1)
    click.echo(f"ledger OK: {count} events, chain intact")
