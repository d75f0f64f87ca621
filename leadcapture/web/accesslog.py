"""Access logs without personal data: client addresses minimised like the ledger, link tokens masked.

Link tokens in /c/, /d/, /p/ and /u/ paths act as passwords (preference and unsubscribe links
never expire), and a full client address is personal data; a log line keeps enough of both to
follow a request (the first 8 characters, the /24 or /48 network).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from leadcapture.consent.people import minimise_ip

log = logging.getLogger("leadcapture.access")
TOKEN_PREFIX = 8
_TOKEN_PATH = re.compile(rf"(/[cdpu]/)([A-Za-z0-9_.~%-]{{{TOKEN_PREFIX}}})[A-Za-z0-9_.~%-]+")


def mask_tokens(text: str) -> str:
    """text with every link token in a /c/, /d/, /p/ or /u/ path cut to its first 8 characters and `…`."""
    return _TOKEN_PATH.sub(r"\1\2…", text)


def client(ip: str | None, mode: str) -> str:
    """The client address as the configured IP minimisation keeps it ("-" when it keeps none)."""
    return minimise_ip(ip, mode) or "-"


class AccessLog:
    """WSGI middleware of the embedded server: one line per request, the client minimised and link tokens masked.

    `address - - "METHOD path PROTOCOL" status`, on the `leadcapture.access` logger, written when
    the application returns its response (before the body is sent).
    """

    def __init__(self, wsgi_app: Callable[..., Any], mode: str):
        self.wsgi_app, self.mode = wsgi_app, mode

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        status = "-"

        def noted(line: str, headers: Any, exc_info: Any = None) -> Any:
            nonlocal status
            status = line.partition(" ")[0]
            return start_response(line, headers, exc_info)

        try:
            return self.wsgi_app(environ, noted)
        finally:
            query = environ.get("QUERY_STRING")
            target = environ.get("PATH_INFO", "") + (f"?{query}" if query else "")
            log.info(
                '%s - - "%s %s %s" %s',
                client(environ.get("REMOTE_ADDR"), self.mode),
                environ.get("REQUEST_METHOD", "-"),
                mask_tokens(target),
                environ.get("SERVER_PROTOCOL", "-"),
                status,
            )
