"""The embed: script, frame, origins both ways, CSP frame-ancestors per form (browser side: tests/browser)."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.app import BASE_URL, form_token

pytestmark = pytest.mark.usefixtures("demo_form")

ALLOWED = "http://127.0.0.1:8000"  # in demo/sales-machine.toml


def embed_constants(body: str) -> dict:
    return {name: json.loads(value) for name, value in re.findall(r"var (ORIGIN|ALLOWED) = (.+);", body)}


def test_embed_js_is_javascript_naming_our_origin_and_the_allowed_ones(client):
    response = client.get("/f/sales-machine/embed.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    body = response.get_data(as_text=True)
    assert embed_constants(body) == {
        "ORIGIN": BASE_URL,
        "ALLOWED": [BASE_URL, "http://127.0.0.1:8000", "http://localhost:8000"],
    }
    assert f'"{BASE_URL}/f/sales-machine?embed=1"' in body


def test_embed_js_ignores_a_forged_host_header(client):
    body = client.get("/f/sales-machine/embed.js", headers={"Host": "evil.example"}).get_data(as_text=True)
    assert "evil.example" not in body
    assert embed_constants(body)["ORIGIN"] == BASE_URL


def test_embed_js_never_posts_or_listens_to_any_origin(client):
    body = client.get("/f/sales-machine/embed.js").get_data(as_text=True)
    assert "event.origin !== ORIGIN" in body and "event.source !== frame.contentWindow" in body
    with client.get("/static/frame.js") as response:
        frame_js = response.get_data(as_text=True)
    assert '"*"' not in frame_js and "postMessage(message, parentOrigin)" in frame_js


def test_embed_js_of_an_unknown_form_is_a_404(client):
    assert client.get("/f/nope/embed.js").status_code == 404


def test_the_form_may_be_framed_only_by_its_allowed_origins(client):
    csp = client.get("/f/sales-machine?embed=1").headers["Content-Security-Policy"]
    assert "frame-ancestors 'self' http://127.0.0.1:8000 http://localhost:8000" in csp
    assert "frame-ancestors 'none'" in client.get("/c/x").headers["Content-Security-Policy"]


def test_the_frame_posts_to_the_parent_origin_only_when_it_is_allowed(client):
    page = client.get(f"/f/sales-machine?embed=1&origin={ALLOWED}").get_data(as_text=True)
    assert f'data-parent-origin="{ALLOWED}"' in page
    assert f'action="/f/sales-machine?embed=1&amp;origin={ALLOWED}"' in page
    page = client.get("/f/sales-machine?embed=1&origin=https://evil.example").get_data(as_text=True)
    assert 'data-parent-origin=""' in page
    assert re.search(r'<form method="post" action="([^"]*)"', page).group(1) == "/f/sales-machine?embed=1"


def test_the_thank_you_state_stays_in_the_frame_and_keeps_its_parent(client):
    data = {"csrf_token": form_token(client), "email": "frame@example.com", "embed": "1"}
    response = client.post(f"/f/sales-machine?embed=1&origin={ALLOWED}", data=data, headers={"Origin": ALLOWED})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="done"' in page and 'tabindex="-1"' in page
    assert f'data-parent-origin="{ALLOWED}"' in page and 'class="embedded"' in page
    assert "frame-ancestors 'self' http://127.0.0.1:8000" in response.headers["Content-Security-Policy"]
    assert "Location" not in response.headers


def test_errors_in_the_frame_are_announced_and_linked_to_their_field(client):
    data = {"csrf_token": form_token(client), "email": "not an address", "embed": "1"}
    page = client.post("/f/sales-machine?embed=1", data=data).get_data(as_text=True)
    assert 'role="alert"' in page and 'id="errors"' in page and 'href="#email"' in page
    assert 'aria-invalid="true"' in page and 'aria-describedby="email-error"' in page


@pytest.mark.parametrize("origin", ["https://evil.example", "http://127.0.0.1:8001", "http://lc.test.evil.example"])
def test_a_post_from_a_page_on_another_origin_is_refused(client, services, origin):
    data = {"csrf_token": form_token(client), "email": "x@example.com"}
    response = client.post("/f/sales-machine", data=data, headers={"Origin": origin})
    assert response.status_code == 403
    from sqlalchemy import func, select

    from leadcapture.models import Submission

    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == 0


@pytest.mark.parametrize("origin", [BASE_URL, ALLOWED, "null"])
def test_a_post_from_our_own_or_an_allowed_origin_is_accepted(client, origin):
    data = {"csrf_token": form_token(client), "email": "x@example.com"}
    assert client.post("/f/sales-machine", data=data, headers={"Origin": origin}).status_code == 200


def test_the_form_and_its_answer_set_no_cookie(client):
    """Blocked third-party cookies cannot break the embed: there are none to block."""
    get = client.get("/f/sales-machine?embed=1")
    data = {"csrf_token": form_token(client), "email": "c@example.com", "embed": "1"}
    post = client.post("/f/sales-machine?embed=1", data=data)
    assert "Set-Cookie" not in get.headers and "Set-Cookie" not in post.headers
    assert post.status_code == 200


@pytest.mark.parametrize(
    "origin",
    ["https://a.example; script-src *", "https://a.example/path", "https://a.example?x", "javascript:alert(1)",
     "https://a.example\r\nX-Evil: 1", "https:// a.example"],
)  # fmt: skip
def test_an_origin_that_could_break_the_csp_header_is_refused_on_import(origin):
    from leadcapture.consent.formdefs import FormDefinitionError, validate

    raw = {
        "slug": "x", "language": "en", "title": "T", "privacy_url": "https://a.example/p", "controller": "C",
        "allowed_origins": [origin], "asset": "a.pdf",
    }  # fmt: skip
    with pytest.raises(FormDefinitionError) as info:
        validate(raw)
    assert any("allowed origin" in p for p in info.value.problems)
