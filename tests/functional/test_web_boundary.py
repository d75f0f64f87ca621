"""The web boundary holds against hostile requests: malformed Host headers, bot posts, large pre-auth bodies."""

from __future__ import annotations

import logging
import re
import time

import pytest
from sqlalchemy import func, select

from leadcapture.models import Submission
from leadcapture.web.security import valid_host
from tests.support.app import form_token

TOO_LONG_LABEL = "a" * 64 + ".example.com"


def submissions(app) -> int:
    with app.extensions["leadcapture"].db.session() as session:
        return session.scalar(select(func.count()).select_from(Submission))


PATHS = ["/f/sales-machine", "/admin/login", "/c/garbage", "/no/such/page", "/api/v1/contacts"]


@pytest.mark.parametrize("host", [TOO_LONG_LABEL, "bad host", "exämple.com", "a..b", "x" * 300, "[zz]", "-a.example"])
@pytest.mark.parametrize("path", PATHS)
def test_a_malformed_host_header_gets_a_plain_400_not_a_500(make_app, host, path):
    client = make_app().test_client()
    response = client.get(path, headers={"Host": host})
    assert response.status_code == 400
    assert response.mimetype == "text/plain"


def test_a_malformed_host_header_is_logged_once(make_app, caplog):
    client = make_app().test_client()
    with caplog.at_level(logging.DEBUG):
        client.get("/f/sales-machine", headers={"Host": TOO_LONG_LABEL})
    assert len(caplog.records) == 1
    assert "Host" in caplog.records[0].getMessage() and TOO_LONG_LABEL not in caplog.records[0].getMessage()


@pytest.mark.parametrize("host", ["lc.test", "localhost:5000", "127.0.0.1", "[::1]:8000", "forms.example.com."])
def test_ordinary_host_headers_are_valid(host):
    assert valid_host(host)


def test_honeypot_posts_do_not_use_up_the_per_form_budget(make_app):
    # Given a form whose budget is 3 stored submissions, and 25 bots that fill in the honeypot
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_SUBMIT_PER_FORM="3 per minute", RATELIMIT_SUBMIT_PER_IP="")
    client = app.test_client()
    for i in range(25):
        data = {"csrf_token": form_token(client), "email": f"bot{i}@example.com", "website": "http://spam.example"}
        bot = client.post("/f/sales-machine", data=data, environ_base={"REMOTE_ADDR": f"198.51.100.{i}"})
        assert bot.status_code == 200  # the same page a person gets
    # When a real visitor submits
    data = {"csrf_token": form_token(client), "email": "person@example.com"}
    response = client.post("/f/sales-machine", data=data, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    # Then it is answered and stored
    assert response.status_code == 200
    assert submissions(app) == 1


def test_stored_submissions_still_use_up_the_per_form_budget(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_SUBMIT_PER_FORM="2 per minute", RATELIMIT_SUBMIT_PER_IP="")
    client = app.test_client()
    statuses = [
        client.post(
            "/f/sales-machine",
            data={"csrf_token": form_token(client), "email": f"p{i}@example.com"},
            environ_base={"REMOTE_ADDR": f"192.0.2.{i}"},
        ).status_code
        for i in range(3)
    ]
    assert statuses == [200, 200, 429]
    assert submissions(app) == 2


def test_a_large_body_before_sign_in_is_refused_with_413(make_app):
    client = make_app().test_client()
    response = client.post("/admin/login", data={"email": "a@example.com", "password": "x" * 100_000})
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)


def test_a_large_api_body_is_refused_before_the_token_check(make_app):
    client = make_app().test_client()
    response = client.post("/api/v1/may-contact", json={"email": "a@example.com", "purpose": "x" * 100_000})
    assert response.status_code == 413
    assert response.get_json()["status"] == 413


def test_the_public_form_keeps_its_own_body_limit(make_app):
    client = make_app().test_client()
    data = {"csrf_token": form_token(client), "email": "big@example.com", "name": "x" * 20_000}
    assert client.post("/f/sales-machine", data=data).status_code != 413


def test_the_dev_embed_page_shows_only_forms_that_exist(make_app):
    client = make_app().test_client()
    missing = client.get("/dev/embed/<script>alert(1)")
    assert missing.status_code == 404 and "<script>alert(1)" not in missing.get_data(as_text=True)
    page = client.get("/dev/embed/sales-machine").get_data(as_text=True)
    assert 'src="http://localhost/f/sales-machine/embed.js"' in page or "/f/sales-machine/embed.js" in page


def test_the_development_start_page_leads_to_the_forms_the_admin_and_the_first_account(make_app):
    client = make_app().test_client()
    page = client.get("/").get_data(as_text=True)
    assert 'href="/f/sales-machine"' in page and 'href="/admin/"' in page and 'href="/dev/mail/"' in page
    assert "leadcapture users create you@example.com --role admin" in page


def test_production_has_no_start_page_and_no_dev_pages(make_app):
    app = make_app(
        ENV="production", BASE_URL="https://forms.example.com", SECRET_KEY="Kx3vQ9tLr2mW8pZc5nYb7hJd4fGs6aEu1oRi0kTw_-A"
    )
    client = app.test_client()
    for path in ("/", "/dev/mail/", "/dev/embed/sales-machine"):
        assert client.get(path, base_url="https://forms.example.com").status_code == 404


def test_a_replayed_form_token_shows_the_form_again_with_a_fresh_token(make_app):
    # Given a submission stored with a form token
    app = make_app()
    client = app.test_client()
    token = form_token(client)
    first = client.post("/f/sales-machine", data={"csrf_token": token, "email": "first@example.com"})
    assert first.status_code == 200 and submissions(app) == 1
    # When the same token is posted again (the back button, a bot replaying it)
    replay = client.post("/f/sales-machine", data={"csrf_token": token, "email": "second@example.com"})
    # Then nothing more is stored, and the form comes back with what was typed and a new token
    page = replay.get_data(as_text=True)
    assert replay.status_code == 409 and submissions(app) == 1
    assert "second@example.com" in page and "al verstuurd" in page
    fresh = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert fresh != token
    # And sending it again stores the second submission
    again = client.post("/f/sales-machine", data={"csrf_token": fresh, "email": "second@example.com"})
    assert again.status_code == 200 and submissions(app) == 2


def test_two_forms_shown_in_the_same_second_have_different_tokens(make_app):
    client = make_app().test_client()
    assert form_token(client) != form_token(client)


def test_a_form_token_expires_after_two_hours(make_app, monkeypatch):
    app = make_app()
    client = app.test_client()
    token = form_token(client)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 2 * 3600 + 5)
    response = client.post("/f/sales-machine", data={"csrf_token": token, "email": "late@example.com"})
    assert response.status_code == 400
    assert submissions(app) == 0
