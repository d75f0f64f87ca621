"""A real `leadcapture serve` process and headless Debian Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import DEMO_FORM, ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


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


CLI = [sys.executable, "-m", "leadcapture.cli"]


@pytest.fixture(scope="module")
def live_env(tmp_path_factory) -> dict:
    """The environment of the live server; run `leadcapture` commands against it with this."""
    var = tmp_path_factory.mktemp("live") / "var"
    env = {**os.environ, "LEADCAPTURE_VAR_DIR": str(var), "LEADCAPTURE_MIN_FILL_SECONDS": "1"}
    env.pop("LEADCAPTURE_BASE_URL", None)
    return env


@pytest.fixture(scope="module")
def live_server(live_env):
    """`leadcapture serve` on a free port with the demo form, as `make run` starts it."""
    env = live_env
    var = Path(env["LEADCAPTURE_VAR_DIR"])
    port = free_port()
    cli = CLI
    subprocess.run([*cli, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    subprocess.run([*cli, "forms", "import", str(DEMO_FORM)], env=env, cwd=ROOT, check=True, capture_output=True)
    log = open(var / "serve.log", "w")
    proc = subprocess.Popen(
        [*cli, "serve", "--port", str(port)], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
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
    yield base
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=chromium_path,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(accept_downloads=True)
    pg = context.new_page()
    yield pg
    context.close()
