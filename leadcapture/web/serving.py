"""The embedded server: `leadcapture serve` without --production serves the app in its own process with waitress.

A fixed pool of threads (LEADCAPTURE_WEB_THREADS) takes requests that waitress has read whole,
so a slow or idle client holds a socket but no thread, and the database pool fits the threads.
(Werkzeug's development server started a thread per connection, without a limit or a timeout.)
"""

from __future__ import annotations

import logging

import waitress
from flask import Flask

from leadcapture.web.accesslog import AccessLog
from leadcapture.web.admin.auth import ADMIN_MAX_BYTES


def serve(app: Flask, host: str, port: int, threads: int) -> None:
    """Serve until interrupted, one minimised and masked log line per request."""
    settings = app.extensions["leadcapture"].settings
    # waitress warns of queued requests at every burst; the request log shows the load already
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    waitress.serve(
        AccessLog(app, settings.ip_minimisation),
        host=host,
        port=port,
        threads=threads,
        # Idle or slow clients hold a socket each, no thread: as many as gunicorn's worker_connections,
        # watched with poll() (select() stops at 1024 descriptors), closed after 30 s without a byte.
        connection_limit=1000,
        asyncore_use_poll=True,
        channel_timeout=30,
        ident="",  # no Server header naming the software
        max_request_body_size=ADMIN_MAX_BYTES,  # a larger body is a 413 before it is read
        _quiet=True,  # the serve command prints its own lines
    )
