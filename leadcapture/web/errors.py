"""Friendly error pages: every error a visitor can meet is a page in their language, never a trace."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

NOT_POSSIBLE = (
    _l("Something is wrong with this request"),
    _l("The request could not be processed. Go back and try again."),
)
SERVER_ERROR = (
    _l("Temporarily unavailable"),
    _l("We could not process this right now. Nothing was lost; please try again in a moment."),
)
# The heading and text of each status's page, translated when the page renders.
_PAGES = {
    404: (_l("Page not found"), _l("This page does not exist (any more).")),
    405: (_l("Not possible"), NOT_POSSIBLE[1]),
    413: (_l("Too much data"), _l("The request was larger than we accept.")),
    429: (_l("Too many requests"), _l("Please wait a moment before trying again.")),
    503: SERVER_ERROR,
    500: SERVER_ERROR,
}
LINK_INVALID = (
    _l("This link does not work"),
    _l("The link is incomplete or was changed. Copy the whole link from the email, or request the whitepaper again."),
)


class InvalidLink(Exception):
    """A link that cannot be used (tampered, expired, or its rows are gone): a page saying so."""

    def __init__(self, title: str = LINK_INVALID[0], body: str = LINK_INVALID[1], status: int = 404):
        super().__init__(title, body, status)
        self.title, self.body, self.status = title, body, status


def page(status: int, title: str | None = None, body: str | None = None):
    """Render the generic message page for a status code (title and body: lazy_gettext strings)."""
    default_title, default_body = _PAGES.get(status, NOT_POSSIBLE)
    return render_template("message.html", title=title or default_title, body=body or default_body), status


def register(app: Flask) -> None:
    """Install the handlers."""

    @app.errorhandler(InvalidLink)
    def invalid_link(exc: InvalidLink):
        return page(exc.status, exc.title, exc.body)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if request.path.startswith(("/api/", "/healthz")):
            return {"error": exc.name, "status": exc.code}, exc.code
        return page(exc.code or 400)

    @app.errorhandler(OperationalError)
    def database_down(exc: OperationalError):
        log.error("database unavailable: %s", exc.orig)
        return page(503)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return page(500)
