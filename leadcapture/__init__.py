"""leadcapture: inbound lead capture with per-purpose double opt-in and a consent ledger."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the web app: settings, core services, broker, blueprints."""
    from .config import load_config
    from .core import Core
    from .db import close_session
    from .i18n import translate

    app = Flask(__name__)
    # No "add a trailing slash" redirects: werkzeug builds them from the request's Host header.
    app.url_map.strict_slashes = False
    load_config(app, test_config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app.extensions["leadcapture"] = Core(app.config)
    app.teardown_appcontext(close_session)
    app.jinja_env.globals["_"] = translate

    from workers import broker

    broker.setup(app)

    from .web import admin, api, dev, errors, health, preferences, public, ratelimit, security

    app.register_blueprint(public.bp)
    app.register_blueprint(preferences.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(api.bp)
    if dev.enabled(app.config):
        app.register_blueprint(dev.bp)
    errors.register(app)
    security.register(app)
    ratelimit.register(app)
    return app
