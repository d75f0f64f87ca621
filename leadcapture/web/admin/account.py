"""The signed-in person's own account: a new password, and the authenticator app as a second factor."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for

from leadcapture.backoffice import accounts, twofactor
from leadcapture.backoffice.accounts import AccountError
from leadcapture.web.admin.auth import audit, bp, current_user, second_factor_missing
from leadcapture.web.context import get_services, get_session

# The secret being enrolled waits in the signed session cookie until a code confirms it: the page
# shows it to this person anyway, and only a confirmed secret is stored (encrypted).
_SETUP_SECRET = "totp_setup_secret"  # noqa: S105  (the session key's name)


def _page(status: int = 200, **context):
    user = current_user()
    return render_template(
        "admin/account.html",
        two_factor=twofactor.enabled(user),
        required=get_services().settings.admin_2fa == "required" and user.role == "admin",
        **context,
    ), status


@bp.get("/account")
def account():
    """Your account: change the password, turn the second factor on or off."""
    return _page()


@bp.route("/account/password", methods=["GET", "POST"])
def account_password():
    """Choose a new password (required after a one-time password); other sessions end."""
    user = current_user()
    if request.method == "GET":
        return _page(must_change=user.password_must_change)
    new, again = request.form.get("new", "")[:1024], request.form.get("again", "")[:1024]
    try:
        if new != again:
            raise AccountError("the two new passwords are not the same")
        accounts.change_own_password(user, request.form.get("current", "")[:1024], new)
    except AccountError as exc:
        return _page(400, must_change=user.password_must_change, password_error=str(exc))
    audit("user.password", user.email, via="account")
    get_session().commit()
    session["admin_epoch"] = user.session_epoch  # this session goes on; every other one ended
    flash("Your password is changed. Other sessions of this account are signed out.")
    return redirect(url_for("admin.account_2fa") if second_factor_missing(user) else url_for("admin.account"))


@bp.route("/account/2fa", methods=["GET", "POST"])
def account_2fa():
    """Enrol an authenticator app: scan the code, type what it shows."""
    user = current_user()
    if twofactor.enabled(user):
        return redirect(url_for("admin.account"))
    secret = session.get(_SETUP_SECRET) or twofactor.new_secret()
    session[_SETUP_SECRET] = secret
    error = None
    if request.method == "POST":
        if twofactor.enable(user, get_services().vault, secret, request.form.get("code", "")[:32]):
            session.pop(_SETUP_SECRET, None)
            audit("user.2fa.enable", user.email)
            get_session().commit()
            flash("The second factor is on: from now on you sign in with a code from your app.")
            return redirect(url_for("admin.account"))
        error = "That code does not match. Check the time on your phone and type the code it shows now."
    uri = twofactor.provisioning_uri(secret, user.email)
    return _page(
        400 if error else 200,
        setup=True,
        secret=secret,
        qr=twofactor.qr_svg(uri),
        code_error=error,
        required_now=second_factor_missing(user),
    )


@bp.post("/account/2fa/disable")
def account_2fa_disable():
    """Turn the second factor off: proven with the password and a current code."""
    user = current_user()
    services = get_services()
    if services.settings.admin_2fa == "required" and user.role == "admin":
        return _page(400, off_error="Admin accounts must keep a second factor here (LEADCAPTURE_ADMIN_2FA=required).")
    try:
        if not accounts.password_matches(user, request.form.get("current", "")[:1024]):
            raise AccountError("the password is not right")
        if not twofactor.verify(user, services.vault, request.form.get("code", "")[:32]):
            raise AccountError("that code is not right")
    except AccountError as exc:
        get_session().commit()  # a used code stays used
        return _page(400, off_error=str(exc))
    twofactor.disable(user)
    audit("user.2fa.disable", user.email, via="account")
    get_session().commit()
    flash("The second factor is off. You sign in with your password only.")
    return redirect(url_for("admin.account"))
