"""Shared fixtures: a fresh app and database per test, a real dramatiq worker, the outbox."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dramatiq
import pytest
from aiosmtpd.controller import Controller

from leadcapture import create_app
from leadcapture.consent.formdefs import load_toml, save
from leadcapture.db import Database
from leadcapture.migrations import upgrade
from tests.support.app import DEMO_FORM, Drainer, Outbox, Runner, make_config
from tests.support.mail import Recorder, free_port

_WORKERS: list[dramatiq.Worker] = []  # the session's dramatiq worker, once started
_CALLERS_SETTINGS: dict[str, str] = {}


def pytest_configure(config):
    """The suite never reads the caller's LEADCAPTURE_* settings (say a DATABASE_URL exported for a local run).

    LEADCAPTURE_TEST_* stay: they choose the test servers (`make test-postgres`, the integration suite).
    """
    for name in [n for n in os.environ if n.startswith("LEADCAPTURE_") and not n.startswith("LEADCAPTURE_TEST_")]:
        _CALLERS_SETTINGS[name] = os.environ.pop(name)


def pytest_unconfigure(config):
    os.environ.update(_CALLERS_SETTINGS)


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory):
    """A database migrated to head once; each test gets a copy (SQLite file, or PostgreSQL template)."""
    server = os.environ.get("LEADCAPTURE_TEST_POSTGRES", "")
    if server:  # run the whole suite on PostgreSQL: `make test-postgres`
        from tests.support.pg import TemplateDatabases

        templates = TemplateDatabases(server)
        yield templates
        templates.drop_all()
        return
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()
    yield path


@pytest.fixture
def config(tmp_path, migrated_db) -> dict:
    if isinstance(migrated_db, Path):
        shutil.copy(migrated_db, tmp_path / "test.db")
        return make_config(tmp_path)
    return make_config(tmp_path, DATABASE_URL=migrated_db.copy())


@pytest.fixture
def app(config):
    app = create_app(config)
    yield app
    dramatiq.get_broker().flush_all()
    for running in _WORKERS:  # a job still running must not open a connection after dispose
        running.join()
    app.extensions["leadcapture"].db.dispose()


@pytest.fixture
def services(app):
    return app.extensions["leadcapture"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return Runner(app)


@pytest.fixture
def demo_form(services):
    """The demo form of `make run`, imported."""
    definition, asset = load_toml(DEMO_FORM)
    with services.db.session() as session:
        version, _ = save(session, definition, asset)
    return version


@pytest.fixture
def mailbox(app) -> Outbox:
    return Outbox(Path(app.config["VAR_DIR"]) / "outbox")


@pytest.fixture(scope="session")
def dramatiq_worker():
    """One real dramatiq worker on the in-process broker for the whole run."""
    from workers.broker import ensure_broker

    w = dramatiq.Worker(ensure_broker(""), worker_threads=2, worker_timeout=50)
    w.start()
    _WORKERS.append(w)
    yield w
    _WORKERS.remove(w)
    w.stop()


@pytest.fixture
def worker(app, dramatiq_worker) -> Drainer:
    """Call worker.drain() to run every job the test queued, as a real worker does."""
    return Drainer(app, dramatiq_worker)


@pytest.fixture
def smtp_server():
    """start(replies, **options): a real SMTP server (aiosmtpd; options such as enable_SMTPUTF8=True)."""

    def start(replies=None, **options):
        handler = Recorder(replies)
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
        controller.start()
        servers.append(controller)
        return handler, f"smtp://127.0.0.1:{port}"

    servers = []
    yield start
    for controller in servers:
        controller.stop()


@pytest.fixture
def make_app(tmp_path, migrated_db):
    """Build an app with settings overridden (a fresh database each), the demo form imported."""
    apps = []

    def build(**overrides):
        path = tmp_path / f"app{len(apps)}"
        path.mkdir()
        shutil.copy(migrated_db, path / "test.db")
        app = create_app(make_config(path, **overrides))
        apps.append(app)
        with app.extensions["leadcapture"].db.session() as session:
            save(session, *load_toml(DEMO_FORM))
        return app

    yield build
    dramatiq.get_broker().flush_all()
    for app in apps:
        app.extensions["leadcapture"].db.dispose()
