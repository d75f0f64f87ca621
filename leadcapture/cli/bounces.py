"""`leadcapture bounces`: take in bounces and complaints by SMTP (the bounce domain's MX) or from a mailbox."""

from __future__ import annotations

import signal
import sys
import threading

import click
from sqlalchemy.exc import SQLAlchemyError

from leadcapture.cli.context import Runtime
from leadcapture.integrations import inbound


@click.group()
def bounces() -> None:
    """Bounces and complaints: the SMTP listener and the IMAP poller."""


@bounces.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="0.0.0.0 to take mail from the internet")
@click.option("--port", default=2525, show_default=True, type=click.IntRange(1, 65535), help="25 for an MX")
@click.pass_obj
def bounces_serve(runtime: Runtime, host: str, port: int) -> None:
    """Listen for bounces and complaints sent to the VERP addresses of LEADCAPTURE_BOUNCE_DOMAIN."""
    services = runtime.services
    controller = inbound.listener(services, host, port)
    try:
        controller.start()
    except (OSError, RuntimeError) as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from exc
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    click.echo(
        f"bounce listener on {host}:{port} for bounces+…@{services.settings.bounce_domain} "
        f"(at most {services.settings.bounce_max_size} bytes a message); SIGTERM or Ctrl-C to stop"
    )
    stop.wait()
    controller.stop()
    click.echo(f"bounce listener stopped: {_counts(controller.handler.outcomes)}")


@bounces.command("poll")
@click.option("--url", default=None, help="imaps://user:pass@host/INBOX [LEADCAPTURE_BOUNCE_IMAP_URL]")
@click.pass_obj
def bounces_poll(runtime: Runtime, url: str | None) -> None:
    """Read the bounce mailbox once: record every unseen bounce and complaint, then delete it."""
    services = runtime.services
    try:
        outcomes = inbound.poll(services, url)
    except inbound.BounceMailError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    except SQLAlchemyError as exc:
        click.echo(f"Error: the database is unavailable ({exc.__class__.__name__}); nothing was deleted", err=True)
        sys.exit(1)
    click.echo(f"bounce mailbox read: {_counts(outcomes)}")


def _counts(outcomes: dict[str, int]) -> str:
    return ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items())) or "nothing new"
