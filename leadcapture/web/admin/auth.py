"""Admin sign-in and the rules every admin view follows: roles, CSRF on every POST, no caching, audit.

The blueprint lives here; the sections' views (staff, forms, people, funnel) import it and these
helpers from this module.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import generate_csrf, validate_csrf
from werkzeug.exceptions import HTTPException
from wtforms import ValidationError

from leadcapture.backoffice import accounts, twofactor
from leadcapture.backoffice.accounts import may
from leadcapture.consent.formdefs import MAX_ASSET_BYTES
from leadcapture.models import AdminUser, utcnow
from leadcapture.web.context import get_services, get_session, use_language
from leadcapture.web.ratelimit import client_key

bp = Blueprint("admin", __name__, url_prefix="/admin")
SESSION_MAX_AGE = timedelta(hours=12)
PRE_AUTH_MAX_BYTES = 8 * 1024  # the login form is an email, a password and a CSRF token
ADMIN_MAX_BYTES = MAX_ASSET_BYTES + 1024 * 1024  # a whitepaper upload: the largest body any view takes
_PUBLIC_ENDPOINTS = {"admin.login", "admin.login_code", "admin.static"}
# What a signed-in person may still open while the account must first get a new password or a second factor.
_SETUP_ENDPOINTS = {"admin.account_password", "admin.account_2fa", "admin.logout", "admin.static"}
PENDING_MAX_AGE = timedelta(minutes=5)  # between the password and the code


def current_user() -> AdminUser | None:
    """The signed-in account of this request, if any."""
    return g.get("admin_user")


def audit(action: str, target: str | None = None, **detail: Any) -> None:
    """Record a state-changing action by the signed-in user in the request's transaction."""
    accounts.audit(get_session(), current_user(), action, target, ip=request.remote_addr, detail=detail or None)


def download(body: str | bytes, content_type: str, filename: str) -> Response:
    """A response the browser saves as a file."""
    response = make_response(body)
    response.headers["Content-Type"] = content_type
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def require(permission: str) -> Callable:
    """Allow the view only to roles with this permission (403 for the others)."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:  # the before_request guard normally answered already
                abort(401)
            if not may(user.role, permission):
                abort(403)
            return view(*args, **kwargs)

        wrapper.permission = permission  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _load_user() -> AdminUser | None:
    uid, epoch, since = session.get("admin_uid"), session.get("admin_epoch"), session.get("admin_since", 0)
    if uid is None:
        return None
    user = get_session().get(AdminUser, uid)
    expired = utcnow().timestamp() - since > SESSION_MAX_AGE.total_seconds()
    if user is None or user.disabled_at is not None or user.session_epoch != epoch or expired:
        session.clear()
        return None
    return user


@bp.before_request
def guard():
    """Signed-in users only (except the login page); a valid CSRF token on every POST."""
    use_language("en")  # the admin is English, WTForms' own messages too (a form preview switches)
    g.admin_user = _load_user()
    # Before sign-in only the login form arrives: nobody unauthenticated makes us read megabytes.
    request.max_content_length = ADMIN_MAX_BYTES if g.admin_user else PRE_AUTH_MAX_BYTES
    request.max_form_memory_size = 2 * 1024 * 1024
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        try:
            validate_csrf(request.form.get("csrf_token") or request.headers.get("X-CSRFToken"))
        except ValidationError:
            return render_template(
                "admin/error.html",
                status=400,
                message="The form has expired or was not sent from this site. Go back, reload the page and try again.",
            ), 400
    if g.admin_user is None and request.endpoint not in _PUBLIC_ENDPOINTS:
        if request.method in ("GET", "HEAD"):
            # Only the path: a query string the request named is never carried into a redirect.
            return redirect(url_for("admin.login", next=request.path))
        abort(401)
    if g.admin_user is not None and request.endpoint not in _SETUP_ENDPOINTS:
        if g.admin_user.password_must_change:
            return redirect(url_for("admin.account_password"))
        if second_factor_missing(g.admin_user):
            return redirect(url_for("admin.account_2fa"))
    return None


def second_factor_missing(user: AdminUser) -> bool:
    """Whether the settings require a second factor of this account and it has none yet."""
    required = get_services().settings.admin_2fa == "required" and user.role == "admin"
    return required and not twofactor.enabled(user)


@bp.after_request
def no_store(response):
    """Admin pages hold personal data: never cache them."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.context_processor
def helpers() -> dict[str, Any]:
    user = current_user()
    return {"csrf_token": generate_csrf, "user": user, "may": lambda p: bool(user and may(user.role, p))}


@bp.errorhandler(HTTPException)
def admin_error(exc: HTTPException):
    messages = {
        401: "Please sign in first.",
        403: "Your role does not allow this. Ask an admin if you need access.",
        404: "There is nothing here.",
        413: "The upload is too large.",
    }
    message = messages.get(exc.code or 400, exc.description or "That did not work.")
    return render_template("admin/error.html", status=exc.code, message=message), exc.code


def _local(target: str | None) -> str | None:
    """`target` if it is a local admin path, else None: never send anyone to another site."""
    if target and target.startswith("/admin/") and not urlsplit(target).netloc and "\\" not in target:
        return target
    return None


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a local admin path, or the start page."""
    return _local(target) or url_for("admin.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in. Wrong email and wrong password get the same answer."""
    error = None
    email = ""
    if request.method == "POST":
        email = request.form.get("email", "")[:254]
        password = request.form.get("password", "")[:1024]
        db = get_session()
        ip, client = request.remote_addr, client_key()
        if accounts.throttled(db, email, client):
            return render_template(
                "admin/login.html", email=email, error="Too many failed attempts. Wait 15 minutes and try again."
            ), 429
        user = accounts.authenticate(db, email, password)
        if user is None:
            accounts.record_failed_login(db, email, client)
            db.commit()
            error = "Wrong email or password."
        elif twofactor.enabled(user):
            session.clear()
            session["pending_uid"], session["pending_epoch"] = user.id, user.session_epoch
            session["pending_since"] = utcnow().timestamp()
            db.commit()
            return redirect(url_for("admin.login_code", next=_local(request.args.get("next"))))
        else:
            return _sign_in(user, ip)
    status = 401 if error else 200
    return render_template("admin/login.html", email=email, error=error), status


def _sign_in(user: AdminUser, ip: str | None) -> Response:
    db = get_session()
    next_page = request.args.get("next")
    session.clear()  # nothing from before the login survives (session fixation)
    session["admin_uid"], session["admin_epoch"] = user.id, user.session_epoch
    session["admin_since"] = utcnow().timestamp()
    accounts.audit(db, user, "login", user.email, ip=ip)
    db.commit()
    return redirect(_safe_next(next_page))


def _pending_user() -> AdminUser | None:
    """The account whose password was right a moment ago and whose code is asked now."""
    uid, epoch, since = session.get("pending_uid"), session.get("pending_epoch"), session.get("pending_since", 0)
    if uid is None or utcnow().timestamp() - since > PENDING_MAX_AGE.total_seconds():
        return None
    user = get_session().get(AdminUser, uid)
    if user is None or user.disabled_at is not None or user.session_epoch != epoch or not twofactor.enabled(user):
        return None
    return user


@bp.route("/login/code", methods=["GET", "POST"])
def login_code():
    """The second step of signing in: the current code of the account's authenticator app."""
    user = _pending_user()
    if user is None:
        session.clear()
        flash("Sign in with your email and password first.", "error")
        return redirect(url_for("admin.login", next=_local(request.args.get("next"))))
    error = None
    if request.method == "POST":
        db, client = get_session(), client_key()
        if accounts.throttled(db, user.email, client):
            return render_template(
                "admin/login_code.html", error="Too many failed attempts. Wait 15 minutes and try again."
            ), 429
        if twofactor.verify(user, get_services().vault, request.form.get("code", "")[:32]):
            return _sign_in(user, request.remote_addr)
        accounts.record_failed_login(db, user.email, client)
        db.commit()
        error = "That code is not right. Type the 6 digits your app shows now."
    return render_template("admin/login_code.html", error=error), 401 if error else 200


@bp.post("/logout")
def logout():
    """Sign out (a POST with the CSRF token, so no other site can sign you out)."""
    audit("logout", current_user().email)
    accounts.end_sessions(current_user())  # a copy of the cookie stops working too
    get_session().commit()
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("admin.login"))
