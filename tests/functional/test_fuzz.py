"""Property-based fuzzing (hypothesis) of the submit endpoint and every token-taking endpoint.

Whatever arrives (bytes, unicode, huge or empty values, odd content types, validly signed tokens
with odd payloads), the answer is a 2xx/3xx/4xx with a page, never a 500, and the database stays
consistent: the ledger chain verifies and no row is orphaned.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from werkzeug.datastructures import MultiDict
from werkzeug.test import encode_multipart

from leadcapture.consent.tokens import CONFIRM, DOWNLOAD, PREFERENCES, UNSUBSCRIBE
from tests.support.app import form_token, submit
from tests.support.ledger import seal_and_verify

pytestmark = pytest.mark.usefixtures("demo_form")

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text a browser or a bot could send: any code point except lone surrogates (not encodable).
any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=300)
huge_text = st.builds(lambda ch, n: ch * n, st.sampled_from(["a", "é", "\r\n", "\x00", "𝔘", "%"]),
                      st.integers(1000, 70_000))  # fmt: skip
value = st.one_of(any_text, huge_text, st.just(""), st.sampled_from(["y", "on", "1", "x@example.com"]))
FIELD_NAMES = ["csrf_token", "email", "name", "company", "phone", "page_url", "website", "pow", "embed",
               "purpose_newsletter", "purpose_call", "purpose_nope", "List-Unsubscribe", "withdraw"]  # fmt: skip
field_name = st.one_of(st.sampled_from(FIELD_NAMES), any_text.filter(bool))
CONTENT_TYPES = ["application/x-www-form-urlencoded", "multipart/form-data", "multipart/form-data; boundary=x",
                 "application/json", "text/plain", "text/html; charset=utf-7", "application/octet-stream",
                 "application/x-www-form-urlencoded; charset=latin-1", ""]  # fmt: skip
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=6,
)
payload = st.dictionaries(st.sampled_from(["r", "s", "p", "k", "x"]), json_value, max_size=3)
KINDS = {"c": CONFIRM, "u": UNSUBSCRIBE, "p": PREFERENCES, "d": DOWNLOAD}


def assert_a_page(response, method: str) -> None:
    assert 200 <= response.status_code < 500, response.status_code
    if method != "HEAD" and response.status_code != 204:
        body = response.get_data()
        assert body, "an empty answer"
        if response.mimetype == "text/html":
            assert b"<html" in body and b"Traceback" not in body


def assert_consistent(services) -> None:
    chain = seal_and_verify(services)
    assert chain.ok, chain.problems
    with services.db.session() as session:
        orphans = {
            "requests": "SELECT count(*) FROM requests r LEFT JOIN submissions s ON s.id = r.submission_id "
            "WHERE s.id IS NULL",
            "submissions": "SELECT count(*) FROM submissions s LEFT JOIN people p ON p.id = s.person_id "
            "WHERE p.id IS NULL",
            "consents": "SELECT count(*) FROM consents c LEFT JOIN people p ON p.id = c.person_id WHERE p.id IS NULL",
            "confirmations without a job": "SELECT count(*) FROM submissions s WHERE s.sends_confirmation AND NOT "
            "EXISTS (SELECT 1 FROM outbox o WHERE o.actor = 'send_confirmation' AND o.args_json = '[' || s.id || ']')",
        }
        for name, sql in orphans.items():
            assert session.scalar(text(sql)) == 0, name


@FUZZ
@given(
    fields=st.lists(st.tuples(field_name, value), max_size=8),
    with_token=st.booleans(),
    content_type=st.sampled_from(CONTENT_TYPES),
    origin=st.sampled_from([None, "null", "http://lc.test", "https://evil.example", "\u00e9"]),
    query=st.sampled_from(["", "?embed=1", "?embed=1&origin=http://127.0.0.1:8000", "?page=%ff%fe", "?embed=%00"]),
)
def test_the_submit_endpoint_never_fails(client, services, fields, with_token, content_type, origin, query):
    data = dict(fields)
    if with_token:
        data["csrf_token"] = form_token(client)
        data.setdefault("email", "fuzz@example.com")
    headers = {"Origin": origin} if origin and origin.isascii() else {}
    if content_type.startswith("multipart/form-data"):
        # Encoded in memory: the test client would spool a big body to a temporary file it never closes.
        boundary, body = encode_multipart(MultiDict(data))
        response = client.post("/f/sales-machine" + query, data=body, headers=headers,
                               content_type=f"multipart/form-data; boundary={boundary}")  # fmt: skip
    else:
        response = client.post("/f/sales-machine" + query, data=data, headers=headers)
    assert_a_page(response, "POST")
    assert_consistent(services)


@FUZZ
@given(body=st.binary(max_size=5000), content_type=st.sampled_from(CONTENT_TYPES), slug=st.sampled_from(
    ["sales-machine", "nope", "sales-machine/embed.js", "%00", "x" * 300]))  # fmt: skip
def test_the_submit_endpoint_takes_arbitrary_bytes(client, services, body, content_type, slug):
    response = client.post(f"/f/{slug}", data=body, headers={"Content-Type": content_type} if content_type else {})
    assert_a_page(response, "POST")
    assert_consistent(services)


@FUZZ
@given(
    prefix=st.sampled_from(sorted(KINDS)),
    token=st.one_of(any_text, huge_text, st.binary(max_size=200).map(lambda b: b.decode("latin-1"))),
    method=st.sampled_from(["GET", "HEAD", "POST"]),
    form=st.dictionaries(field_name, value, max_size=4),
)
def test_token_endpoints_never_fail_on_garbage(client, services, prefix, token, method, form):
    response = client.open(f"/{prefix}/{quote(token, safe='')}", method=method, data=form or None)
    assert_a_page(response, method)
    assert_consistent(services)


@pytest.fixture
def people(client, worker):
    """A few real people, requests and consents for the signed-token fuzzing to hit."""
    for i, purposes in enumerate([(), ("newsletter",), ("newsletter", "call")]):
        submit(client, f"p{i}@example.com", purposes, name="P")
    worker.drain()


@FUZZ
@given(
    prefix=st.sampled_from(sorted(KINDS)),
    body=payload | st.builds(dict, r=st.integers(-2, 12)) | st.builds(dict, s=st.integers(-2, 5)) |
    st.builds(dict, p=st.integers(-2, 5), k=st.sampled_from([None, "newsletter", "call", "", "nope"])) |
    st.builds(dict, s=st.from_regex(r"[A-Za-z0-9_-]{20,24}", fullmatch=True)),
    method=st.sampled_from(["GET", "HEAD", "POST"]),
    form=st.dictionaries(field_name, value, max_size=3),
)  # fmt: skip
def test_token_endpoints_never_fail_on_signed_odd_payloads(client, services, people, prefix, body, method, form):
    token = services.tokens.make(KINDS[prefix], body)
    response = client.open(f"/{prefix}/{token}", method=method, data=form or None)
    assert_a_page(response, method)
    assert_consistent(services)
