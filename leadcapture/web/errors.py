"""Friendly error pages: every error a visitor can meet is a page in their language, never a trace."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from leadcapture.i18n import translate

log = logging.getLogger(__name__)

_PAGES = {
    404: ("not_found_title", "not_found_body"),
    405: ("method_not_allowed_title", "bad_request_body"),
    413: ("too_large_title", "too_large_body"),
    429: ("too_many_title", "too_many_body"),
    503: ("server_error_title", "server_error_body"),
    500: ("server_error_title", "server_error_body"),
}


class InvalidLink(Exception):
    """A link that cannot be used (tampered, expired, or its rows are gone): a page saying so."""

    def __init__(self, title_key: str = "token_invalid_title", body_key: str = "token_invalid_body", status: int = 404):
        super().__init__(title_key, body_key, status)
        self.title_key, self.body_key, self.status = title_key, body_key, status


def page(status: int, title_key: str | None = None, body_key: str | None = None):
    """Render the generic message page for a status code."""
    default_title, default_body = _PAGES.get(status, ("bad_request_title", "bad_request_body"))
    return (
        render_template(
            "message.html",
            title=translate(title_key or default_title),
            body=translate(body_key or default_body),
        ),
        status,
    )


def register(app: Flask) -> None:
    """Install the handlers."""

    @app.errorhandler(InvalidLink)
    def invalid_link(exc: InvalidLink):
        return page(exc.status, exc.title_key, exc.body_key)

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
