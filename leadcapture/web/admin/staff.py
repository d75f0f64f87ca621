"""The admin's start page, staff accounts, API tokens and the audit log."""

from __future__ import annotations

from datetime import timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadcapture.backoffice import accounts, funnel, twofactor
from leadcapture.backoffice.accounts import AccountError
from leadcapture.db import row_id
from leadcapture.models import API_SCOPES, ROLES, AdminUser, ApiToken, AuditEntry, utcnow
from leadcapture.web.admin.auth import audit, bp, current_user, require
from leadcapture.web.context import get_session


@bp.get("/")
def index():
    """The start page: the sections this role may use and, for who reads the funnel, the last weeks."""
    dashboard = None
    if accounts.may(current_user().role, "funnel"):
        today = utcnow().date()
        week = funnel.overview(get_session(), today - timedelta(days=6), today)
        month = funnel.overview(get_session(), today - timedelta(days=29), today)
        converting = [f for f in month if f["conversion"] is not None]
        dashboard = {
            "forms": list(zip(week, month, strict=True)),
            "best": max(converting, key=lambda f: f["conversion"]) if converting else None,
            "unsubscribed": (sum(f["withdrawn"] for f in week), sum(f["withdrawn"] for f in month)),
        }
    return render_template("admin/index.html", dashboard=dashboard)


@bp.route("/users", methods=["GET", "POST"])
@require("users")
def users():
    """Admins list, create, disable and re-enable accounts and change their roles."""
    db = get_session()
    new_password = None
    if request.method == "POST":
        action = request.form.get("action", "")
        try:
            new_password = _user_action(db, action)
        except AccountError as exc:
            flash(str(exc), "error")
        else:
            db.commit()
            if new_password is None:
                return redirect(url_for("admin.users"))
    rows = db.scalars(select(AdminUser).order_by(AdminUser.email)).all()
    return render_template("admin/users.html", rows=rows, roles=ROLES, new_password=new_password)


def _user_action(db: Session, action: str) -> str | None:
    if action == "create":
        password = accounts.generate_password()
        email, role = request.form.get("email", ""), request.form.get("role", "")
        user = accounts.create_user(db, email, role, password, one_time=True)
        audit("user.create", user.email, role=user.role)
        flash(
            f"Created {user.role} {user.email}. Give them this one-time password privately; "
            "they choose their own at the first sign-in."
        )
        return password
    user = db.get(AdminUser, request.form.get("user_id", type=row_id) or 0)
    if user is None:
        abort(404)
    if user.id == current_user().id:
        raise AccountError("you cannot change your own account here (ask another admin)")
    if action == "role":
        role = request.form.get("role", "")
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        audit("user.role", user.email, old=user.role, new=role)
        user.role = role
        accounts.end_sessions(user)
    elif action in ("disable", "enable"):
        user.disabled_at = utcnow() if action == "disable" else None
        accounts.end_sessions(user)
        audit(f"user.{action}", user.email)
    elif action == "reset-password":
        password = accounts.generate_password()
        accounts.set_password(user, password, one_time=True)  # ends their sessions
        audit("user.password", user.email, via="admin")
        flash(f"New one-time password for {user.email}. Give it to them privately; their sessions are ended.")
        return password
    elif action == "reset-2fa":
        twofactor.disable(user)
        accounts.end_sessions(user)
        audit("user.2fa.disable", user.email, via="admin")
    else:
        abort(400)
    flash(f"Saved: {user.email}.")
    return None


@bp.get("/audit")
@require("audit")
def audit_log():
    """The audit log, newest first, 100 entries a page."""
    before = request.args.get("before", type=row_id)
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(100)
    if before:
        stmt = stmt.where(AuditEntry.id < before)
    action = request.args.get("action", "").strip()
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    rows = get_session().scalars(stmt).all()
    return render_template("admin/audit.html", rows=rows, action=action)


@bp.route("/tokens", methods=["GET", "POST"])
@require("tokens")
def tokens():
    """Admins create API tokens (shown once) and revoke them."""
    db = get_session()
    new_token = _token_action(db) if request.method == "POST" else None
    rows = db.scalars(select(ApiToken).order_by(ApiToken.id.desc())).all()
    return render_template("admin/tokens.html", rows=rows, new_token=new_token, scopes=SCOPE_LABELS)


SCOPE_LABELS = {
    "may-contact:read": "Ask whether an address may be contacted (POST /api/v1/may-contact)",
    "contacts:read": "List the people who may be contacted, with their details (GET /api/v1/contacts)",
}


def _token_action(db: Session) -> str | None:
    """Revoke the named token or create one; a new token's secret, to show once."""
    new_token = None
    if request.form.get("action") == "revoke":
        row = db.get(ApiToken, request.form.get("token_id", type=row_id) or 0)
        if row is None:
            abort(404)
        row.revoked_at = row.revoked_at or utcnow()
        audit("token.revoke", f"{row.name} ({row.prefix}…)")
        flash(f"Revoked {row.name}.")
    else:
        try:
            row, new_token = accounts.create_api_token(db, request.form.get("name", ""), current_user().email)
        except AccountError as exc:
            flash(str(exc), "error")
        else:
            row.scopes = " ".join(scope for scope in API_SCOPES if request.form.get(f"scope_{scope}"))
            if not row.scopes:
                db.rollback()
                flash("Choose at least one scope: what the token may do.", "error")
                return None
            audit("token.create", f"{row.name} ({row.prefix}…)", scopes=row.scopes)
    db.commit()
    return new_token
