"""Security at the web boundary: a well-formed Host header, then security headers on every response."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Request, Response, g, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter, UnicodeConverter

from leadcapture.db import MAX_ID

log = logging.getLogger(__name__)

# A DNS name (labels of 1-63 letters, digits, hyphens or underscores), an IPv4 address or a bracketed
# IPv6 literal, with an optional port: what a browser or proxy sends as Host (IDNs arrive as punycode).
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOST = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*\.?|\[[0-9A-Fa-f:.]{{2,45}}\])(?::[0-9]{{1,5}})?")
_MAX_HOST_LENGTH = 253 + 6  # the longest DNS name, and a port


def valid_host(host: str) -> bool:
    """Whether host is a well-formed Host header value that URL building can encode."""
    if len(host) > _MAX_HOST_LENGTH or not _HOST.fullmatch(host):
        return False
    try:
        host.partition(":")[0].encode("idna")  # what werkzeug does before it can build any URL
    except UnicodeError:
        return False
    return True


class RowIdConverter(IntegerConverter):
    """The `<int:...>` of every route: ASCII digits; a number beyond the largest row id names no row (404)."""

    regex = r"[0-9]+"  # ASCII only: \d also matches the digits of other scripts

    def to_python(self, value: str) -> int:
        # 0 names no row either, and binds on every database. Refusing the match instead would
        # make the routing answer 405 where the same path has a route for another method.
        number = int(value)
        return number if number <= MAX_ID else 0


class TextConverter(UnicodeConverter):
    """The `<name>` of every route: one path segment without control characters (a NUL is a 404, not a DB error)."""

    def __init__(self, map: Any, **options: Any):
        super().__init__(map, **options)
        self.regex = self.regex.replace("[^/]", "[^/\\x00-\\x1f\\x7f]", 1)


NUL_REFUSED = "A NUL character is not allowed in a form or query value."


class NoNulRequest(Request):
    """Flask's request, refusing a NUL in any form value (400) when a view first reads the form.

    No field needs one and PostgreSQL text cannot hold one. Checked where the form is parsed, so
    after each blueprint has set its body limit; the query string is checked before any view.
    """

    def _load_form_data(self) -> None:
        super()._load_form_data()
        names = [file.filename or "" for file in self.files.values()]
        if _has_nul(self.form) or any("\x00" in name for name in names):
            self.form, self.files = ImmutableMultiDict(), ImmutableMultiDict()
            raise BadRequest(NUL_REFUSED)


def _has_nul(values: Any) -> bool:
    return any("\x00" in str(name) + str(value) for name, value in values.items(multi=True))


def refuse_nul_in_query() -> None:
    """A NUL in a query value or name is a 400 before any view runs."""
    if _has_nul(request.args):
        raise BadRequest(NUL_REFUSED)


class HostCheck:
    """WSGI middleware: a request with a malformed Host header gets a plain 400 and one log line.

    Werkzeug cannot build URLs for such a host, so without this every page that links anywhere
    fails, each with a long chain of tracebacks.
    """

    def __init__(self, wsgi_app: Callable):
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        host = environ.get("HTTP_HOST")
        if host is None:  # HTTP/1.0 without Host: werkzeug uses the server's own name
            return self.wsgi_app(environ, start_response)
        if valid_host(host):
            return self.wsgi_app(environ, start_response)
        log.warning("400 for a malformed Host header (%d characters)", len(host))
        body = b"Bad Request: malformed Host header\n"
        start_response(
            "400 Bad Request",
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("X-Content-Type-Options", "nosniff"),
                ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
            ],
        )
        return [body]


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed session cookie, its signer made once per set of keys rather than on every request."""

    _signer: tuple[tuple[Any, ...], Any] = ((), None)

    def get_signing_serializer(self, app: Flask) -> Any:
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        if self._signer[0] != keys:
            self._signer = (keys, super().get_signing_serializer(app))
        return self._signer[1]


def register(app: Flask) -> None:
    """Check the Host header before Flask sees it, refuse NUL in query and form values, and add CSP, framing,
    sniffing and referrer headers to every response."""
    app.wsgi_app = HostCheck(app.wsgi_app)  # type: ignore[method-assign]
    app.request_class = NoNulRequest
    app.session_interface = CookieSessions()
    app.before_request(refuse_nul_in_query)

    @app.after_request
    def headers(response: Response) -> Response:
        ancestors = g.get("frame_ancestors") or "'none'"
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            f"form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors {ancestors}",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # Links carry tokens: never leak them to other sites through the Referer header.
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if app.config["BASE_URL"].startswith("https://"):
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response
