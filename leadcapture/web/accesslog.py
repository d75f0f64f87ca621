"""Access logs without personal data: client addresses minimised like the ledger, link tokens masked.

Link tokens in /c/, /d/, /p/ and /u/ paths act as passwords (preference and unsubscribe links
never expire), and a full client address is personal data; a log line keeps enough of both to
follow a request (the first 8 characters, the /24 or /48 network).
"""

from __future__ import annotations

import logging
import re

from leadcapture.consent.people import minimise_ip

TOKEN_PREFIX = 8
_TOKEN_PATH = re.compile(rf"(/[cdpu]/)([A-Za-z0-9_.~%-]{{{TOKEN_PREFIX}}})[A-Za-z0-9_.~%-]+")


def mask_tokens(text: str) -> str:
    """text with every link token in a /c/, /d/, /p/ or /u/ path cut to its first 8 characters and `…`."""
    return _TOKEN_PATH.sub(r"\1\2…", text)


def client(ip: str | None, mode: str) -> str:
    """The client address as the configured IP minimisation keeps it ("-" when it keeps none)."""
    return minimise_ip(ip, mode) or "-"


class DevServerFilter(logging.Filter):
    """Rewrites the development server's request lines (werkzeug: `address - - [time] "request" status size`)."""

    def __init__(self, mode: str):
        super().__init__()
        self.mode = mode

    def filter(self, record: logging.LogRecord) -> bool:
        line = record.getMessage()
        address, sep, rest = line.partition(" - - [")
        if sep:
            line = f"{client(address, self.mode)}{sep}{rest}"
        record.msg, record.args = mask_tokens(line), ()
        return True


def install_dev_server_filter(mode: str) -> None:
    """Filter the werkzeug request log with this IP minimisation mode (once per process; the latest app's mode)."""
    logger = logging.getLogger("werkzeug")
    for existing in logger.filters:
        if isinstance(existing, DevServerFilter):
            existing.mode = mode
            return
    logger.addFilter(DevServerFilter(mode))
