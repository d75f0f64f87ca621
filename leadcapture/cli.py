"""The `leadcapture` command (SPEC section 9). Errors are one clear line and a non-zero exit."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

import click
from sqlalchemy import select

from .config import ConfigError, is_production
from .models import Form

log = logging.getLogger(__name__)


def _app():
    """The app given by the caller (tests pass one as the click obj), or one from the environment."""
    from flask import Flask

    from . import create_app

    ctx = click.get_current_context(silent=True)
    if ctx is not None and isinstance(ctx.find_root().obj, Flask):
        return ctx.find_root().obj
    try:
        return create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    except ValueError as exc:  # e.g. a malformed broker or mail URL
        raise click.ClickException(str(exc)) from exc


def _core(app):
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
    from .dbmigrate import upgrade

    app = _app()
    try:
        upgrade(_core(app).db, revision)
    except Exception as exc:  # noqa: BLE001  (any driver error: say it in one line)
        raise click.ClickException(f"migration failed: {exc}") from exc
    click.echo(f"database is at revision {revision}: {_core(app).db.engine.url.render_as_string()}")


# --- forms ----------------------------------------------------------------------------------


@main.group()
def forms() -> None:
    """Form definitions (TOML)."""


@forms.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def forms_import(file: Path) -> None:
    """Import a form definition; changed wording makes a new version."""
    from .formdefs import FormDefinitionError, load_toml, save

    app = _app()
    try:
        definition, asset = load_toml(file)
    except FormDefinitionError as exc:
        click.echo(f"{file}: not imported:", err=True)
        for problem in exc.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(2)
    with _core(app).db.session() as session:
        version, created = save(session, definition, asset)
        number, chash = version.number, version.content_hash
    state = "imported as" if created else "unchanged, still"
    click.echo(f"form {definition['slug']!r} {state} version {number} ({chash[:12]})")
    click.echo(f"  hosted form: {app.config['BASE_URL']}/f/{definition['slug']}")


@forms.command("export")
@click.argument("slug")
def forms_export(slug: str) -> None:
    """Print the live definition of a form as TOML."""
    from .formdefs import current_version, to_toml

    app = _app()
    with _core(app).db.session() as session:
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
    from . import ledger as ledger_mod

    app = _app()
    core = _core(app)
    with core.db.session() as session:
        count, problem = ledger_mod.verify(session, core.vault)
    if problem is not None:
        click.echo(f"ledger BROKEN at {problem} ({count} events before it are intact)", err=True)
        sys.exit(1)
    click.echo(f"ledger OK: {count} events, chain intact")


# --- running --------------------------------------------------------------------------------


def _start_relay(app, stop: threading.Event) -> threading.Thread:
    """Publish outbox jobs that were not published right after their commit (broker was down)."""
    from workers.broker import publish

    from . import outbox

    core = _core(app)
    interval = app.config["OUTBOX_RELAY_INTERVAL"]

    def loop() -> None:
        while not stop.wait(interval):
            try:
                outbox.relay(core.db.sessionmaker, publish, min_age=interval)
            except Exception:  # noqa: BLE001  (keep relaying; the database may come back)
                log.exception("outbox relay failed; retrying in %.0fs", interval)

    thread = threading.Thread(target=loop, name="outbox-relay", daemon=True)
    thread.start()
    return thread


def _start_worker(app):
    import dramatiq

    from workers.broker import get_broker

    worker = dramatiq.Worker(get_broker(), worker_threads=app.config["WORKER_THREADS"])
    worker.start()
    return worker


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Serve the web app with an in-process worker (the embedded default)."""
    from .dbmigrate import upgrade

    app = _app()
    if not is_production(app.config) and "LEADCAPTURE_BASE_URL" not in os.environ:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        app.config["BASE_URL"] = f"http://{shown}:{port}"  # links in dev mail point here
    upgrade(_core(app).db)
    stop = threading.Event()
    worker = _start_worker(app) if not app.config["BROKER_URL"] else None
    _start_relay(app, stop)
    base = app.config["BASE_URL"]
    click.echo(f"leadcapture on http://{host}:{port} (links in emails use {base})")
    with _core(app).db.session() as session:
        slugs = session.scalars(select(Form.slug).where(Form.archived_at.is_(None))).all()
    for slug in slugs:
        click.echo(f"  hosted form:       {base}/f/{slug}")
        if not is_production(app.config):
            click.echo(f"  embedded example:  {base}/dev/embed/{slug}")
    if worker is not None:
        click.echo("  in-process worker: on")
    if not app.config["MAIL_URL"] and not is_production(app.config):
        click.echo(f"  local mailbox:     {base}/dev/mail/")
    try:
        app.run(host=host, port=port, threaded=True, use_reloader=False)
    finally:
        stop.set()
        if worker is not None:
            worker.stop()


@main.command()
def worker() -> None:
    """Run a worker: consumes jobs from the broker and relays the outbox."""
    app = _app()
    if not app.config["BROKER_URL"]:
        raise click.ClickException(
            "LEADCAPTURE_BROKER_URL is empty: the embedded default runs its worker inside "
            "`leadcapture serve`. Set a redis:// or amqp:// URL to run separate workers."
        )
    from .mail import MailError

    try:
        _core(app).transport.check()
    except (MailError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    w = _start_worker(app)
    _start_relay(app, stop)
    click.echo(f"worker running ({app.config['WORKER_THREADS']} threads); Ctrl-C to stop")
    stop.wait()
    w.stop()


from .cli_campaigns import campaigns  # noqa: E402  (issue 6)

main.add_command(campaigns)

if __name__ == "__main__":
    main()
