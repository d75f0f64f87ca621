"""`leadcapture campaigns …`: content items and campaign sends from the command line."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import click
from sqlalchemy.orm import Session

from leadcapture.cli.context import ROW_ID, JobSystem, Runtime, relay_if_broker
from leadcapture.consent import outbox
from leadcapture.delivery import campaign_admin, content
from leadcapture.delivery import campaigns as campaigns_mod
from leadcapture.models import DONE, PAUSED
from leadcapture.services import Services

POLL_SECONDS = 0.5


@click.group()
def campaigns() -> None:
    """Content for a purpose, and campaigns that send it to everyone who consented."""


@campaigns.command("create")
@click.option("--purpose", "purpose_key", required=True, help="Key of the purpose the content is sent under.")
@click.option("--subject", help="Subject line (overrides the front matter).")
@click.option("--language", type=click.Choice(content.LANGUAGES), help="Language (overrides the front matter).")
@click.option("--welcome", is_flag=True, help="Send this item to each person who confirms the purpose.")
@click.option(
    "--brand",
    "brand_slug",
    help="Slug of the brand whose audience of the purpose gets it (needed with several brands).",
)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def create(
    runtime: Runtime,
    purpose_key: str,
    subject: str | None,
    language: str | None,
    welcome: bool,
    brand_slug: str | None,
    files: tuple[Path, ...],
) -> None:
    """Create a content item from Markdown FILES (one per language) and a draft campaign for it."""
    if len(files) > 1 and (subject or language):
        raise click.UsageError("--subject and --language apply to a single file; use front matter for several")
    services = runtime.services
    try:
        drafts = [content.load_file(f, subject=subject, language=language) for f in files]
        with services.db.session() as session:
            brand_id = None if welcome else campaign_admin.parse_audience(session, purpose_key, brand_slug)[0]
            item = content.create_item(session, purpose_key, drafts, welcome=welcome)
            campaign = None if welcome else campaigns_mod.create_campaign(session, item.id, brand_id)
            item_id, campaign_id = item.id, campaign.id if campaign else None
    except (content.ContentError, campaigns_mod.CampaignError) as exc:
        click.echo(f"not created: {exc}", err=True)
        sys.exit(2)
    languages = ", ".join(d.language for d in drafts)
    if campaign_id is None:
        click.echo(f"welcome item {item_id} for {purpose_key!r} ({languages}): sent to each person who confirms it")
    else:
        click.echo(f"content item {item_id} for {purpose_key!r} ({languages}); campaign {campaign_id} is a draft")
        click.echo(f"  send it with: leadcapture campaigns send {campaign_id}")


@campaigns.command("list")
@click.pass_obj
def list_(runtime: Runtime) -> None:
    """Every campaign with its state and counts."""
    services = runtime.services
    with services.db.session() as session:
        rows = [campaigns_mod.progress(session, c.id) for c in campaigns_mod.list_campaigns(session)]
    if not rows:
        click.echo("no campaigns yet: leadcapture campaigns create --purpose KEY FILE.md")
        return
    click.echo(
        f"{'id':>4}  {'status':<8} {'brand':<16} {'purpose':<16} {'sent':>8} {'skipped':>8} {'failed':>7} {'total':>8} "
        f"{'bounced':>7} {'complnt':>7}  subject"
    )
    for p in rows:
        click.echo(
            f"{p.id:>4}  {p.status:<8} {p.brand:<16} {p.purpose_key:<16} "
            f"{p.sent:>8} {p.skipped:>8} {p.failed:>7} {p.total:>8} "
            f"{p.bounced:>7} {p.complained:>7}  "
            f"{p.subject}"
        )


def _progress_line(p: campaigns_mod.Progress) -> str:
    return (
        f"campaign {p.id} ({p.purpose_key} of {p.brand}): {p.status}; sent {p.sent}, skipped (no consent) {p.skipped}, "
        f"failed {p.failed}, pending {p.pending}, recipients {p.total}{'' if p.fanout_done else ' so far'}; "
        f"bounced {p.bounced}, complaints {p.complained}"
    )


@campaigns.command("status")
@click.argument("campaign_id", type=ROW_ID)
@click.pass_obj
def status(runtime: Runtime, campaign_id: int) -> None:
    """Show how far a campaign is."""
    services = runtime.services
    click.echo(_progress_line(_progress(services, campaign_id)))


def _progress(services: Services, campaign_id: int) -> campaigns_mod.Progress:
    try:
        with services.db.session() as session:
            return campaigns_mod.progress(session, campaign_id)
    except campaigns_mod.CampaignError as exc:
        raise click.ClickException(str(exc)) from exc


def _act(services: Services, action: Callable[[Session, int], str], campaign_id: int) -> str:
    try:
        with services.db.session() as session:
            return action(session, campaign_id)
    except campaigns_mod.CampaignError as exc:
        raise click.ClickException(str(exc)) from exc


def _watch(services: Services, jobs: JobSystem, campaign_id: int) -> None:
    """Relay the campaign's jobs and show a progress bar until it is done or paused."""
    worker = None
    if not services.settings.broker_url:  # embedded default: this process does the sending
        worker = jobs.start_worker(services)
    p = _progress(services, campaign_id)
    try:
        with click.progressbar(length=max(p.total, 1), label=f"campaign {campaign_id}", show_pos=True) as bar:
            shown = 0
            while True:
                outbox.relay_now(services)
                p = _progress(services, campaign_id)
                bar.length = max(p.total, 1)
                bar.update(p.processed - shown)
                shown = p.processed
                if p.status in (DONE, PAUSED):
                    break
                time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        if worker is not None:
            _act(services, campaigns_mod.pause, campaign_id)
            click.echo(f"\npaused; continue with: leadcapture campaigns resume {campaign_id}")
        else:
            click.echo("\nstopped watching; the workers carry on")
    finally:
        if worker is not None:
            worker.stop()
            services.db.flush()  # the outbox bookkeeping of its last jobs
    click.echo(_progress_line(_progress(services, campaign_id)))


@campaigns.command("send")
@click.argument("campaign_id", type=ROW_ID)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Show a progress bar until it is done.")
@click.pass_obj
def send(runtime: Runtime, campaign_id: int, wait: bool) -> None:
    """Send a campaign to everyone whose consent for its purpose is current (never twice)."""
    services = runtime.services
    click.echo(_act(services, campaigns_mod.start, campaign_id))
    if wait and _progress(services, campaign_id).status != DONE:
        _watch(services, runtime.jobs, campaign_id)
    else:
        relay_if_broker(services)


@campaigns.command("pause")
@click.argument("campaign_id", type=ROW_ID)
@click.pass_obj
def pause(runtime: Runtime, campaign_id: int) -> None:
    """Pause a sending campaign; nobody gets a second copy on resume."""
    click.echo(_act(runtime.services, campaigns_mod.pause, campaign_id))


@campaigns.command("resume")
@click.argument("campaign_id", type=ROW_ID)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Show a progress bar until it is done.")
@click.pass_obj
def resume(runtime: Runtime, campaign_id: int, wait: bool) -> None:
    """Resume a paused campaign where it stopped."""
    services = runtime.services
    click.echo(_act(services, campaigns_mod.resume, campaign_id))
    if wait:
        _watch(services, runtime.jobs, campaign_id)
    else:
        relay_if_broker(services)
