"""Helpers for the admin tests: accounts, signed-in clients, CSRF tokens."""

from __future__ import annotations

import re

from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from leadcapture.backoffice import accounts

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_user(services, email: str, role: str, password: str = PASSWORD) -> None:
    """An account in the test database."""
    with services.db.session() as session:
        accounts.create_user(session, email, role, password)


class AdminClient:
    """A test client signed in to the admin, posting with the page's CSRF token."""

    def __init__(self, app, email: str):
        self.client = app.test_client()
        self.email = email

    def token(self, path: str = "/admin/login") -> str:
        page = self.client.get(path, follow_redirects=True).get_data(as_text=True)  # to whatever page is shown
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
        if any(isinstance(v, tuple) for v in data.values()):
            # Encoded in memory: the test client spools big bodies to a file it never closes.
            files = {k: FileStorage(v[0], filename=v[1]) if isinstance(v, tuple) else v for k, v in data.items()}
            boundary, body = encode_multipart(MultiDict(files))
            kwargs["content_type"] = f"multipart/form-data; boundary={boundary}"
            return self.client.post(path, data=body, **kwargs)
        return self.client.post(path, data=data, **kwargs)


def signed_in(app, services, role: str) -> AdminClient:
    """A new account with this role, signed in."""
    email = f"{role}@staff.example.com"
    make_user(services, email, role)
    admin = AdminClient(app, email)
    response = admin.login()
    assert response.status_code == 302, response.get_data(as_text=True)
    return admin


def confirm_all(services, email: str, method: str = "confirm_page") -> None:
    """Confirm every pending request of this address, as the confirm page does."""
    from sqlalchemy import select

    from leadcapture.consent import people
    from leadcapture.consent import transitions as consent
    from leadcapture.models import PENDING, LeadRequest, Submission

    with services.db.session() as session:
        person = people.find_person(session, services.vault, email)
        requests = session.scalars(
            select(LeadRequest).join(Submission).where(Submission.person_id == person.id, LeadRequest.state == PENDING)
        ).all()
        consent.confirm(
            session, services.vault, services.settings, list(requests), method=method, visitor=people.Visitor()
        )


def withdraw(services, email: str, keys: list[str] | None = None) -> None:
    """Withdraw consents of this address, as the preference centre does."""
    from leadcapture.consent import people
    from leadcapture.consent import transitions as consent

    with services.db.session() as session:
        person = people.find_person(session, services.vault, email)
        consent.withdraw(
            session,
            services.vault,
            services.settings,
            person,
            keys,
            method="preference_centre",
            visitor=people.Visitor(),
        )
