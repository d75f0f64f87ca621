"""The `leadcapture` command (SPEC section 9). Errors are one clear line and a non-zero exit."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sys
import threading
from pathlib import Path

import click
from sqlalchemy import select

from leadcapture.models import Form
from leadcapture.settings import ConfigError
from workers import relay
from workers.boot import boot
from workers.supervisor import Supervisor

log = logging.getLogger(__name__)


def _app():
    """The app given by the caller (tests pass one as the click obj), or one from the environment."""
    from flask import Flask

    from leadcapture import create_app

    ctx = click.get_current_context(silent=True)
    if ctx is not None and isinstance(ctx.find_root().obj, Flask):
        return ctx.find_root().obj
    try:
        return create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    except ValueError as exc:  # e.g. a malformed broker or mail URL
        raise click.ClickException(str(exc)) from exc


def _services(app):
    return app.extensions["leadcapture"]


@click.group()
def main() -> None:
    """leadcapture: gated-content forms with per-purpose double opt-in."""


# --- database -------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply the Alembic migrations."""
    from leadcapture.migrations import upgrade

    app = _app()
    try:
        upgrade(_services(app).db, revision)
    except Exception as exc:  # noqa: BLE001  (any driver error: say it in one line)
        raise click.ClickException(f"migration failed: {exc}") from exc
    click.echo(f"database is at revision {revision}: {_services(app).db.engine.url.render_as_string()}")


# --- forms ----------------------------------------------------------------------------------


@main.group()
def forms() -> None:
    """Form definitions (TOML)."""


@forms.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def forms_import(file: Path) -> None:
    """Import a form definition; changed wording makes a new version."""
    from leadcapture.consent.formdefs import FormDefinitionError, load_toml, save

    app = _app()
    try:
        definition, asset = load_toml(file)
    except FormDefinitionError as exc:
        click.echo(f"{file}: not imported:", err=True)
        for problem in exc.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(2)
    with _services(app).db.session() as session:
        version, created = save(session, definition, asset)
        number, chash = version.number, version.content_hash
    state = "imported as" if created else "unchanged, still"
    click.echo(f"form {definition['slug']!r} {state} version {number} ({chash[:12]})")
    click.echo(f"  hosted form: {_services(app).settings.base_url}/f/{definition['slug']}")


@forms.command("export")
@click.argument("slug")
def forms_export(slug: str) -> None:
    """Print the live definition of a form as TOML."""
    from leadcapture.consent.formdefs import current_version, to_toml

    app = _app()
    with _services(app).db.session() as session:
        version = current_version(session, slug)
        if version is None:
            raise click.ClickException(f"no form with slug {slug!r}")
        click.echo(to_toml(version), nl=False)


# --- ledger ---------------------------------------------------------------------------------


@main.group()
def ledger() -> None:
    """The consent ledger."""


@ledger.command("verify")
def ledger_verify() -> None:
    """Check the hash chain; exit 1 and name the first bad event if anything was changed."""
    from leadcapture.consent import ledger as ledger_mod

    app = _app()
    services = _services(app)
    with services.db.session() as session:
        count, problem = ledger_mod.verify(session, services.vault)
    if problem is not None:
        click.echo(f"ledger BROKEN at {problem} ({count} events before it are intact)", err=True)
        sys.exit(1)
    click.echo(f"ledger OK: {count} events, chain intact")


# --- running --------------------------------------------------------------------------------


def _start_worker(services):
    import dramatiq

    from workers.broker import get_broker

    worker = dramatiq.Worker(get_broker(), worker_threads=services.settings.worker_threads)
    worker.start()
    return worker


def _start_scheduler(app, stop: threading.Event) -> threading.Thread:
    """Retention, expiry and re-permission in this process (a DB lease keeps it to one place)."""
    from leadcapture.privacy.keyrotation import IndexKeyMismatch, check_index_key
    from leadcapture.scheduler import start_thread

    try:
        with _services(app).db.session() as session:
            check_index_key(session, _services(app).vault)
    except IndexKeyMismatch as exc:
        raise click.ClickException(str(exc)) from exc
    return start_thread(_services(app), stop, relay=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--production", is_flag=True, help="Run under gunicorn; jobs go to LEADCAPTURE_BROKER_URL.")
@click.option("--workers", type=click.IntRange(1, 64), help="gunicorn processes [LEADCAPTURE_WEB_WORKERS]")
@click.option("--threads", type=click.IntRange(1, 64), help="threads per process [LEADCAPTURE_WEB_THREADS]")
def serve(host: str, port: int, production: bool, workers: int | None, threads: int | None) -> None:
    """Serve the web app: embedded (with an in-process worker) or, with --production, under gunicorn."""
    app = _app()
    if production:
        _serve_production(app, host, port, workers, threads)
        return
    from leadcapture.migrations import upgrade

    if not _services(app).settings.production and "LEADCAPTURE_BASE_URL" not in os.environ:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        base_url = f"http://{shown}:{port}"  # links in dev mail point here
        app.config["BASE_URL"] = base_url
        _services(app).settings = dataclasses.replace(_services(app).settings, base_url=base_url)
    upgrade(_services(app).db)
    stop = threading.Event()
    worker = _start_worker(_services(app)) if not _services(app).settings.broker_url else None
    relay.start(_services(app), stop)
    _start_scheduler(app, stop)
    base = _services(app).settings.base_url
    click.echo(f"leadcapture on http://{host}:{port} (links in emails use {base})")
    with _services(app).db.session() as session:
        slugs = session.scalars(select(Form.slug).where(Form.archived_at.is_(None))).all()
    for slug in slugs:
        click.echo(f"  hosted form:       {base}/f/{slug}")
        if not _services(app).settings.production:
            click.echo(f"  embedded example:  {base}/dev/embed/{slug}")
    if worker is not None:
        click.echo("  in-process worker: on")
    if not _services(app).settings.mail_url and not _services(app).settings.production:
        click.echo(f"  local mailbox:     {base}/dev/mail/")
    try:
        app.run(host=host, port=port, threaded=True, use_reloader=False)
    finally:
        stop.set()
        if worker is not None:
            worker.stop()


def _serve_production(app, host: str, port: int, workers: int | None, threads: int | None) -> None:
    from leadcapture.cli.production import gunicorn_options, run_gunicorn

    if not _services(app).settings.broker_url:
        raise click.ClickException(
            "serve --production needs LEADCAPTURE_BROKER_URL (redis:// or amqp://) and separate "
            "`leadcapture worker` processes; see docs/deploy.md."
        )
    _services(app).db.dispose()  # each gunicorn process opens its own connections
    options = gunicorn_options(_services(app).settings, f"{host}:{port}", workers, threads)
    click.echo(f"leadcapture (gunicorn, {options['workers']}x{options['threads']}) on http://{host}:{port}")
    run_gunicorn(options)


@main.command()
@click.option("--processes", type=click.IntRange(1, 64), help="worker processes [LEADCAPTURE_WORKER_PROCESSES]")
@click.option("--threads", type=click.IntRange(1, 256), help="threads per process [LEADCAPTURE_WORKER_THREADS]")
def worker(processes: int | None, threads: int | None) -> None:
    """Run workers: consume jobs from the broker and relay the outbox. SIGTERM stops gracefully."""
    child = os.environ.get("LEADCAPTURE_WORKER_CHILD") == "1"
    try:
        services = boot()  # no Flask app: the jobs run with these services
    except (ConfigError, ValueError) as exc:  # e.g. a malformed broker or mail URL
        raise click.ClickException(str(exc)) from exc
    if not services.settings.broker_url:
        raise click.ClickException(
            "LEADCAPTURE_BROKER_URL is empty: the embedded default runs its worker inside "
            "`leadcapture serve`. Set a redis:// or amqp:// URL to run separate workers."
        )
    from leadcapture.delivery.transports import MailError

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
        sys.exit(Supervisor(processes, threads).run())
    services.settings = dataclasses.replace(services.settings, worker_threads=threads)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    w = _start_worker(services)
    relay.start(services, stop)
    click.echo(f"worker {os.getpid()} running ({threads} threads); SIGTERM or Ctrl-C to stop")
    stop.wait()
    w.stop()  # finishes the jobs in hand, hands back the prefetched ones
    services.transport.close()
    click.echo(f"worker {os.getpid()} stopped")


def _redact(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


from leadcapture.cli.privacy import COMMANDS as _PRIVACY_COMMANDS  # noqa: E402  (people, keys, register, scheduler)

for _command in _PRIVACY_COMMANDS:
    main.add_command(_command)

from leadcapture.cli.users import users  # noqa: E402  (issue 4)

main.add_command(users)


from leadcapture.cli.campaigns import campaigns  # noqa: E402  (issue 6)

main.add_command(campaigns)
