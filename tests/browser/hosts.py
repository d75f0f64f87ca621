"""Helpers for browser tests: customer websites on other origins, the live server's database and mail."""

from __future__ import annotations

import contextlib
import functools
import http.server
import re
import subprocess
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from leadcapture.db import Database
from leadcapture.models import Consent, LeadRequest, LedgerEvent, Message, OutboxJob, Person, Submission, Suppression
from tests.browser.conftest import CLI, LiveServer, free_port
from tests.support.app import DEMO_FORM, ROOT, Outbox


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the stdlib's name)
        pass


@contextlib.contextmanager
def static_site(directory: Path, html: str):
    """Serve html as / from a fresh port on 127.0.0.1; yields the port (open it as http://localhost:PORT)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "index.html").write_text(html)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", free_port()), functools.partial(_Quiet, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def customer_page(snippet: str) -> str:
    """A marketer's page: some text and a link before the snippet, as real pages have."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Customer site</title></head>'
        '<body><h1>Our whitepaper</h1><a href="#top" id="before">A link before the form</a>'
        f"{snippet}<p>Footer</p></body></html>"
    )


def allow_origin(server: LiveServer, origin: str, tmp: Path) -> None:
    """Import a new version of the demo form with origin added to allowed_origins (a TOML the test writes)."""
    text = DEMO_FORM.read_text()
    text = re.sub(r"allowed_origins = \[", f'allowed_origins = ["{origin}", ', text, count=1)
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "form.toml").write_text(text)
    for asset in DEMO_FORM.parent.glob("*.pdf"):
        (tmp / asset.name).write_bytes(asset.read_bytes())
    subprocess.run([*CLI, "forms", "import", str(tmp / "form.toml")], env=server.env, cwd=ROOT, check=True,
                   capture_output=True)  # fmt: skip


def database(server: LiveServer) -> Database:
    """The live server's SQLite database, to check what a browser did (or did not) change."""
    return Database(f"sqlite:///{server.var / 'leadcapture.db'}")


def snapshot(db: Database) -> dict:
    """Every state a click on a link could change, counted."""
    with db.session() as session:
        return {
            "people": session.scalar(select(func.count()).select_from(Person)),
            "submissions": session.scalar(select(func.count()).select_from(Submission)),
            "requests": sorted(session.execute(select(LeadRequest.id, LeadRequest.state)).all()),
            "consents": sorted(session.execute(select(Consent.purpose_key, Consent.state)).all()),
            "suppressions": session.scalar(select(func.count()).select_from(Suppression)),
            "ledger": session.scalar(select(func.count()).select_from(LedgerEvent)),
            "messages": session.scalar(select(func.count()).select_from(Message)),
            "jobs": session.scalar(select(func.count()).select_from(OutboxJob)),
        }


def wait_for_mail(server: LiveServer, address: str, count: int = 1, timeout: float = 20.0):
    """The messages to address once there are at least count of them (the worker sends asynchronously)."""
    outbox = Outbox(server.var / "outbox")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = outbox.to(address)
        if len(messages) >= count:
            return messages
        time.sleep(0.1)
    raise AssertionError(f"{len(outbox.to(address))} messages to {address}, expected {count}")
