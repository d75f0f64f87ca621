"""The real services the integration suite runs against, and the processes it starts.

Locally a service that does not answer skips its tests with the reason; with CI=true it fails
them (`.ci/run` starts the services first).
"""

from __future__ import annotations

import base64
import http.cookiejar
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PG_SERVER = os.environ.get("LEADCAPTURE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("LEADCAPTURE_TEST_REDIS", "redis://127.0.0.1:6379/15")
RABBIT_HOST, RABBIT_PORT = "127.0.0.1", 5672


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI, when a service the test needs is not there."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"integration service unavailable in CI: {reason}")
    pytest.skip(reason)


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """Tell whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.1, what="condition"):
    """Poll predicate until it returns something truthy; fail the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what() if callable(what) else what}")
        time.sleep(interval)


class PrivateRedis:
    """A redis-server of our own on a free port: stopping it disturbs nobody else."""

    def __init__(self, workdir: Path):
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            unavailable("redis-server is not installed")
        self.port, self.workdir = free_port(), workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (or restart) the server on the same port and wait until it answers."""
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", str(self.workdir)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: port_open("127.0.0.1", self.port), 10, what="private redis-server")

    def stop(self) -> None:
        """Stop the server now (SIGKILL: like a crash, no final save)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class RabbitVhost:
    """A throw-away vhost on the shared RabbitMQ, so our queues never meet anyone else's."""

    def __init__(self):
        if not port_open(RABBIT_HOST, RABBIT_PORT):
            unavailable(f"RabbitMQ is not answering on {RABBIT_HOST}:{RABBIT_PORT}")
        if shutil.which("rabbitmqctl") is None:
            unavailable("rabbitmqctl is not installed (needed to create a private vhost)")
        self.name = f"lc_issue3_{uuid.uuid4().hex[:8]}"
        self._ctl("add_vhost", self.name)
        self._ctl("set_permissions", "-p", self.name, "guest", ".*", ".*", ".*")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@{RABBIT_HOST}:{RABBIT_PORT}/{self.name}"

    def _ctl(self, *args: str) -> None:
        subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=30)

    def delete(self) -> None:
        """Remove the vhost and its queues."""
        self._ctl("delete_vhost", self.name)


def stack_env(tmp_path: Path, database_url: str, broker_url: str, mail_url: str, **extra: str) -> dict[str, str]:
    """The environment of a production-like leadcapture process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADCAPTURE_")}
    env.update(
        {
            "LEADCAPTURE_ENV": "production",
            "LEADCAPTURE_VAR_DIR": str(tmp_path / "var"),
            "LEADCAPTURE_DATABASE_URL": database_url,
            "LEADCAPTURE_BROKER_URL": broker_url,
            "LEADCAPTURE_MAIL_URL": mail_url,
            "LEADCAPTURE_SECRET_KEY": "integration-secret-" + "Kx3vQ9tLr2mW8pZc5nYb7hJd4fGs6aEu",
            "LEADCAPTURE_DATA_KEY": base64.urlsafe_b64encode(b"i" * 32).decode(),
            "LEADCAPTURE_LEDGER_KEY": base64.urlsafe_b64encode(b"L" * 32).decode(),
            "LEADCAPTURE_BASE_URL": "https://lc.test",
            "LEADCAPTURE_MAIL_FROM": "Voorbeeld B.V. <hallo@voorbeeld.nl>",
            "LEADCAPTURE_MIN_FILL_SECONDS": "0",
            "LEADCAPTURE_MAIL_RETRY_MIN_BACKOFF": "100",
            "LEADCAPTURE_MAIL_RETRY_MAX_BACKOFF": "1000",
            "LEADCAPTURE_OUTBOX_RELAY_INTERVAL": "0.5",
            # Hundreds of submissions from one address on purpose: the rate limits (issue 7) are
            # tested elsewhere and would only get in the way here.
            "LEADCAPTURE_RATELIMIT_ENABLED": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def leadcapture(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the console command to completion."""
    return subprocess.run(
        [sys.executable, "-m", "leadcapture.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Process:
    """A long-running leadcapture process whose output is collected for the test report."""

    def __init__(self, env: dict[str, str], *args: str):
        self.args = args
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "leadcapture.cli", *args],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 30) -> None:
        """Wait until a line matching pattern was printed (fail with the output if the process died)."""

        def seen():
            if self.proc.poll() is not None:
                pytest.fail(f"{self.args} exited with {self.proc.returncode}:\n{self.output[-3000:]}")
            return re.search(pattern, self.output)

        wait_until(seen, timeout, what=f"{pattern!r} from {self.args}")

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM, then SIGKILL the process group if it does not stop in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.reader.join(5)
        self.proc.stdout.close()
        return self.proc.returncode


class Browser:
    """A minimal HTTP client with cookies: gets the form, posts it as a visitor would."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> tuple[int, str]:
        return self._open(urllib.request.Request(self.base + path))

    def post(self, path: str, data: dict[str, str]) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode()
        return self._open(urllib.request.Request(self.base + path, data=body, method="POST"))

    def _open(self, request: urllib.request.Request) -> tuple[int, str]:
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def csrf(self, slug: str = "sales-machine") -> str:
        status, page = self.get(f"/f/{slug}")
        assert status == 200, page[:500]
        return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)

    def submit(self, email: str, token: str, slug: str = "sales-machine", purposes=()) -> tuple[int, str]:
        data = {"csrf_token": token, "email": email, **{f"purpose_{p}": "y" for p in purposes}}
        if "call" in purposes:  # the demo's phone purpose asks the number
            data["phone"] = "030 123 4567"
        return self.post(f"/f/{slug}", data)


class PrivatePostgres:
    """A PostgreSQL cluster of our own (Debian's binaries, run as the postgres user) on a free port."""

    def __init__(self):
        import glob
        import tempfile

        versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not versions:
            unavailable("PostgreSQL server binaries are not installed (/usr/lib/postgresql/*/bin)")
        self.bin = Path(versions[-1]).parent
        self.dir = Path(tempfile.mkdtemp(prefix="lc_issue3_pg_"))
        self.port = free_port()
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_postgres:
            shutil.chown(self.dir, "postgres")
        self._run("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_postgres, str(self.bin / tool), *args], check=True, capture_output=True, timeout=60)

    @property
    def server(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Start the cluster and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-o", options, "-l", str(self.dir / "log"), "-w", "start")

    def stop(self) -> None:
        """Stop at once, as a crash or an outage would."""
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")

    def create_migrated_database(self) -> str:
        """A new database at head; its SQLAlchemy URL."""
        from leadcapture.db import Database
        from leadcapture.migrations import upgrade
        from tests.support.pg import create_database, sqlalchemy_url

        url = sqlalchemy_url(self.server, create_database(self.server))
        db = Database(url)
        upgrade(db)
        db.dispose()
        return url

    def destroy(self) -> None:
        """Stop (if running) and delete the cluster."""
        subprocess.run(
            [*self.as_postgres, str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.dir, ignore_errors=True)
