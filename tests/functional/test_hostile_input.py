"""Hostile input on every route: NUL bytes, control characters in URLs, non-UTF-8 bodies, HEAD and OPTIONS."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from leadcapture.models import ApiToken, LeadRequest, LedgerEvent, OutboxJob, Person, Submission
from tests.support.admin import AdminClient, make_user, signed_in
from tests.support.app import form_token, submit

pytestmark = pytest.mark.usefixtures("demo_form")


def routes(app) -> list[tuple[str, set[str]]]:
    """Every route as a path one can request (ints as 1, other parts a slug) and its methods."""
    found = []
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<[^>]+>", "sales-machine", re.sub(r"<int:\w+>", "1", rule.rule))
        found.append((path, set(rule.methods)))
    return found


def state(services) -> dict:
    with services.db.session() as session:
        return {
            model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in (Person, Submission, LeadRequest, LedgerEvent, OutboxJob, ApiToken)
        }


def assert_nul_is_refused(app, services) -> None:
    """A NUL in a URL part, a query value or a form value is a 4xx (PostgreSQL text cannot hold one)."""
    client = app.test_client()
    for path in ("/f/%00", "/f/sales%00machine", "/f/%00/embed.js", "/f/a%01b", "/c/abc%00def"):
        assert client.get(path).status_code == 404, path
    assert client.get("/f/sales-machine?page=%00").status_code == 400
    anonymous = AdminClient(app, "nobody@example.com")
    login = anonymous.client.post(
        "/admin/login", data={"csrf_token": anonymous.token(), "email": "a\x00b@example.com", "password": "x"}
    )
    assert login.status_code == 400
    admin = signed_in(app, services, "admin")
    assert admin.get("/admin/audit?action=login%00").status_code == 400
    before = state(services)
    assert (
        admin.post("/admin/tokens", {"action": "create", "name": "CRM\x00", "scope_contacts:read": "y"}).status_code
        == 400
    )
    assert admin.post("/admin/leads/", {"q": "Jan\x00"}).status_code == 400
    repeated = f"csrf_token={admin.token('/admin/')}&action=create&name=CRM&name=C%00RM&scope_contacts:read=y"
    response = admin.client.post("/admin/tokens", data=repeated, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400  # the second value of a field counts too
    assert state(services) == before


def test_a_nul_anywhere_is_refused_before_the_database(app, services):
    assert_nul_is_refused(app, services)


def test_a_nul_in_a_form_post_stores_nothing(client, services):
    response = client.post(
        "/f/sales-machine", data={"csrf_token": form_token(client), "email": "jan@example.com", "name": "J\x00"}
    )
    assert response.status_code == 400 and state(services)["Submission"] == 0


def test_head_and_options_on_every_route_answer_and_change_nothing(app, services, client):
    submit(client, "jan@example.com", ["newsletter"])
    make_user(services, "staff@example.com", "admin")
    before = state(services)
    for path, methods in routes(app):
        for method in ("HEAD", "OPTIONS"):
            response = client.open(path, method=method)
            assert response.status_code < 500, (method, path, response.status_code)
            if method == "HEAD":
                assert response.get_data() == b"", path
            if method == "OPTIONS" and response.status_code == 200:
                allowed = set(response.headers["Allow"].split(", "))
                assert allowed == methods | {"OPTIONS"}, path
    assert state(services) == before


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"email=j%FFan%40example.com&name=\xff\xfe", "application/x-www-form-urlencoded"),
        (b"\xff\xfe\x00\x01", "application/x-www-form-urlencoded; charset=latin-1"),
        (
            b'--b\r\nContent-Disposition: form-data; name="email"\r\n\r\n\xff\xfe\r\n--b--\r\n',
            "multipart/form-data; boundary=b",
        ),
        (b"--b\r\n\xff", "multipart/form-data; boundary=b"),
        (b'{"email": "\xff"}', "application/json"),
    ],
)
def test_non_utf8_bodies_on_every_post_route_are_a_4xx(app, services, client, body, content_type):
    admin = signed_in(app, services, "admin")
    before = state(services)
    for path, methods in routes(app):
        if "POST" not in methods:
            continue
        for who in (client, admin.client):
            response = who.post(path, data=body, content_type=content_type)
            assert response.status_code < 500, (path, response.status_code)
    assert state(services) == before
