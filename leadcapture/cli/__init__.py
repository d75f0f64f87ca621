"""The `leadcapture` command (SPEC section 9), the CLI's composition root.

The group puts a `Runtime` (the app and its Services, built on first use) in click's context
object and every command takes it with `@click.pass_obj`, so no command module imports this
package. Errors a user can meet are one clear line and a non-zero exit.
"""

from __future__ import annotations

import click

from leadcapture.cli import campaigns, db, forms, ledger, privacy, run, users
from leadcapture.cli.context import Runtime


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """leadcapture: gated-content forms with per-purpose double opt-in."""
    if not isinstance(ctx.obj, Runtime):
        ctx.obj = Runtime(ctx.obj)  # None, or the app a test passed as the click obj


for _command in (
    db.db,
    forms.forms,
    ledger.ledger,
    run.serve,
    run.worker,
    privacy.people,
    privacy.keys,
    privacy.register_cmd,
    privacy.scheduler_cmd,
    users.users,
    campaigns.campaigns,
):
    main.add_command(_command)
