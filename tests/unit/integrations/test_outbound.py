"""The SSRF-safe POST: caps what it reads, gives up on a receiver that does not answer, refuses by address."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from leadcapture.integrations import outbound

LOCAL = [ipaddress.ip_network("127.0.0.1/32")]


@pytest.fixture
def server():
    servers = []

    def start(handler_body):
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                handler_body(self)

            def log_message(self, *args):
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}/hook"

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def test_it_reads_at_most_64_kb_of_an_answer(server):
    def huge(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(5 * 1024 * 1024))
        handler.end_headers()
        try:
            handler.wfile.write(b"x" * (5 * 1024 * 1024))
        except OSError:
            pass  # the client stopped reading

    answer = outbound.post(server(huge), b"{}", {}, timeout=5, networks=LOCAL, require_https=False)
    assert answer.status == 200
    assert len(answer.body) == outbound.MAX_RESPONSE_BYTES


def test_a_receiver_that_trickles_its_answer_is_given_up_on(server):
    def trickle(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        for _ in range(1000):
            handler.wfile.write(b"x")
            handler.wfile.flush()
            time.sleep(0.2)

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        outbound.post(server(trickle), b"{}", {}, timeout=0.5, networks=LOCAL, require_https=False)
    assert time.monotonic() - started < 3


def test_a_receiver_that_never_answers_times_out():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
        with pytest.raises(OSError):  # socket.timeout is TimeoutError, an OSError
            outbound.post(url, b"{}", {}, timeout=0.3, networks=LOCAL, require_https=False)
