"""Building test apps and driving them as a visitor would: settings, forms, mail."""

from __future__ import annotations

import base64
import contextlib
import re
from email.message import EmailMessage
from pathlib import Path

import dramatiq

from leadcapture.delivery.transports import MaildirTransport

ROOT = Path(__file__).resolve().parents[2]


DEMO_FORM = ROOT / "demo" / "sales-machine.toml"


BASE_URL = "http://lc.test"


def make_config(tmp_path: Path, **overrides) -> dict:
    """Settings for a test app in tmp_path; keyword arguments override."""
    config = {
        "VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'test.db'}",
        "SECRET_KEY": "test-secret-key",
        "DATA_KEY": base64.urlsafe_b64encode(b"k" * 32).decode(),
        "LEDGER_KEY": base64.urlsafe_b64encode(b"l" * 32).decode(),
        "BASE_URL": BASE_URL,
        "MAIL_FROM": "Voorbeeld B.V. <hallo@voorbeeld.nl>",
        "MIN_FILL_SECONDS": 0,
        "RATELIMIT_ENABLED": False,  # tests of the limits switch them on (tests/test_abuse.py)
        "TESTING": True,
    }
    config.update(overrides)
    return config


class Runner:
    """Invokes the `leadcapture` command against the test app."""

    def __init__(self, app):
        self.app = app

    def invoke(self, args, **kwargs):
        from click.testing import CliRunner

        from leadcapture.cli import main

        return CliRunner().invoke(main, args, obj=self.app, **kwargs)


class Outbox:
    """The local Maildir outbox, read as a recipient would."""

    def __init__(self, path: Path):
        self.transport = MaildirTransport(path)

    def messages(self) -> list[EmailMessage]:
        """Every message, oldest first."""
        return [msg for _key, msg in reversed(self.transport.messages())]

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages() if str(m["To"]).lower() == address.lower()]


class Drainer:
    """Runs every queued job of the current app until nothing is left."""

    def __init__(self, app, worker):
        self.services = app.extensions["leadcapture"]
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
        from leadcapture.consent import outbox
        from workers.broker import publish

        broker = dramatiq.get_broker()
        for _ in range(5):  # jobs may lead to more jobs (confirm -> deliver)
            outbox.relay(self.services.db.sessionmaker, publish)
            for queue in sorted(broker.get_declared_queues()):  # "mail", and issue 6's "campaigns"
                broker.join(queue, fail_fast=True)
            self.worker.join()


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


DEMO_PHONE = "+31 30 123 4567"


def submit(client, email: str, purposes=(), slug: str = "sales-machine", **fields):
    """Post the form as a visitor; one who ticks the demo's "call" purpose types a phone number, unless told."""
    if "call" in purposes:
        fields.setdefault("phone", DEMO_PHONE)
    data = {"csrf_token": form_token(client, slug), "email": email, **fields}
    data.update({f"purpose_{key}": "y" for key in purposes})
    return client.post(f"/f/{slug}", data=data)
