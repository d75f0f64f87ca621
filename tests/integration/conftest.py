"""Fixtures for the integration suite: PostgreSQL, Redis, RabbitMQ, an SMTP server, real processes."""

from __future__ import annotations

import collections
import threading

import psycopg
import pytest
from aiosmtpd.controller import Controller

from tests.support.app import DEMO_FORM
from tests.support.pg import TemplateDatabases, admin_url

from .services import PG_SERVER, Browser, PrivateRedis, Process, RabbitVhost, free_port, leadcapture, stack_env


def pytest_collection_modifyitems(config, items):
    """Everything under tests/integration is marked `integration`."""
    for item in items:
        if "tests/integration/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def pg_templates():
    """A migrated template database on the real PostgreSQL."""
    from .services import unavailable

    try:
        psycopg.connect(admin_url(PG_SERVER), connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL is not answering at {PG_SERVER}: {exc}")
    templates = TemplateDatabases(PG_SERVER)
    yield templates
    templates.drop_all()


@pytest.fixture
def pg_url(pg_templates) -> str:
    """A fresh PostgreSQL database at the head revision, for this test only."""
    return pg_templates.copy()


class Sink:
    """A real SMTP server (aiosmtpd) that records what it accepts; replies can be scripted."""

    def __init__(self):
        self.lock = threading.Lock()
        self.accepted: list = []
        self.per_recipient: collections.Counter = collections.Counter()
        self.replies: list[str] = []  # answers to the next DATA commands, then "250 OK"
        self.refused = 0
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.replies:
                self.refused += 1
                return self.replies.pop(0)
            self.accepted.append(envelope)
            for rcpt in envelope.rcpt_tos:
                self.per_recipient[rcpt] += 1
        return "250 OK"

    def count(self) -> int:
        with self.lock:
            return len(self.accepted)

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def sink():
    server = Sink()
    yield server
    server.stop()


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def rabbit():
    vhost = RabbitVhost()
    yield vhost
    vhost.delete()


class Stack:
    """Web (gunicorn) and worker processes of one deployment, stopped at the end of the test."""

    def __init__(self, tmp_path, database_url: str, broker_url: str, mail_url: str, **env: str):
        self.env = stack_env(tmp_path, database_url, broker_url, mail_url, **env)
        self.processes: list[Process] = []
        self.database_url = database_url
        imported = leadcapture(self.env, "forms", "import", str(DEMO_FORM))
        assert imported.returncode == 0, imported.stderr

    def web(self, workers: int = 1, threads: int = 4) -> Browser:
        port = free_port()
        args = ("serve", "--production", "--port", str(port), "--workers", str(workers), "--threads", str(threads))
        proc = Process(self.env, *args)
        self.processes.append(proc)
        proc.wait_for(r"Booting worker", 30)
        browser = Browser(f"http://127.0.0.1:{port}")
        from .services import wait_until

        wait_until(lambda: browser.get("/healthz")[0] in (200, 503), 30, what="gunicorn to answer")
        return browser

    def worker(self, processes: int = 1, threads: int = 4) -> Process:
        proc = Process(self.env, "worker", "--processes", str(processes), "--threads", str(threads))
        self.processes.append(proc)
        proc.wait_for(r"worker \d+ running", 30)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.terminate()


@pytest.fixture
def make_stack(tmp_path):
    stacks = []

    def make(database_url: str, broker_url: str, mail_url: str, **env: str) -> Stack:
        stack = Stack(tmp_path, database_url, broker_url, mail_url, **env)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.stop()
