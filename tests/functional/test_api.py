"""The JSON API: tokens (hashed, revocable), may-contact, the contact list, the OpenAPI document."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from leadcapture.models import ApiToken, AuditEntry
from tests.support.admin import AdminClient, confirm_all, signed_in, withdraw
from tests.support.app import submit

pytestmark = pytest.mark.usefixtures("demo_form")


@pytest.fixture
def token(app, services) -> str:
    admin = signed_in(app, services, "admin")
    scopes = {"scope_may-contact:read": "y", "scope_contacts:read": "y"}
    page = admin.post("/admin/tokens", {"action": "create", "name": "CRM sync", **scopes}).get_data(as_text=True)
    return re.search(r'id="new-token">([^<]+)<', page).group(1)


def ask(client, token, **body):
    return client.post("/api/v1/may-contact", json=body, headers={"Authorization": f"Bearer {token}"})


def test_tokens_are_stored_hashed_and_only_admins_make_them(app, services, token):
    assert token.startswith("lc_") and len(token) > 40
    with services.db.session() as session:
        row = session.scalar(select(ApiToken))
        assert row.token_hash != token and token not in row.token_hash and row.prefix == token[:10]
    marketer = signed_in(app, services, "marketer")
    assert marketer.get("/admin/tokens").status_code == 403


def test_may_contact_answers_per_purpose_and_state(client, services, token):
    submit(client, "jan@example.com", ["newsletter", "call"])
    assert ask(client, token, email="jan@example.com", purpose="newsletter").json["state"] == "pending"
    confirm_all(services, "jan@example.com")
    answer = ask(client, token, email="JAN@example.com", purpose="newsletter").json
    assert answer["may_contact"] is True and answer["state"] == "confirmed" and answer["channel"] == "email"
    assert answer["form"] == "sales-machine" and answer["form_version"] == 1 and answer["confirmed_at"]
    assert ask(client, token, email="jan@example.com", purpose="call", channel="email").json["may_contact"] is False
    assert ask(client, token, email="jan@example.com", purpose="call", channel="phone").json["may_contact"] is True
    assert ask(client, token, email="jan@example.com", purpose="product_news").json == {
        "email": "jan@example.com",
        "purpose": "product_news",
        "may_contact": False,
        "state": "none",
    }
    withdraw(services, "jan@example.com", ["newsletter"])
    answer = ask(client, token, email="jan@example.com", purpose="newsletter").json
    assert answer["may_contact"] is False and answer["state"] == "withdrawn" and answer["withdrawn_at"]
    assert ask(client, token, email="nobody@example.com", purpose="newsletter").json["state"] == "none"
    with services.db.session() as session:
        actors = set(session.scalars(select(AuditEntry.actor).where(AuditEntry.action == "api.may_contact")))
        assert actors == {f"api token CRM sync ({token[:10]}…)"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"email": "jan@example.com"}, "purpose must be"),
        ({"email": "not an address", "purpose": "newsletter"}, "email is not a valid address"),
        ({"email": "jan@example.com", "purpose": "newsletter", "channel": "fax"}, "channel must be one of"),
    ],
)
def test_bad_questions_get_a_400_with_the_reason(client, token, body, message):
    response = ask(client, token, **body)
    assert response.status_code == 400 and message in response.json["error"]
    not_json = client.post("/api/v1/may-contact", data="x", headers={"Authorization": f"Bearer {token}"})
    assert not_json.status_code == 400


def test_no_token_a_wrong_token_or_a_revoked_token_gets_401(app, services, client, token):
    assert client.post("/api/v1/may-contact", json={}).status_code == 401
    wrong = ask(client, "lc_" + "x" * 43, email="a@example.com", purpose="newsletter")
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Bearer")
    assert ask(client, token, email="a@example.com", purpose="newsletter").status_code == 200
    privacy = signed_in(app, services, "privacy")  # tokens are admin-only
    assert privacy.post("/admin/tokens", {"action": "revoke", "token_id": 1}).status_code == 403
    owner = AdminClient(app, "admin@staff.example.com")
    owner.login()
    with services.db.session() as session:
        token_id = session.scalar(select(ApiToken.id))
    assert owner.post("/admin/tokens", {"action": "revoke", "token_id": token_id}).status_code == 200
    assert ask(client, token, email="a@example.com", purpose="newsletter").status_code == 401


def test_the_contact_list_pages_through_current_consents(client, services, token):
    for n in range(5):
        submit(client, f"p{n}@example.com", ["newsletter"], name=f"Person {n}")
        confirm_all(services, f"p{n}@example.com")
    withdraw(services, "p2@example.com")
    headers = {"Authorization": f"Bearer {token}"}
    seen, after = [], 0
    while after is not None:
        page = client.get(f"/api/v1/contacts?purpose=newsletter&channel=email&limit=2&after={after}", headers=headers)
        assert page.status_code == 200
        seen += [c["email"] for c in page.json["contacts"]]
        after = page.json["next_after"]
    assert seen == ["p0@example.com", "p1@example.com", "p3@example.com", "p4@example.com"]
    first = client.get("/api/v1/contacts?purpose=newsletter&channel=email", headers=headers).json["contacts"][0]
    assert first["name"] == "Person 0" and first["form"] == "sales-machine"
    assert client.get("/api/v1/contacts?purpose=newsletter", headers=headers).status_code == 400
    assert client.get("/api/v1/contacts?purpose=newsletter&channel=email&limit=0", headers=headers).status_code == 400
    assert client.get("/api/v1/contacts?purpose=newsletter&channel=email").status_code == 401


def test_the_openapi_document_describes_the_api(client):
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"] == "3.1.0"
    assert set(doc["paths"]) == {"/may-contact", "/contacts"}
    assert doc["servers"] == [{"url": "http://lc.test/api/v1"}]
    assert client.get("/api/v1/nothing").json == {"error": "Not Found", "status": 404}


@pytest.mark.parametrize(
    ("scope", "allowed", "refused"),
    [
        ("may-contact:read", ("post", "/api/v1/may-contact"), ("get", "/api/v1/contacts")),
        ("contacts:read", ("get", "/api/v1/contacts"), ("post", "/api/v1/may-contact")),
    ],
)
def test_a_token_may_only_do_what_its_scopes_say(app, services, client, scope, allowed, refused):
    # Given a token an admin created with one scope
    admin = signed_in(app, services, "admin")
    page = admin.post("/admin/tokens", {"action": "create", "name": "one thing", f"scope_{scope}": "y"})
    token = re.search(r'id="new-token">([^<]+)<', page.get_data(as_text=True)).group(1)
    assert f"<code>{scope}</code>" in admin.get("/admin/tokens").get_data(as_text=True)
    headers = {"Authorization": f"Bearer {token}"}
    query = {"email": "a@example.com", "purpose": "newsletter", "channel": "email"}

    def call(method, path):
        if method == "post":
            return client.post(path, json=query, headers=headers)
        return client.get(path, query_string=query, headers=headers)

    # Then it is allowed its operation, and the other one is a 403 problem
    assert call(*allowed).status_code == 200
    refusal = call(*refused)
    assert refusal.status_code == 403
    assert refusal.get_json()["status"] == 403 and scope not in refusal.get_json()["error"]


def test_a_token_needs_at_least_one_scope(app, services):
    admin = signed_in(app, services, "admin")
    page = admin.post("/admin/tokens", {"action": "create", "name": "nothing"}).get_data(as_text=True)
    assert "new-token" not in page and "at least one scope" in page
    with services.db.session() as session:
        assert session.scalar(select(ApiToken).where(ApiToken.name == "nothing")) is None


def test_the_openapi_document_names_each_operations_scope(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["paths"]["/may-contact"]["post"]["security"] == [{"bearer": ["may-contact:read"]}]
    assert document["paths"]["/contacts"]["get"]["security"] == [{"bearer": ["contacts:read"]}]
    assert "403" in document["paths"]["/contacts"]["get"]["responses"]
