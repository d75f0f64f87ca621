"""Helpers for the admin tests: accounts, signed-in clients, CSRF tokens."""

from __future__ import annotations

import re

from leadcapture import accounts

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_user(core, email: str, role: str, password: str = PASSWORD) -> None:
    """An account in the test database."""
    with core.db.session() as session:
        accounts.create_user(session, email, role, password)


class AdminClient:
    """A test client signed in to the admin, posting with the page's CSRF token."""

    def __init__(self, app, email: str):
        self.client = app.test_client()
        self.email = email

    def token(self, path: str = "/admin/login") -> str:
        page = self.client.get(path).get_data(as_text=True)
        return CSRF.search(page).group(1)

    def login(self, password: str = PASSWORD):
        return self.client.post(
            "/admin/login", data={"csrf_token": self.token(), "email": self.email, "password": password}
        )

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict | None = None, **kwargs):
        data = dict(data or {})
        data.setdefault("csrf_token", self.token("/admin/"))
        return self.client.post(path, data=data, **kwargs)


def signed_in(app, core, role: str) -> AdminClient:
    """A new account with this role, signed in."""
    email = f"{role}@staff.example.com"
    make_user(core, email, role)
    admin = AdminClient(app, email)
    response = admin.login()
    assert response.status_code == 302, response.get_data(as_text=True)
    return admin
