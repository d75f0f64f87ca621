"""Access logs keep no full client address and no whole link token."""

from __future__ import annotations

import datetime
import io
import logging
from types import SimpleNamespace

import pytest

from leadcapture.web.accesslog import AccessLog, client, mask_tokens

TOKEN = "eyJwIjoxLCJrIjoidSJ9.ZxYwVu.abcdefghijklmnopqrstuvwxyz012345"


@pytest.mark.parametrize("prefix", ["/c/", "/d/", "/p/", "/u/"])
def test_a_link_token_keeps_its_first_8_characters(prefix):
    assert mask_tokens(f"GET {prefix}{TOKEN}?x=1 HTTP/1.1") == f"GET {prefix}{TOKEN[:8]}…?x=1 HTTP/1.1"


def test_other_paths_and_short_segments_are_left_alone():
    assert mask_tokens("GET /f/sales-machine/embed.js HTTP/1.1") == "GET /f/sales-machine/embed.js HTTP/1.1"
    assert mask_tokens("/admin/people/12345678901") == "/admin/people/12345678901"
    assert mask_tokens("/c/short") == "/c/short"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("truncate", "203.0.113.0"), ("full", "203.0.113.77"), ("none", "-")],
)
def test_the_client_address_is_minimised_like_the_ledger(mode, expected):
    assert client("203.0.113.77", mode) == expected
    assert client("2001:db8:1:2::9", "truncate") == "2001:db8:1::"


def test_the_embedded_server_logs_each_request_minimised_and_masked(caplog):
    # Given the embedded server's request log around an app that answers 404
    def app(environ, start_response):
        start_response("404 NOT FOUND", [("Content-Type", "text/plain")])
        return [b"gone"]

    logged = AccessLog(app, "truncate")
    environ = {
        "REMOTE_ADDR": "203.0.113.77",
        "REQUEST_METHOD": "GET",
        "PATH_INFO": f"/u/{TOKEN}",
        "QUERY_STRING": "a=1",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    # When an unsubscribe link is requested
    with caplog.at_level(logging.INFO, logger="leadcapture.access"):
        assert list(logged(environ, lambda status, headers, exc_info=None: None)) == [b"gone"]
    # Then its line keeps the network and the token's first characters only
    (line,) = [r.getMessage() for r in caplog.records if r.name == "leadcapture.access"]
    assert line == f'203.0.113.0 - - "GET /u/{TOKEN[:8]}…?a=1 HTTP/1.1" 404'


def test_a_gunicorn_access_line_is_logged_minimised_and_masked(monkeypatch):
    pytest.importorskip("gunicorn")
    from gunicorn.config import Config

    from leadcapture.web.gunicorn_log import AccessLogger

    monkeypatch.setenv("LEADCAPTURE_IP_MINIMISATION", "truncate")
    config = Config()
    config.set("accesslog", "-")
    config.set("logger_class", "leadcapture.web.gunicorn_log.AccessLogger")
    assert config.logger_class is AccessLogger
    logger = AccessLogger(config)
    environ = {
        "REMOTE_ADDR": "198.51.100.23",
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/p/{TOKEN}",
        "PATH_INFO": f"/p/{TOKEN}",
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": f"https://lc.test/p/{TOKEN}",
    }
    response = SimpleNamespace(status="200 OK", sent=512, headers=[])
    written = logging.StreamHandler(io.StringIO())
    logger.access_log.addHandler(written)
    try:
        logger.access(response, SimpleNamespace(headers=[]), environ, datetime.timedelta(seconds=0.01))
    finally:
        logger.access_log.removeHandler(written)
    line = written.stream.getvalue()
    assert line.startswith("198.51.100.0 - - [")
    assert f"/p/{TOKEN[:8]}…" in line and TOKEN not in line and "198.51.100.23" not in line
