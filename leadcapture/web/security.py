"""Security headers on every response."""

from __future__ import annotations

from flask import Flask, Response, g


def register(app: Flask) -> None:
    """Add CSP, framing, sniffing and referrer headers to every response."""

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
