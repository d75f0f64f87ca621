"""Rate limits (Flask-Limiter): per IP and per form on submissions, a generous per-IP ceiling elsewhere.

They sit in front of the per-address confirmation window (consent._claim_confirmation_slot), the
honeypot, the minimum fill time and the optional proof-of-work; each holds on its own.
"""

from __future__ import annotations

import ipaddress

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import HTTPException

from leadcapture.settings import Settings
from leadcapture.web.errors import page

# Never limited: load balancers poll health; static files are cached; one-click unsubscribe POSTs
# arrive in bulk from a mailbox provider's few addresses and must always work (RFC 8058).
_EXEMPT_ENDPOINTS = {"static", "health.healthz"}


def _storage_options(settings: Settings) -> dict:
    if settings.ratelimit_storage.startswith(("redis", "unix")):
        return {"socket_connect_timeout": 2, "socket_timeout": 2}
    return {}


def client_key() -> str:
    """The client's address; an IPv6 client counts per /64, since one host usually holds a whole /64."""
    address = get_remote_address() or ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _form_key() -> str:
    return "form:" + str((request.view_args or {}).get("slug", ""))


def _exempt() -> bool:
    if request.endpoint in _EXEMPT_ENDPOINTS or (request.endpoint or "").startswith("health."):
        return True
    return request.endpoint == "public.unsubscribe" and request.method == "POST"


def register(app: Flask) -> Limiter:
    """Attach a Limiter to app (one per app, so tests never share counters) and limit the views."""
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    settings: Settings = app.extensions["leadcapture"].settings

    @app.before_request
    def frame_ancestors_for_limited_forms() -> None:
        # Runs before the limiter: a 429 inside an embed must still be allowed in the frame.
        if request.endpoint == "public.form" and request.view_args:
            from leadcapture.web.public.pages import frame_ancestors_for_slug

            frame_ancestors_for_slug(request.view_args["slug"])

    limiter = Limiter(
        client_key,
        app=app,
        storage_uri=settings.ratelimit_storage,
        storage_options=_storage_options(settings),
        key_prefix="leadcapture-rl",
        # One ceiling per address across every page (not per endpoint).
        application_limits=[settings.ratelimit_per_ip] if settings.ratelimit_per_ip else [],
        application_limits_exempt_when=_exempt,
        strategy="moving-window",
        swallow_errors=True,  # a Redis outage must not take the forms down; the window still holds
        in_memory_fallback_enabled=True,
        headers_enabled=True,
    )
    submit_limits = [
        limiter.limit(limit, methods=["POST"], key_func=key_func)
        for limit, key_func in (
            (settings.ratelimit_submit_per_ip, client_key),
            (settings.ratelimit_submit_per_form, _form_key),
        )
        if limit
    ]
    view = app.view_functions["public.form"]
    for decorate in submit_limits:
        view = decorate(view)
    app.view_functions["public.form"] = view
    app.extensions["leadcapture.limiter"] = limiter

    @app.errorhandler(429)
    def too_many(exc: HTTPException):
        if request.path.startswith("/api/"):
            return {"error": "Too Many Requests", "status": 429, "limit": str(exc.description)}, 429
        return page(429, body_key="too_many_form_body" if request.endpoint == "public.form" else None)

    return limiter
