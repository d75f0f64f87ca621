"""`leadcapture webhooks`: endpoints that receive signed consent events, and their delivery log."""

from __future__ import annotations

import click

from leadcapture.backoffice.accounts import audit
from leadcapture.cli.context import ROW_ID, Runtime, relay_if_broker
from leadcapture.consent import events
from leadcapture.integrations import endpoints, webhooks
from leadcapture.models import WEBHOOK_DELIVERED, WEBHOOK_PENDING, WEBHOOK_RETRYING, WebhookDelivery, utcnow


@click.group("webhooks")
def webhooks_cmd() -> None:
    """Webhook endpoints (Standard Webhooks signatures) and their deliveries."""


def _endpoint(session, endpoint_id: int):
    try:
        return endpoints.get(session, endpoint_id)
    except endpoints.EndpointError as exc:
        raise click.ClickException(str(exc)) from exc


def _show_secret(secret: str) -> None:
    click.echo(f"secret: {secret}")
    click.echo("  (shown once: give it to the receiver, which verifies each request's webhook-signature with it)")


@webhooks_cmd.command("add")
@click.argument("url")
@click.option(
    "--event",
    "event_types",
    multiple=True,
    type=click.Choice(events.TYPES),
    help="An event type it receives (repeat the option); none given: every type.",
)
@click.option("--personal-data", is_flag=True, help="Include the person's email address in the payloads.")
@click.option("--description", default="", help="A note for the admins, e.g. which CRM this is.")
@click.pass_obj
def webhooks_add(runtime: Runtime, url: str, event_types: tuple[str, ...], personal_data: bool, description: str):
    """Add an endpoint for URL and print its signing secret (once)."""
    services = runtime.services
    try:
        with services.db.session() as session:
            endpoint, secret = endpoints.add(
                session,
                services.vault,
                services.settings,
                url=url,
                event_types=event_types,
                personal_data=personal_data,
                description=description,
            )
            audit(session, None, "webhook.add", endpoint.url, detail={"id": endpoint.id, "via": "cli"})
            endpoint_id, types = endpoint.id, endpoint.events
    except endpoints.EndpointError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"added webhook endpoint {endpoint_id}: {url.strip()}")
    click.echo(f"  events: {types}; email addresses: {'yes' if personal_data else 'no'}")
    _show_secret(secret)


@webhooks_cmd.command("list")
@click.pass_obj
def webhooks_list(runtime: Runtime) -> None:
    """List the endpoints, whether each is enabled, and why a disabled one was."""
    with runtime.services.db.session() as session:
        found = endpoints.listing(session)
        if not found:
            click.echo("no webhook endpoints yet: `leadcapture webhooks add https://crm.example.com/hooks`")
        for e in found:
            state = "enabled" if e.enabled else f"DISABLED ({e.disabled_reason})"
            pd = "with email addresses" if e.personal_data else "ids only"
            click.echo(f"{e.id}\t{e.url}\t{state}\t{pd}\t{e.events}" + (f"\t{e.description}" if e.description else ""))


@webhooks_cmd.command("remove")
@click.argument("endpoint_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def webhooks_remove(runtime: Runtime, endpoint_id: int, yes: bool) -> None:
    """Delete an endpoint and its delivery log."""
    with runtime.services.db.session() as session:
        endpoint = _endpoint(session, endpoint_id)
        if not yes:
            click.confirm(f"Delete webhook endpoint {endpoint_id} ({endpoint.url}) and its delivery log?", abort=True)
        audit(session, None, "webhook.remove", endpoint.url, detail={"id": endpoint_id, "via": "cli"})
        endpoints.remove(session, endpoint)
    click.echo(f"removed webhook endpoint {endpoint_id}")


@webhooks_cmd.command("rotate-secret")
@click.argument("endpoint_id", type=int)
@click.pass_obj
def webhooks_rotate(runtime: Runtime, endpoint_id: int) -> None:
    """Give an endpoint a new signing secret and print it (once); the old one stops working at once."""
    services = runtime.services
    with services.db.session() as session:
        endpoint = _endpoint(session, endpoint_id)
        secret = endpoints.rotate_secret(session, services.vault, endpoint)
        audit(session, None, "webhook.rotate_secret", endpoint.url, detail={"id": endpoint_id, "via": "cli"})
    click.echo(f"new secret for webhook endpoint {endpoint_id}")
    _show_secret(secret)


@webhooks_cmd.command("enable")
@click.argument("endpoint_id", type=int)
@click.pass_obj
def webhooks_enable(runtime: Runtime, endpoint_id: int) -> None:
    """Enable a disabled endpoint; its waiting deliveries are sent again."""
    services = runtime.services
    with services.db.session() as session:
        endpoint = _endpoint(session, endpoint_id)
        queued = webhooks.resume(session, endpoint, utcnow())
        audit(session, None, "webhook.enable", endpoint.url, detail={"id": endpoint_id, "via": "cli"})
    relay_if_broker(services)
    click.echo(f"enabled webhook endpoint {endpoint_id}; {queued} waiting delivery(ies) queued")


@webhooks_cmd.command("deliveries")
@click.option("--endpoint", "endpoint_id", type=ROW_ID, help="Only this endpoint's deliveries.")
@click.option("--status", type=click.Choice([WEBHOOK_PENDING, WEBHOOK_RETRYING, WEBHOOK_DELIVERED]))
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.pass_obj
def webhooks_deliveries(runtime: Runtime, endpoint_id: int | None, status: str | None, limit: int) -> None:
    """The delivery log, newest first: status, response code, attempts, next attempt."""
    with runtime.services.db.session() as session:
        rows = webhooks.log(session, endpoint_id=endpoint_id, status=status, limit=limit)
        if not rows:
            click.echo("no deliveries")
        for d in rows:
            click.echo("\t".join(_columns(d)))


def _columns(d: WebhookDelivery) -> list[str]:
    nxt = d.next_attempt_at.isoformat(timespec="seconds") if d.next_attempt_at else "-"
    return [
        str(d.id),
        f"endpoint {d.endpoint_id}",
        d.event_type,
        d.event_id,
        d.status,
        f"HTTP {d.response_code}" if d.response_code else "-",
        f"{d.attempts} attempt(s)",
        f"next {nxt}",
        (d.error or "")[:120],
    ]


@webhooks_cmd.command("resend")
@click.argument("delivery_id", type=int)
@click.pass_obj
def webhooks_resend(runtime: Runtime, delivery_id: int) -> None:
    """Send a delivery again now (with the same webhook-id, so receivers can tell it is a repeat)."""
    services = runtime.services
    with services.db.session() as session:
        delivery = webhooks.get_delivery(session, delivery_id)
        if delivery is None:
            raise click.ClickException(f"there is no webhook delivery {delivery_id}")
        try:
            webhooks.resend(session, delivery)
        except endpoints.EndpointError as exc:
            raise click.ClickException(str(exc)) from exc
        audit(session, None, "webhook.resend", str(delivery_id), detail={"via": "cli"})
    relay_if_broker(services)
    click.echo(f"delivery {delivery_id} queued again")
