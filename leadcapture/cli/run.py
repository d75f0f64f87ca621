"""`leadcapture serve` and `leadcapture worker`: the processes that serve forms and send mail."""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import click
from sqlalchemy import func, select

from leadcapture import serve_embedded
from leadcapture.cli.context import Runtime
from leadcapture.cli.production import gunicorn_options, run_gunicorn
from leadcapture.delivery.transports import MailError
from leadcapture.migrations import upgrade
from leadcapture.models import AdminUser, Form
from leadcapture.privacy.keyrotation import IndexKeyMismatch, check_index_key
from leadcapture.scheduler import start_sealer, start_thread
from leadcapture.services import Services
from leadcapture.settings import SERVED_URL_FILE, Settings


def dev_server_settings(settings: Settings, host: str, port: int) -> Settings:
    """The settings the embedded server runs with: unless BASE_URL was given, links in mail point at it."""
    if settings.production or settings.base_url_configured:
        return settings
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104  (a link cannot point at "any")
    if ":" in shown:
        shown = f"[{shown}]"  # an IPv6 address in a URL
    return dataclasses.replace(settings, base_url=f"http://{shown}:{port}")


def _start_scheduler(services: Services, stop: threading.Event) -> threading.Thread:
    """Retention, expiry and re-permission in this process (a DB lease keeps it to one place)."""
    try:
        with services.db.session() as session:
            check_index_key(session, services.vault)
    except IndexKeyMismatch as exc:
        raise click.ClickException(str(exc)) from exc
    start_sealer(services, stop)
    return start_thread(services, stop, relay=True)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--production", is_flag=True, help="Run under gunicorn; jobs go to LEADCAPTURE_BROKER_URL.")
@click.option("--workers", type=click.IntRange(1, 64), help="gunicorn processes [LEADCAPTURE_WEB_WORKERS]")
@click.option("--threads", type=click.IntRange(1, 64), help="threads per process [LEADCAPTURE_WEB_THREADS]")
@click.pass_obj
def serve(runtime: Runtime, host: str, port: int, production: bool, workers: int | None, threads: int | None) -> None:
    """Serve the web app: embedded (with an in-process worker) or, with --production, under gunicorn."""
    if production:
        _serve_production(runtime.services, host, port, workers, threads)
        return
    app = runtime.app  # before the services: the web app brings its own
    services = runtime.services
    services.settings = settings = dev_server_settings(services.settings, host, port)
    app.config["BASE_URL"] = settings.base_url  # parts of the web layer still read app.config
    if not settings.production and not settings.base_url_configured:
        # Commands run from another shell (campaigns send, users create) link to this server.
        (Path(settings.var_dir) / SERVED_URL_FILE).write_text(settings.base_url + "\n", encoding="utf-8")
    upgrade(services.db)
    stop = threading.Event()
    worker = runtime.jobs.start_worker(services) if not settings.broker_url else None
    if worker is not None:
        app.wsgi_app = runtime.jobs.pace_requests(app.wsgi_app)  # type: ignore[method-assign]
    runtime.jobs.start_relay(services, stop)
    _start_scheduler(services, stop)
    base = settings.base_url
    click.echo(f"leadcapture on http://{host}:{port} (links in emails use {base})")
    with services.db.session() as session:
        slugs = session.scalars(select(Form.slug).where(Form.archived_at.is_(None))).all()
    for slug in slugs:
        click.echo(f"  hosted form:       {base}/f/{slug}")
        if not settings.production:
            click.echo(f"  embedded example:  {base}/dev/embed/{slug}")
    if worker is not None:
        click.echo("  in-process worker: on")
    if not settings.mail_url and not settings.production:
        click.echo(f"  local mailbox:     {base}/dev/mail/")
    click.echo(f"  admin:             {base}/admin/")
    with services.db.session() as session:
        if not session.scalar(select(func.count()).select_from(AdminUser)):
            click.echo("  first account:     leadcapture users create you@example.com --role admin")
    if not settings.production:
        click.echo(f"  start page:        {base}/")
    try:
        serve_embedded(app, host, port, settings.web_threads)
    finally:
        stop.set()
        if worker is not None:
            worker.stop()
        services.db.dispose()  # writes the outbox bookkeeping still queued


def _serve_production(services: Services, host: str, port: int, workers: int | None, threads: int | None) -> None:
    if not services.settings.broker_url:
        raise click.ClickException(
            "serve --production needs LEADCAPTURE_BROKER_URL (redis:// or amqp://) and separate "
            "`leadcapture worker` processes; see docs/deploy.md."
        )
    services.db.dispose()  # each gunicorn process opens its own connections
    options = gunicorn_options(services.settings, f"{host}:{port}", workers, threads)
    click.echo(f"leadcapture (gunicorn, {options['workers']}x{options['threads']}) on http://{host}:{port}")
    run_gunicorn(options)


@click.command()
@click.option("--processes", type=click.IntRange(1, 64), help="worker processes [LEADCAPTURE_WORKER_PROCESSES]")
@click.option("--threads", type=click.IntRange(1, 256), help="threads per process [LEADCAPTURE_WORKER_THREADS]")
@click.pass_obj
def worker(runtime: Runtime, processes: int | None, threads: int | None) -> None:
    """Run workers: consume jobs from the broker and relay the outbox. SIGTERM stops gracefully."""
    child = os.environ.get("LEADCAPTURE_WORKER_CHILD") == "1"
    services = runtime.services
    if not services.settings.broker_url:
        raise click.ClickException(
            "LEADCAPTURE_BROKER_URL is empty: the embedded default runs its worker inside "
            "`leadcapture serve`. Set a redis:// or amqp:// URL to run separate workers."
        )
    problem = None
    status = services.broker_status(services.settings.broker_url)
    if status != "ok":
        problem = f"cannot use broker {_redact(services.settings.broker_url)}: {status}"
    else:
        try:
            services.transport.check()
        except (MailError, ValueError) as exc:
            problem = f"{exc} (check LEADCAPTURE_MAIL_URL)"
    if problem:
        click.echo(f"Error: {problem}", err=True)
        sys.exit(3 if child else 1)
    processes = processes or services.settings.worker_processes
    threads = threads or services.settings.worker_threads
    if processes > 1:
        services.db.dispose()
        click.echo(f"worker supervisor: {processes} processes x {threads} threads; SIGTERM to stop")
        sys.exit(runtime.jobs.supervise(processes, threads))
    services.settings = dataclasses.replace(services.settings, worker_threads=threads)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    w = runtime.jobs.start_worker(services)
    runtime.jobs.start_relay(services, stop)
    start_sealer(services, stop)  # the ledger sealer runs in whichever process holds its lease
    click.echo(f"worker {os.getpid()} running ({threads} threads); SIGTERM or Ctrl-C to stop")
    stop.wait()
    w.stop()  # finishes the jobs in hand, hands back the prefetched ones
    services.transport.close()
    services.db.dispose()  # writes the outbox bookkeeping still queued
    click.echo(f"worker {os.getpid()} stopped")


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url
