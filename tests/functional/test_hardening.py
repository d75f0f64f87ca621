"""Hardening: security headers everywhere, header injection, size limits, redirects, token checks, Host."""

from __future__ import annotations

import hmac
import os
import re
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from leadcapture.consent import ledger
from leadcapture.models import LedgerEvent, Person, Submission
from tests.support.app import BASE_URL, ROOT, form_token, links, path_of, submit

pytestmark = pytest.mark.usefixtures("demo_form")

EVIL = "evil.example"


def some_links(client, worker, mailbox) -> list[str]:
    submit(client, "links@example.com", ["newsletter"])
    worker.drain()
    return [path_of(url) for url in links(mailbox.to("links@example.com")[0]) if url.startswith(BASE_URL)]


def every_kind_of_response(client, worker, mailbox):
    """One response of each kind a visitor or a bot can meet."""
    token = form_token(client)
    paths = some_links(client, worker, mailbox)
    yield "form", client.get("/f/sales-machine")
    yield "embedded form", client.get("/f/sales-machine?embed=1")
    yield "thank you", client.post("/f/sales-machine", data={"csrf_token": token, "email": "h@example.com"})
    yield "400", client.post("/f/sales-machine", data={"csrf_token": token, "email": "nope"})
    yield "403", client.post("/f/sales-machine", data={"csrf_token": token}, headers={"Origin": "https://x.example"})
    yield "404", client.get("/no/such/page")
    yield "405", client.put("/f/sales-machine")
    yield "413", client.post("/f/sales-machine", data={"email": "x" * 70_000})
    yield "embed.js", client.get("/f/sales-machine/embed.js")
    yield "healthz", client.get("/healthz")
    for path in paths:
        yield path[:3], client.get(path)
    yield "bad token", client.get("/c/garbage")
    with client.get("/static/style.css") as response:
        yield "static", response


def test_every_response_carries_the_security_headers(client, worker, mailbox):
    seen = set()
    for name, response in every_kind_of_response(client, worker, mailbox):
        seen.add(name)
        assert response.status_code < 500, name
        csp = response.headers.get("Content-Security-Policy", "")
        assert "default-src 'self'" in csp and "object-src 'none'" in csp and "base-uri 'none'" in csp, name
        assert "frame-ancestors" in csp, name
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp, name
        assert response.headers["X-Content-Type-Options"] == "nosniff", name
        assert response.headers["Referrer-Policy"] == "no-referrer", name
        assert "Strict-Transport-Security" not in response.headers, name  # plain http: no HSTS
    assert {"/c/", "/u/", "/p/"} <= seen


def test_hsts_is_sent_when_the_base_url_is_https(tmp_path, migrated_db):
    import shutil

    from leadcapture import create_app
    from tests.support.app import make_config

    shutil.copy(migrated_db, tmp_path / "test.db")
    app = create_app(make_config(tmp_path, BASE_URL="https://forms.example.com"))
    for path in ("/f/none", "/healthz", "/c/x"):
        assert app.test_client().get(path).headers["Strict-Transport-Security"].startswith("max-age=31536000")
    app.extensions["leadcapture"].db.dispose()


def count(services, model) -> int:
    with services.db.session() as session:
        return session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("field", ["email", "name", "company", "page_url"])
@pytest.mark.parametrize("evil", ["\r\nBcc: all@example.com", "\nX-Evil: 1", "\rX", "\x00", "\u2028Bcc: x", "\x85"])
def test_cr_lf_and_control_characters_are_refused_in_every_field(client, services, field, evil):
    data = {"csrf_token": form_token(client), "email": "ok@example.com", "name": "Ann", "company": "Co"}
    data[field] = data.get(field, "https://www.example.com/") + evil
    response = client.post("/f/sales-machine", data=data)
    assert response.status_code == 400
    assert count(services, Submission) == 0 and count(services, Person) == 0


def test_what_reaches_mail_headers_is_the_validated_address_only(client, worker, mailbox):
    submit(client, "Ann.Example@Example.COM", name="Ann Example", company="Spam Inc. Buy now")
    worker.drain()
    (msg,) = mailbox.messages()
    assert str(msg["To"]).lower() == "ann.example@example.com"
    for name, value in msg.items():
        assert "\n" not in str(value).replace("\r\n ", "").replace("\n ", "") or name == "DKIM-Signature", name
        assert "Spam Inc" not in str(value) and "Ann Example" not in str(value)


@pytest.mark.parametrize("field", ["email", "name", "company", "page_url"])
def test_every_field_has_a_size_limit(client, services, field):
    data = {"csrf_token": form_token(client), "email": "ok@example.com"}
    data[field] = ("a" * 2001) + ("@example.com" if field == "email" else "")
    assert client.post("/f/sales-machine", data=data).status_code == 400
    assert count(services, Submission) == 0


def test_the_body_the_form_parts_and_the_token_have_limits(client, services):
    assert client.post("/f/sales-machine", data={"email": "x" * 70_000}).status_code == 413
    many = {f"f{i}": "x" for i in range(1500)}  # werkzeug's max_form_parts
    assert client.post("/f/sales-machine", data=many, content_type="multipart/form-data").status_code == 413
    for prefix in ("c", "u", "p", "d"):
        response = client.get(f"/{prefix}/" + "A" * 5000)
        assert response.status_code == 404 and "link" in response.get_data(as_text=True)
    page = client.get("/f/sales-machine?page=" + "p" * 10_000).get_data(as_text=True)
    assert "p" * 2001 not in page
    assert count(services, Submission) == 0


def test_there_are_no_redirects_to_anywhere_a_request_names(client, app, worker, mailbox):
    """No view takes a redirect target from the request; even odd paths and Host headers give none."""
    paths = some_links(client, worker, mailbox) + ["/f/sales-machine", "/f/sales-machine/embed.js", "/healthz"]
    paths += [f"//{EVIL}/", "/f/sales-machine/", f"//{EVIL}/f/sales-machine", "/f/../f/sales-machine", "/static/"]
    paths += [rule.rule for rule in app.url_map.iter_rules() if "<" not in rule.rule]
    params = {"next": f"https://{EVIL}/", "url": f"//{EVIL}", "redirect": f"https://{EVIL}", "return_to": EVIL}
    headers = {"Host": EVIL, "X-Forwarded-Host": EVIL, "Referer": f"https://{EVIL}/"}
    for path in paths:
        for method in ("GET", "POST", "HEAD"):
            response = client.open(path, method=method, query_string=params, headers=headers, data=params)
            location = response.headers.get("Location", "")
            assert EVIL not in location and not location.startswith("//"), (method, path, location)
            targets = re.findall(
                r'(?:href|action|src|http-equiv="refresh" content)="([^"]*)"', response.get_data(as_text=True)
            )
            assert not [t for t in targets if EVIL in t], (method, path)


def test_token_signatures_are_compared_in_constant_time(services, monkeypatch):
    """itsdangerous compares signatures with hmac.compare_digest; this fails if that ever changes."""
    import itsdangerous.signer

    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(itsdangerous.signer.hmac, "compare_digest", spy)
    from leadcapture.consent.tokens import CONFIRM, TokenInvalid

    good = services.tokens.make(CONFIRM, {"r": 1})
    assert services.tokens.load(CONFIRM, good) == {"r": 1}
    with pytest.raises(TokenInvalid):
        services.tokens.load(CONFIRM, good[:-2] + ("AA" if not good.endswith("AA") else "BB"))
    assert len(calls) >= 2


def test_a_validly_signed_token_with_an_odd_payload_is_a_friendly_404(client, services):
    from leadcapture.consent.tokens import CONFIRM, DOWNLOAD, PREFERENCES, UNSUBSCRIBE

    public_id = "kV3xQ9b_Tn2mWc8-LpYr0A"
    odd = [{"r": "1"}, {"s": [1]}, {"p": True}, {"r": "A" * 70}, {}, {"p": public_id, "k": 5}, {"s": None}]
    odd += [{"r": public_id[:-1] + "%"}, {"p": public_id[:-1]}]
    for prefix, kind in (("c", CONFIRM), ("u", UNSUBSCRIBE), ("p", PREFERENCES), ("d", DOWNLOAD)):
        for payload in odd:
            response = client.get(f"/{prefix}/{services.tokens.make(kind, payload)}")
            assert response.status_code == 404, (prefix, payload)


def test_a_forged_host_header_changes_no_page_and_no_link(client, worker, mailbox):
    headers = {"Host": EVIL, "X-Forwarded-Host": EVIL, "X-Forwarded-Proto": "https"}
    token = form_token(client)
    client.post("/f/sales-machine", data={"csrf_token": token, "email": "host@example.com"}, headers=headers)
    worker.drain()
    (msg,) = mailbox.to("host@example.com")
    # Ours: every link but the form's privacy notice and the supervisory authority its brand names.
    external = ("https://www.example.com/", "https://www.autoriteitpersoonsgegevens.nl")
    ours = [url for url in links(msg) if not url.startswith(external)]
    assert ours and all(url.startswith(BASE_URL) for url in ours)
    for path in [path_of(u) for u in ours] + ["/f/sales-machine", "/f/sales-machine?embed=1"]:
        for method in ("GET", "POST"):
            body = client.open(path, method=method, headers=headers).get_data(as_text=True)
            assert EVIL not in body, path
            assert not re.search(
                r"https?://(?!lc\.test|www\.example\.com|127\.0\.0\.1:8000|www\.autoriteitpersoonsgegevens\.nl)[^\s\"'<]+",
                body,
            ), path


def test_ten_tag_variants_of_one_mailbox_get_one_confirmation(client, services, worker, mailbox):
    # When ten spellings of one inbox are submitted within the confirmation window
    for n in range(10):
        assert submit(client, f"Ann+{n}@example.com", ["newsletter"]).status_code == 200
    worker.drain()
    # Then the inbox gets one confirmation, addressed as the first was typed
    (msg,) = mailbox.messages()
    assert str(msg["To"]) == "Ann+0@example.com"
    assert count(services, Person) == 10 and count(services, Submission) == 10


def test_the_page_url_is_stored_without_its_query_and_fragment(client, services):
    page = "https://www.example.com/whitepaper?email=ann%40example.com&name=Ann#form"
    data = {"csrf_token": form_token(client), "email": "ann@example.com", "page_url": page}
    data["purpose_newsletter"] = "y"
    assert client.post("/f/sales-machine", data=data).status_code == 200
    with services.db.session() as session:
        assert session.scalar(select(Submission.page_url)) == "https://www.example.com/whitepaper"
        (event,) = session.scalars(select(LedgerEvent)).all()
        assert ledger.payload_of(services.vault, event)["page_url"] == "https://www.example.com/whitepaper"


def test_forget_me_removes_the_persons_mail_from_the_development_outbox(client, worker, mailbox):
    # Given a person whose mail sits in the local outbox, next to someone else's
    submit(client, "jan@example.com", ["newsletter"])
    submit(client, "piet@example.com", ["newsletter"])
    worker.drain()
    (confirmation,) = mailbox.to("jan@example.com")
    preferences = path_of(next(u for u in links(confirmation) if "/p/" in u)) + "/forget"
    # When they erase themselves from the preference centre
    token = re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', client.get(preferences).get_data(as_text=True)
    )
    assert client.post(preferences, data={"csrf_token": token.group(1)}).status_code == 200
    # Then their copies are gone from the outbox, and only theirs
    assert mailbox.to("jan@example.com") == [] and len(mailbox.to("piet@example.com")) == 1


def test_people_erase_removes_the_persons_mail_from_the_development_outbox(client, worker, mailbox, runner):
    submit(client, "jan@example.com", ["newsletter"])
    worker.drain()
    assert runner.invoke(["people", "erase", "jan@example.com", "--yes"]).exit_code == 0
    assert mailbox.to("jan@example.com") == []


def test_the_suite_passes_with_the_callers_leadcapture_settings_exported(tmp_path):
    # Given a shell that exports settings for a local run
    exported = {
        "LEADCAPTURE_DATABASE_URL": f"sqlite:///{tmp_path / 'elsewhere' / 'x.db'}",
        "LEADCAPTURE_BASE_URL": "https://forms.example.org",
    }
    # When a CLI test (an in-process app and `leadcapture` subprocesses on one database) runs in it
    test = "tests/functional/test_cli.py::test_ledger_verify_passes_then_fails_after_an_edit"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
        env={**os.environ, **exported},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # Then it passes, and nothing was written where the exported settings point
    assert result.returncode == 0, result.stdout[-3000:]
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("body", ["0", "[1, 2]", '"x"', "null", '{"email": "json@example.com"}'])
def test_a_json_body_is_no_form_post(client, services, body):
    response = client.post("/f/sales-machine", data=body, content_type="application/json")
    assert response.status_code == 400
    assert count(services, Submission) == 0
