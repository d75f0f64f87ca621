"""The embedded server (`leadcapture serve`): idle clients hold no thread, bodies are capped, no software banner."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time

import pytest

from tests.support.app import DEMO_FORM, ROOT
from tests.support.cli import leadcapture
from tests.support.mail import free_port


@pytest.fixture
def served(tmp_path):
    """`leadcapture serve` on a free port with the demo form; its log lines once it has stopped."""
    assert leadcapture(tmp_path, "db", "upgrade").returncode == 0
    assert leadcapture(tmp_path, "forms", "import", str(DEMO_FORM)).returncode == 0
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "LEADCAPTURE_BASE_URL"}
    env |= {"LEADCAPTURE_VAR_DIR": str(tmp_path / "var"), "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "leadcapture.cli", "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while get(port, "/healthz")[0] != 200:
                assert time.monotonic() < deadline and server.poll() is None, log.read_text()
                time.sleep(0.2)
            yield port, log
        finally:
            server.terminate()
            server.wait(timeout=10)


def get(port: int, path: str, **request) -> tuple[int, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(request.pop("method", "GET"), path, **request)
        response = conn.getresponse()
        response.read()
        return response.status, dict(response.getheaders())
    except OSError:
        return 0, {}
    finally:
        conn.close()


def test_clients_that_never_finish_a_request_do_not_keep_others_out(served):
    port, _log = served
    # Given more half-sent requests than the server has threads, or than waitress's default limit
    stalled = []
    for _ in range(150):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"GET /f/sales-machine HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        stalled.append(sock)
    try:
        # Then a whole request is still answered at once
        began = time.monotonic()
        assert get(port, "/f/sales-machine")[0] == 200
        assert time.monotonic() - began < 5
    finally:
        for sock in stalled:
            sock.close()


def test_a_body_beyond_the_largest_upload_is_refused_before_it_is_read_and_no_banner_is_sent(served):
    port, log = served
    status, headers = get(port, "/f/sales-machine")
    assert status == 200 and "Server" not in headers
    # A body larger than a whitepaper upload (20 MB and the form around it) is announced
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /admin/forms HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
            b"Content-Length: %d\r\n\r\n" % (22 * 1024 * 1024)
        )
        # and refused before a byte of it is sent
        assert sock.recv(100).startswith(b"HTTP/1.1 413 ")


def test_each_request_is_logged_with_its_link_token_masked(served):
    port, log = served
    token = "eyJwIjoxLCJrIjoidSJ9.ZxYwVu.abcdefghijklmnopqrstuvwxyz012345"
    assert get(port, f"/u/{token}")[0] == 404
    time.sleep(0.2)
    lines = [line for line in log.read_text().splitlines() if "leadcapture.access" in line]
    assert any(f'"GET /u/{token[:8]}… HTTP/1.1" 404' in line for line in lines), lines
    assert token not in log.read_text()
