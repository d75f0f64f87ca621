"""The `leadcapture` command (SPEC section 9), the CLI's composition root.

The group puts a `Runtime` (the Services, built on first use, and the job system wired here
from workers/) in click's context object; every command takes it with `@click.pass_obj`, so no
command module imports this package or workers/. Errors a user can meet are one clear line and
a non-zero exit.
"""

from __future__ import annotations

import click
import dramatiq

from leadcapture.cli import bounces, brands, campaigns, db, forms, ledger, privacy, run, users, webhooks
from leadcapture.cli.context import JobSystem, Runtime
from leadcapture.services import Services
from workers import relay
from workers.boot import boot
from workers.broker import get_broker, pace_publishers, paced_requests
from workers.supervisor import Supervisor


def _start_worker(services: Services) -> dramatiq.Worker:
    threads = services.settings.worker_threads
    if not services.settings.broker_url:  # the in-process worker: web requests wait for room in its queue
        pace_publishers(2 * threads)
    worker = dramatiq.Worker(get_broker(), worker_threads=threads)
    worker.start()
    return worker


def _supervise(processes: int, threads: int) -> int:
    return Supervisor(processes, threads).run()


JOBS = JobSystem(
    boot=boot, start_worker=_start_worker, start_relay=relay.start, supervise=_supervise, pace_requests=paced_requests
)


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """leadcapture: gated-content forms with per-purpose double opt-in."""
    if not isinstance(ctx.obj, Runtime):
        ctx.obj = Runtime(ctx.obj, JOBS)  # ctx.obj is None, or the app a test passed as the click obj


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
    webhooks.webhooks_cmd,
    bounces.bounces,
    brands.brands_cmd,
):
    main.add_command(_command)
