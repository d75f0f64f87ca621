"""The WSGI entry point for gunicorn: `gunicorn 'leadcapture.wsgi:app'` (settings from LEADCAPTURE_*)."""

from __future__ import annotations

from leadcapture import create_app

app = create_app()
