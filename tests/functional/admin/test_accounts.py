"""A person's own account: one-time passwords replaced at the first sign-in, a second factor, resets by an admin."""

from __future__ import annotations

import re
import time

import pyotp
from sqlalchemy import select

from leadcapture.models import AdminUser
from tests.support.admin import CSRF, PASSWORD, AdminClient, make_user, signed_in

NEW_PASSWORD = "a much longer and different password"


def change_password(client: AdminClient, current: str, new: str, again: str | None = None):
    return client.post(
        "/admin/account/password",
        {"current": current, "new": new, "again": new if again is None else again},
    )


def one_time_password(page: str) -> str:
    return re.search(r'<code id="new-password">([^<]+)</code>', page).group(1)


def user(services, email: str) -> AdminUser:
    with services.db.session() as session:
        found = session.scalar(select(AdminUser).where(AdminUser.email == email))
        session.expunge(found)
        return found


def test_a_one_time_password_must_be_replaced_before_anything_else(app, services):
    # Given an admin creates an account: the new colleague gets a one-time password
    admin = signed_in(app, services, "admin")
    created = admin.post("/admin/users", {"action": "create", "email": "new@example.com", "role": "marketer"})
    colleague = AdminClient(app, "new@example.com")
    # When the colleague signs in with it
    assert colleague.login(one_time_password(created.get_data(as_text=True))).status_code == 302
    # Then every page leads to choosing their own password
    for path in ("/admin/", "/admin/forms", "/admin/account"):
        response = colleague.get(path)
        assert response.status_code == 302 and response.headers["Location"] == "/admin/account/password", path
    page = colleague.get("/admin/account/password").get_data(as_text=True)
    assert "You signed in with a one-time password" in page
    # and a wrong current password, two different new ones or a short one are refused with the reason
    first = one_time_password(created.get_data(as_text=True))
    assert "current password is not right" in change_password(colleague, "wrong", NEW_PASSWORD).get_data(as_text=True)
    assert "not the same" in change_password(colleague, first, NEW_PASSWORD, "other").get_data(as_text=True)
    assert "at least 12" in change_password(colleague, first, "short").get_data(as_text=True)
    assert "other than the current" in change_password(colleague, first, first).get_data(as_text=True)
    # and once changed, the admin opens, the old password no longer signs in, the new one does
    assert change_password(colleague, first, NEW_PASSWORD).status_code == 302
    assert colleague.get("/admin/").status_code == 200
    assert AdminClient(app, "new@example.com").login(first).status_code == 401
    assert AdminClient(app, "new@example.com").login(NEW_PASSWORD).status_code == 302
    assert not user(services, "new@example.com").password_must_change


def test_changing_my_password_signs_out_my_other_sessions_but_not_this_one(app, services):
    here = signed_in(app, services, "privacy")
    elsewhere = AdminClient(app, "privacy@staff.example.com")
    elsewhere.login()
    assert change_password(here, PASSWORD, NEW_PASSWORD).status_code == 302
    assert here.get("/admin/people").status_code == 200
    assert elsewhere.get("/admin/people").status_code == 302  # to the login page


def test_an_admin_resets_a_colleagues_password(app, services):
    admin = signed_in(app, services, "admin")
    colleague = signed_in(app, services, "marketer")
    target = user(services, "marketer@staff.example.com")
    reset = admin.post("/admin/users", {"action": "reset-password", "user_id": str(target.id)})
    password = one_time_password(reset.get_data(as_text=True))
    assert colleague.get("/admin/forms").status_code == 302  # their sessions ended
    again = AdminClient(app, "marketer@staff.example.com")
    assert again.login(PASSWORD).status_code == 401
    assert again.login(password).status_code == 302
    assert again.get("/admin/forms").headers["Location"] == "/admin/account/password"


def enrol(client: AdminClient) -> str:
    """Turn the second factor on as a person would: read the key off the page, type the app's code."""
    page = client.get("/admin/account/2fa").get_data(as_text=True)
    assert "<svg" in page  # the QR code, inline
    secret = re.search(r"Key: <code>([A-Z2-7]+)</code>", page).group(1)
    assert client.post("/admin/account/2fa", {"code": "000000"}).status_code == 400
    assert client.post("/admin/account/2fa", {"code": pyotp.TOTP(secret).now()}).status_code == 302
    return secret


def sign_in_with_code(app, email: str, code: str):
    client = AdminClient(app, email)
    first = client.login()
    assert first.status_code == 302 and first.headers["Location"].startswith("/admin/login/code")
    token = CSRF.search(client.get("/admin/login/code").get_data(as_text=True)).group(1)
    return client, client.client.post("/admin/login/code", data={"csrf_token": token, "code": code})


def test_a_second_factor_is_asked_after_the_password_and_a_code_works_once(app, services):
    # Given a marketer who turned on the second factor
    secret = enrol(signed_in(app, services, "marketer"))
    assert user(services, "marketer@staff.example.com").totp_secret.startswith(services.vault.current_prefix)
    # When they sign in, the password alone does not open the admin
    client, wrong = sign_in_with_code(app, "marketer@staff.example.com", "123456")
    assert wrong.status_code == 401 and "not right" in wrong.get_data(as_text=True)
    assert client.get("/admin/forms").status_code == 302
    # and the app's next code does
    code = pyotp.TOTP(secret).at(time.time() + 30)
    client, right = sign_in_with_code(app, "marketer@staff.example.com", code)
    assert right.status_code == 302 and client.get("/admin/forms").status_code == 200
    # but the same code a second time does not (a code read over a shoulder)
    _, replayed = sign_in_with_code(app, "marketer@staff.example.com", code)
    assert replayed.status_code == 401


def test_the_code_page_without_a_password_first_leads_to_the_login(client):
    response = client.get("/admin/login/code")
    assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login")


def test_an_admin_resets_a_lost_second_factor(app, services, runner):
    enrol(signed_in(app, services, "marketer"))
    admin = signed_in(app, services, "admin")
    target = user(services, "marketer@staff.example.com")
    admin.post("/admin/users", {"action": "reset-2fa", "user_id": str(target.id)})
    assert user(services, "marketer@staff.example.com").totp_secret is None
    assert AdminClient(app, "marketer@staff.example.com").login().headers["Location"] == "/admin/"
    enrol(AdminClient(app, "marketer@staff.example.com").login() and signed_again(app))
    result = runner.invoke(["users", "reset-2fa", "marketer@staff.example.com"])
    assert result.exit_code == 0 and user(services, "marketer@staff.example.com").totp_secret is None
    assert runner.invoke(["users", "reset-2fa", "nobody@example.com"]).exit_code == 1


def signed_again(app) -> AdminClient:
    client = AdminClient(app, "marketer@staff.example.com")
    client.login()
    return client


def test_admins_must_set_up_a_second_factor_when_it_is_required(make_app):
    strict_app = make_app(ADMIN_2FA="required")
    services = strict_app.extensions["leadcapture"]
    admin = signed_in(strict_app, services, "admin")
    assert admin.get("/admin/users").headers["Location"] == "/admin/account/2fa"
    marketer = signed_in(strict_app, services, "marketer")  # other roles may choose
    assert marketer.get("/admin/forms").status_code == 200
    enrol(admin)
    assert admin.get("/admin/users").status_code == 200
    off = admin.post("/admin/account/2fa/disable", {"current": PASSWORD, "code": "000000"})
    assert off.status_code == 400 and "must keep a second factor" in off.get_data(as_text=True)


def test_the_cli_marks_generated_passwords_one_time_and_typed_ones_not(app, services, runner):
    runner.invoke(["users", "create", "gen@example.com", "--role", "marketer"])
    runner.invoke(
        ["users", "create", "typed@example.com", "--role", "marketer", "--password-prompt"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert user(services, "gen@example.com").password_must_change
    assert not user(services, "typed@example.com").password_must_change
    runner.invoke(["users", "password", "typed@example.com"])
    assert user(services, "typed@example.com").password_must_change
    make_user(services, "plain@example.com", "privacy")
    assert not user(services, "plain@example.com").password_must_change
