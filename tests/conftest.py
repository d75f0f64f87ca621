"""Shared fixtures: a fresh app and database per test, a real dramatiq worker, the outbox."""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shutil
from email.message import EmailMessage
from pathlib import Path

import dramatiq
import pytest

from leadcapture import create_app
from leadcapture.db import Database
from leadcapture.dbmigrate import upgrade
from leadcapture.mail import MaildirTransport

ROOT = Path(__file__).resolve().parent.parent
DEMO_FORM = ROOT / "demo" / "sales-machine.toml"
BASE_URL = "http://lc.test"
_WORKERS: list[dramatiq.Worker] = []  # the session's dramatiq worker, once started


def make_config(tmp_path: Path, **overrides) -> dict:
    """Settings for a test app in tmp_path; keyword arguments override."""
    config = {
        "VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'test.db'}",
        "SECRET_KEY": "test-secret-key",
        "DATA_KEY": base64.urlsafe_b64encode(b"k" * 32).decode(),
        "BASE_URL": BASE_URL,
        "MAIL_FROM": "Voorbeeld B.V. <hallo@voorbeeld.nl>",
        "MIN_FILL_SECONDS": 0,
        "RATELIMIT_ENABLED": False,  # tests of the limits switch them on (tests/test_abuse.py)
        "TESTING": True,
    }
    config.update(overrides)
    return config


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory):
    """A database migrated to head once; each test gets a copy (SQLite file, or PostgreSQL template)."""
    server = os.environ.get("LEADCAPTURE_TEST_POSTGRES", "")
    if server:  # run the whole suite on PostgreSQL: `make test-postgres`
        from tests.pg import TemplateDatabases

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
def core(app):
    return app.extensions["leadcapture"]


@pytest.fixture
def client(app):
    return app.test_client()


class Runner:
    """Invokes the `leadcapture` command against the test app."""

    def __init__(self, app):
        self.app = app

    def invoke(self, args, **kwargs):
        from click.testing import CliRunner

        from leadcapture.cli import main

        return CliRunner().invoke(main, args, obj=self.app, **kwargs)


@pytest.fixture
def runner(app):
    return Runner(app)


@pytest.fixture
def demo_form(core):
    """The demo form of `make run`, imported."""
    from leadcapture.formdefs import load_toml, save

    definition, asset = load_toml(DEMO_FORM)
    with core.db.session() as session:
        version, _ = save(session, definition, asset)
    return version


class Outbox:
    """The local Maildir outbox, read as a recipient would."""

    def __init__(self, path: Path):
        self.transport = MaildirTransport(path)

    def messages(self) -> list[EmailMessage]:
        """Every message, oldest first."""
        return [msg for _key, msg in reversed(self.transport.messages())]

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages() if str(m["To"]).lower() == address.lower()]


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


class Drainer:
    """Runs every queued job of the current app until nothing is left."""

    def __init__(self, app, worker):
        self.core = app.extensions["leadcapture"]
        self.worker = worker

    @contextlib.contextmanager
    def paused(self):
        """Jobs queued inside the block wait until it ends (an enqueue-to-send window)."""
        self.worker.pause()
        try:
            yield
        finally:
            self.worker.resume()

    def drain(self) -> None:
        from leadcapture import outbox
        from workers.broker import publish

        broker = dramatiq.get_broker()
        for _ in range(5):  # jobs may lead to more jobs (confirm -> deliver)
            outbox.relay(self.core.db.sessionmaker, publish)
            for queue in sorted(broker.get_declared_queues()):  # "mail", and issue 6's "campaigns"
                broker.join(queue, fail_fast=True)
            self.worker.join()


@pytest.fixture
def worker(app, dramatiq_worker) -> Drainer:
    """Call worker.drain() to run every job the test queued, as a real worker does."""
    return Drainer(app, dramatiq_worker)


def text_part(msg: EmailMessage) -> str:
    return msg.get_body(("plain",)).get_content()


def html_part(msg: EmailMessage) -> str:
    return msg.get_body(("html",)).get_content()


LINK = re.compile(r"https?://[^\s\"<>]+")


def links(msg: EmailMessage) -> list[str]:
    """Every distinct link in the text part, the HTML part and the List-Unsubscribe header."""
    found = LINK.findall(text_part(msg)) + LINK.findall(html_part(msg))
    found += re.findall(r"<(https?://[^>]+)>", str(msg["List-Unsubscribe"]))
    return sorted(set(found))


def path_of(url: str) -> str:
    assert url.startswith(BASE_URL), url
    return url[len(BASE_URL) :]


def form_token(client, slug: str = "sales-machine") -> str:
    page = client.get(f"/f/{slug}").get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def submit(client, email: str, purposes=(), slug: str = "sales-machine", **fields):
    data = {"csrf_token": form_token(client, slug), "email": email, **fields}
    data.update({f"purpose_{key}": "y" for key in purposes})
    return client.post(f"/f/{slug}", data=data)
