"""Rate limits (Flask-Limiter): per IP and per form on submissions, a generous per-IP ceiling elsewhere.

They sit in front of the per-address confirmation window (consent._claim_confirmation_slot), the
honeypot, the minimum fill time and the optional proof-of-work; each holds on its own.

Views declare their policy where they are declared, with the decorators below; each app gets its
own Limiter (so tests never share counters) and applies that policy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Flask, current_app, g, request
from flask_babel import lazy_gettext as _l
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import HTTPException

from leadcapture.settings import Settings
from leadcapture.web.errors import page

_POLICY = "rate_limit_policy"  # the attribute the decorators set on a view
_SUBMISSIONS, _EXEMPT, _EXEMPT_POSTS = "submissions", "exempt", "exempt-posts"
_LIMITS = "leadcapture.limits"


def limit_submissions(view: Callable) -> Callable:
    """Count each POST to view against the app's per-address limit, and each stored one against the per-form
    limit (429 past them)."""

    @wraps(view)
    def limited(*args: Any, **kwargs: Any) -> Any:
        return current_app.extensions[_LIMITS].on_submissions(view)(*args, **kwargs)

    setattr(limited, _POLICY, _SUBMISSIONS)
    return limited


def exempt(view: Callable) -> Callable:
    """Never limit view (load balancers poll health)."""
    setattr(view, _POLICY, _EXEMPT)
    return view


def exempt_posts(view: Callable) -> Callable:
    """Never limit POSTs to view: one-click unsubscribes arrive in bulk from a mailbox provider's few
    addresses and must always work (RFC 8058)."""
    setattr(view, _POLICY, _EXEMPT_POSTS)
    return view


def _policy() -> str | None:
    return getattr(current_app.view_functions.get(request.endpoint or ""), _POLICY, None)


def _exempt() -> bool:
    policy = _policy()
    # Static files are cached, and never limited.
    return request.endpoint == "static" or policy == _EXEMPT or (policy == _EXEMPT_POSTS and request.method == "POST")


class _Limits:
    """One app's Limiter and the submission limits it puts on the views declared with limit_submissions."""

    def __init__(self, limiter: Limiter, submission_limits: list[Callable[[Callable], Callable]]):
        self.limiter = limiter
        self._submission_limits = submission_limits
        self._limited: dict[Callable, Callable] = {}

    def on_submissions(self, view: Callable) -> Callable:
        """view behind this app's submission limits (wrapped once per app and view)."""
        limited = self._limited.get(view)
        if limited is None:
            limited = view
            for decorate in self._submission_limits:
                limited = decorate(limited)
            self._limited[view] = limited
        return limited


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


def mark_stored() -> None:
    """Record that this request stored a submission: only those use up the form's budget."""
    g.submission_stored = True


def _stored(_response: Any) -> bool:
    # Bot posts (honeypot, time trap, proof of work, replayed token) store nothing: if they counted,
    # a few bots could close a form to everyone.
    return bool(g.get("submission_stored"))


def register(app: Flask) -> Limiter:
    """Attach a Limiter to app (one per app, so tests never share counters) and the views' policies."""
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    settings: Settings = app.extensions["leadcapture"].settings
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
    # A disabled Limiter still walks its limits on every call of a decorated view: no decorators then.
    submission_limits = [
        limiter.limit(limit, methods=["POST"], key_func=key_func, deduct_when=deduct_when)
        for limit, key_func, deduct_when in (
            (settings.ratelimit_submit_per_ip, client_key, None),
            (settings.ratelimit_submit_per_form, _form_key, _stored),
        )
        if limit and limiter.enabled
    ]
    app.extensions[_LIMITS] = _Limits(limiter, submission_limits)

    @app.errorhandler(429)
    def too_many(exc: HTTPException):
        if request.path.startswith("/api/"):
            return {"error": "Too Many Requests", "status": 429, "limit": str(exc.description)}, 429
        form_body = _l("Too many forms were sent from your connection. Please wait a few minutes and try again.")
        return page(429, body=form_body if _policy() == _SUBMISSIONS else None)

    return limiter
