"""Admin accounts: the users CLI, login, sessions, throttling, CSRF, roles on every view, audit."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from leadcapture import create_app
from leadcapture.models import AdminUser, AuditEntry
from tests.support.admin import CSRF, PASSWORD, AdminClient, make_user, signed_in
from tests.support.app import make_config, submit

# Values for the URL parameters of every admin route.
ARGS = {
    "slug": "sales-machine",
    "number": 1,
    "person_id": 1,
    "purpose": "newsletter",
    "channel": "email",
    "endpoint_id": 1,
    "delivery_id": 1,
    "fmt": "json",
    "campaign_id": 1,
}


PUBLIC = ("admin.login", "admin.login_code", "admin.static")


def admin_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin.") and rule.endpoint not in PUBLIC:
            yield rule, rule.build(ARGS, append_unknown=False)[1]


def audit_actions(services) -> list[str]:
    with services.db.session() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


# --- the CLI --------------------------------------------------------------------------------


def test_users_create_prints_a_one_time_password_that_signs_in(app, runner):
    result = runner.invoke(["users", "create", "Mia@Example.com", "--role", "marketer"])
    assert result.exit_code == 0, result.output
    password = re.search(r"one-time password: (\S+)", result.output).group(1)
    assert "/admin/" in result.output
    assert AdminClient(app, "mia@example.com").login(password).status_code == 302
    listed = runner.invoke(["users", "list"])
    assert "mia@example.com\tmarketer\tactive" in listed.output


def test_users_create_with_a_prompted_password(app, runner):
    result = runner.invoke(
        ["users", "create", "pat@example.com", "--role", "privacy", "--password-prompt"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert "one-time password" not in result.output
    assert AdminClient(app, "pat@example.com").login().status_code == 302


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["users", "create", "x@example.com", "--role", "boss"], 2, "Invalid value for '--role'"),
        (["users", "create", "not-an-address", "--role", "admin"], 1, "not a valid email address"),
        (["users", "create", "x@example.com"], 2, "Missing option '--role'"),
    ],
)
def test_users_create_refuses_bad_input(runner, args, code, message):
    result = runner.invoke(args)
    assert result.exit_code == code
    assert message in result.output


def test_users_create_refuses_a_duplicate_and_a_short_password(runner):
    assert runner.invoke(["users", "create", "a@example.com", "--role", "admin"]).exit_code == 0
    again = runner.invoke(["users", "create", "A@example.com", "--role", "admin"])
    assert again.exit_code == 1 and "already exists" in again.output
    short = runner.invoke(
        ["users", "create", "b@example.com", "--role", "admin", "--password-prompt"], input="short\nshort\n"
    )
    assert short.exit_code == 1 and "at least 12 characters" in short.output


def test_users_password_and_disable_end_the_old_sessions(app, services, runner):
    admin = signed_in(app, services, "marketer")
    assert admin.get("/admin/forms/").status_code == 200
    result = runner.invoke(["users", "password", admin.email])
    assert result.exit_code == 0
    assert admin.get("/admin/forms/").status_code == 302  # signed out
    new = re.search(r"one-time password: (\S+)", result.output).group(1)
    assert admin.login(new).status_code == 302
    assert runner.invoke(["users", "disable", admin.email]).exit_code == 0
    assert admin.get("/admin/forms/").status_code == 302
    assert admin.login(new).status_code == 401
    assert runner.invoke(["users", "disable", "nobody@example.com"]).exit_code == 1


# --- login ----------------------------------------------------------------------------------


def test_wrong_password_and_unknown_address_get_the_same_answer(app, services):
    make_user(services, "kim@example.com", "admin")
    wrong = AdminClient(app, "kim@example.com").login("wrong password here")
    unknown = AdminClient(app, "nobody@example.com").login(PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    for response in (wrong, unknown):
        assert "Wrong email or password." in response.get_data(as_text=True)
    assert audit_actions(services) == ["login.failed", "login.failed"]


def test_the_session_cookie_is_httponly_lax_and_renewed_at_login(app, services):
    make_user(services, "kim@example.com", "admin")
    admin = AdminClient(app, "kim@example.com")
    with admin.client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
    response = admin.login()
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    with admin.client.session_transaction() as sess:
        assert "planted" not in sess  # nothing from before the login survives


def test_the_session_cookie_is_secure_on_https(tmp_path, migrated_db):
    import shutil

    shutil.copy(migrated_db, tmp_path / "test.db")
    app = create_app(make_config(tmp_path, BASE_URL="https://leads.example.com"))
    services = app.extensions["leadcapture"]
    make_user(services, "kim@example.com", "admin")
    response = AdminClient(app, "kim@example.com").login()
    assert "Secure" in response.headers["Set-Cookie"]
    services.db.dispose()


def test_login_is_throttled_per_account(app, services):
    make_user(services, "kim@example.com", "admin")
    admin = AdminClient(app, "kim@example.com")
    for _ in range(5):
        assert admin.login("wrong password here").status_code == 401
    refused = admin.login()  # even the right password
    assert refused.status_code == 429
    assert "Too many failed attempts" in refused.get_data(as_text=True)
    assert AdminClient(app, "other@example.com").login().status_code == 401  # other accounts unaffected


def test_login_is_throttled_per_ip(app, services):
    make_user(services, "kim@example.com", "admin")
    for n in range(20):
        AdminClient(app, f"guess{n}@example.com").login("wrong password here")
    assert AdminClient(app, "kim@example.com").login().status_code == 429


def test_look_alike_spellings_of_one_address_share_its_failure_count(app, services):
    # Given an account, and spellings of its address that all sign into it
    make_user(services, "dpo@example.com", "privacy")
    spellings = ["dpo@ｅxample.com", "DPO@Example.COM", " dpo@example.com ", "ｄｐｏ@example.com", "Dpo@EXAMPLE.com"]
    assert AdminClient(app, spellings[0]).login().status_code == 302
    # When five wrong passwords are tried, one with each spelling
    for spelling in spellings:
        assert AdminClient(app, spelling).login("wrong password here").status_code == 401
    # Then the account is locked, whichever spelling comes next
    for spelling in ("dpo@example.com", "dpo@ｅxample.com"):
        assert AdminClient(app, spelling).login().status_code == 429


def login_from(app, email: str, ip: str, password: str = "wrong password here"):
    admin = AdminClient(app, email)
    return admin.client.post(
        "/admin/login",
        data={"csrf_token": admin.token(), "email": email, "password": password},
        environ_base={"REMOTE_ADDR": ip},
    )


def test_login_failures_of_an_ipv6_client_count_per_64(app, services):
    make_user(services, "kim@example.com", "admin")
    for n in range(20):  # one address per guess, all in one /64
        assert login_from(app, f"guess{n}@example.com", f"2001:db8:1:2::{n + 1:x}").status_code == 401
    assert login_from(app, "kim@example.com", "2001:db8:1:2:ffff::1", PASSWORD).status_code == 429
    assert login_from(app, "kim@example.com", "2001:db8:1:3::1", PASSWORD).status_code == 302  # another /64


def test_a_copied_session_cookie_stops_working_after_sign_out(app, services):
    # Given a signed-in admin whose session cookie was copied
    admin = signed_in(app, services, "admin")
    copy = app.test_client()
    copy.set_cookie("session", admin.client.get_cookie("session").value)
    assert copy.get("/admin/users").status_code == 200
    # When the admin signs out
    assert admin.post("/admin/logout").status_code == 302
    # Then the copy gets the login page, and so does every other copy
    response = copy.get("/admin/users")
    assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login")
    assert admin.login().status_code == 302  # signing in again works


def test_after_login_only_local_paths_are_followed(app, services):
    make_user(services, "kim@example.com", "admin")
    admin = AdminClient(app, "kim@example.com")
    for target, expected in [
        ("/admin/people/", "/admin/people/"),
        ("//evil.example/", "/admin/"),
        ("https://evil.example/admin/", "/admin/"),
    ]:
        response = admin.client.post(
            f"/admin/login?next={target}",
            data={"csrf_token": admin.token(), "email": admin.email, "password": PASSWORD},
        )
        assert response.headers["Location"] == expected


def test_logout_is_a_post_and_ends_the_session(app, services):
    admin = signed_in(app, services, "admin")
    assert admin.get("/admin/logout").status_code == 405
    assert admin.post("/admin/logout").status_code == 302
    assert admin.get("/admin/").status_code == 302
    assert audit_actions(services)[-2:] == ["login", "logout"]


# --- every view is guarded -------------------------------------------------------------------


def test_nobody_unauthenticated_sees_anything(app, client, demo_form):
    submit(client, "someone@example.com", ["newsletter"])
    rules = list(admin_rules(app))
    assert len(rules) > 20
    token = CSRF.search(client.get("/admin/login").get_data(as_text=True)).group(1)
    for rule, path in rules:
        if "GET" in rule.methods:
            response = client.get(path)
            assert response.status_code == 302, path
            assert response.headers["Location"].startswith("/admin/login?next="), path
        else:
            assert client.post(path, data={"csrf_token": token}).status_code == 401, path
    assert client.get("/admin/login").status_code == 200


FORBIDDEN = {
    "marketer": {"people", "erase", "register", "users", "audit", "tokens", "webhooks", "brands"},
    "privacy": {
        *("forms", "funnel", "contacts", "leads", "campaigns", "import"),
        *("users", "audit", "tokens", "webhooks", "brands"),
    },
    "admin": set(),
}


@pytest.mark.parametrize("role", ["marketer", "privacy", "admin"])
def test_each_role_gets_403_outside_its_permissions(app, services, client, demo_form, role):
    submit(client, "someone@example.com", ["newsletter"])
    admin = signed_in(app, services, role)
    checked = 0
    for rule, path in admin_rules(app):
        permission = getattr(app.view_functions[rule.endpoint], "permission", None)
        if permission is None:
            continue  # index and logout: every signed-in user
        if "GET" in rule.methods:
            status = admin.get(path).status_code
        else:
            status = admin.post(path, {}).status_code
        if permission in FORBIDDEN[role]:
            assert status == 403, (role, path)
            checked += 1
        else:
            assert status != 403 and status < 500, (role, path, status)
    assert checked >= (0 if role == "admin" else 5)


def test_a_post_without_the_csrf_token_is_refused(app, services, demo_form):
    admin = signed_in(app, services, "admin")
    response = admin.client.post("/admin/forms/sales-machine/archive")
    assert response.status_code == 400
    assert "The form has expired" in response.get_data(as_text=True)
    response = admin.client.post("/admin/forms/sales-machine/archive", data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert admin.get("/f/sales-machine").status_code == 200  # not archived
    assert admin.post("/admin/forms/sales-machine/archive").status_code == 302
    assert admin.get("/f/sales-machine").status_code == 404


# --- users and the audit log in the UI -------------------------------------------------------


def test_an_admin_creates_users_changes_roles_and_reads_the_audit_log(app, services):
    admin = signed_in(app, services, "admin")
    page = admin.post("/admin/users", {"action": "create", "email": "new@example.com", "role": "marketer"})
    assert page.status_code == 200
    password = re.search(r'id="new-password">([^<]+)<', page.get_data(as_text=True)).group(1)
    newcomer = AdminClient(app, "new@example.com")
    assert newcomer.login(password).status_code == 302
    new_password = "the newcomer's own password"
    form = {"current": password, "new": new_password, "again": new_password}
    assert newcomer.post("/admin/account/password", form).status_code == 302  # the first thing they do
    password = new_password
    assert newcomer.get("/admin/users").status_code == 403
    with services.db.session() as session:
        uid = session.scalar(select(AdminUser.id).where(AdminUser.email == "new@example.com"))
    assert admin.post("/admin/users", {"action": "role", "user_id": uid, "role": "admin"}).status_code == 302
    assert newcomer.get("/admin/users").status_code == 302  # a role change ends the session
    assert newcomer.login(password).status_code == 302
    assert newcomer.get("/admin/users").status_code == 200
    duplicate = admin.post("/admin/users", {"action": "create", "email": "new@example.com", "role": "admin"})
    assert "already exists" in duplicate.get_data(as_text=True)
    log = admin.get("/admin/audit").get_data(as_text=True)
    for action in ("user.create", "user.role", "login"):
        assert action in log
    assert "admin@staff.example.com" in log
    filtered = admin.get("/admin/audit?action=user.role").get_data(as_text=True)
    assert "user.create" not in filtered.split("<tbody>")[1]
