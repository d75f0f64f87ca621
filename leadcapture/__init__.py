"""leadcapture: inbound lead capture with per-purpose double opt-in and a consent ledger."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the web app: settings, services, broker, blueprints (the web's composition root).

    The imports are local so that importing the domain (`leadcapture.consent`, as workers and
    the CLI do) never loads the web layer.
    """
    from flask_babel import Babel

    from leadcapture.backoffice.funnel import ViewCounter
    from leadcapture.i18n import TRANSLATIONS_DIR, language_name
    from leadcapture.models.brands import DEFAULT_AUTHORITY_NAME
    from leadcapture.settings import DEFAULTS, flask_config, load_settings
    from leadcapture.web import admin, api, dev, errors, health, hooks, public, ratelimit, security
    from leadcapture.web.context import close_session, local_date, local_number, page_language, page_translations
    from leadcapture.web.security import RowIdConverter, TextConverter
    from workers.boot import boot

    settings = load_settings(test_config)
    app = Flask(__name__)
    # No "add a trailing slash" redirects: werkzeug builds them from the request's Host header.
    app.url_map.strict_slashes = False
    # Before the routes are added: a huge id or a NUL in a URL is a 404, not a database error.
    app.url_map.converters.update(int=RowIdConverter, default=TextConverter, string=TextConverter)
    app.config.update(flask_config(settings))
    app.config.update({k: v for k, v in (test_config or {}).items() if k not in DEFAULTS})  # Flask's own, in tests
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app.extensions["leadcapture"] = services = boot(settings)  # the broker runs the jobs with these services
    app.extensions["leadcapture.views"] = ViewCounter(services.db)
    app.teardown_appcontext(close_session)
    # Pages speak the language of their form or person (g.language), never the browser's.
    Babel(app, locale_selector=page_language, default_translation_directories=str(TRANSLATIONS_DIR))
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]  (Flask-Babel's, with the catalog held)
        gettext=lambda s: page_translations().ugettext(s),
        ngettext=lambda s, p, n: page_translations().ungettext(s, p, n),
        pgettext=lambda c, s: page_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: page_translations().unpgettext(c, s, p, n),
        newstyle=True,
    )
    app.jinja_env.globals["default_authority"] = DEFAULT_AUTHORITY_NAME
    app.jinja_env.filters["local_date"] = local_date
    app.jinja_env.filters["local_number"] = local_number
    app.jinja_env.filters["language_name"] = language_name  # the admin's language menus

    for blueprint in public.BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.register_blueprint(health.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(hooks.bp)
    if dev.enabled(settings):
        app.register_blueprint(dev.bp)
    errors.register(app)
    security.register(app)
    ratelimit.register(app)
    return app


def serve_embedded(app: Flask, host: str, port: int, threads: int) -> None:
    """Serve the app in this process until interrupted (leadcapture.web.serving): the embedded server."""
    from leadcapture.web.serving import serve

    serve(app, host, port, threads)
