"""Production processes: the web app under gunicorn (workers.supervisor runs many worker processes)."""

from __future__ import annotations

import os
from typing import Any

from leadcapture.settings import Settings


def gunicorn_options(settings: Settings, bind: str, workers: int | None, threads: int | None) -> dict[str, Any]:
    """The gunicorn settings `leadcapture serve --production` uses (also the documented command line)."""
    return {
        "bind": bind,
        "workers": workers or settings.web_workers,
        "threads": threads or settings.web_threads,
        "worker_class": "gthread",
        "graceful_timeout": 30,
        "timeout": 30,
        "keepalive": 5,
        "accesslog": "-",
        "errorlog": "-",
        # Loaded by name (the CLI imports no web module): client addresses minimised, link tokens masked.
        "logger_class": "leadcapture.web.gunicorn_log.AccessLogger",
        # gunicorn's own variable, honoured as gunicorn itself would: it configures the proxy, not leadcapture.
        "forwarded_allow_ips": os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        "proc_name": "leadcapture-web",
    }


def run_gunicorn(options: dict[str, Any]) -> None:
    """Serve leadcapture.wsgi:app with gunicorn; returns when gunicorn has shut down (SIGTERM: graceful)."""
    # gunicorn is the optional `production` extra: only `serve --production` needs it installed.
    from gunicorn.app.base import BaseApplication

    class Application(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            # Importing the WSGI module builds the app: here, in the gunicorn process that serves it.
            from leadcapture.wsgi import app

            return app

    Application().run()
