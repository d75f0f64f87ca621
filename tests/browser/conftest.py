"""A real `leadcapture serve` process and headless Debian Chromium driven by Playwright."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.app import DEMO_FORM, ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
CLI = [sys.executable, "-m", "leadcapture.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed; `make test` installs Debian's package")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return CHROMIUM


class LiveServer(str):
    """The base URL of a running `leadcapture serve`; .var is its VAR_DIR (database, outbox)."""

    var: Path
    env: dict


@contextlib.contextmanager
def serving(var: Path, **settings: str):
    """`leadcapture serve` on a free port with the demo form, as `make run` starts it."""
    var.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "LEADCAPTURE_VAR_DIR": str(var), "LEADCAPTURE_MIN_FILL_SECONDS": "1"}
    env.update({f"LEADCAPTURE_{key}": value for key, value in settings.items()})
    env.pop("LEADCAPTURE_BASE_URL", None)
    subprocess.run([*CLI, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    subprocess.run([*CLI, "forms", "import", str(DEMO_FORM)], env=env, cwd=ROOT, check=True, capture_output=True)
    log = open(var / "serve.log", "w")
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    base = LiveServer(f"http://127.0.0.1:{port}")
    base.var, base.env = var, env
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError((var / "serve.log").read_text()) from None
            time.sleep(0.2)
    try:
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """`leadcapture serve` on a free port with the demo form (a str: its base URL; .var: its VAR_DIR)."""
    with serving(tmp_path_factory.mktemp("live") / "var") as base:
        yield base


@pytest.fixture(scope="module")
def live_env(live_server) -> dict:
    """The environment of the live server; run `leadcapture` commands against it with this."""
    return live_server.env


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=chromium_path,
            headless=True,
            args=CHROMIUM_ARGS,
        )
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(accept_downloads=True)
    pg = context.new_page()
    yield pg
    context.close()
