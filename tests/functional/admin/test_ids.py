"""Ids typed into admin URLs and forms: one too large for a database integer is a 4xx, never a 500."""

from __future__ import annotations

import re

import pytest

from leadcapture.db import MAX_ID, row_id
from tests.support.admin import signed_in

pytestmark = pytest.mark.usefixtures("demo_form")

# Past PostgreSQL's INTEGER, past a 64-bit integer (SQLite), and digits of another script.
HUGE = [str(MAX_ID + 1), str(2**63), "99999999999999999999", "٣"]
FORM_POSTS = [
    ("/admin/users", {"action": "role", "role": "admin"}, "user_id"),
    ("/admin/tokens", {"action": "revoke"}, "token_id"),
    ("/admin/webhooks", {"action": "disable"}, "endpoint_id"),
    ("/admin/leads/", {}, "before"),
]


def int_routes(app) -> list[tuple[str, str]]:
    """(method, path) of every route with an <int:...> part, the ints as {id}, other parts a slug."""
    found = []
    for rule in app.url_map.iter_rules():
        if "<int:" not in rule.rule:
            continue
        path = re.sub(r"<[^>]+>", "sales-machine", re.sub(r"<int:\w+>", "{id}", rule.rule))
        found += [(method, path) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return found


def assert_huge_ids_are_refused(app, services) -> None:
    """Every int route and every id posted in an admin form, with each huge id, as the admin."""
    admin = signed_in(app, services, "admin")
    routes = int_routes(app)
    assert len(routes) >= 13, routes
    for big in HUGE:
        for method, path in routes:
            url = path.format(id=big)
            response = admin.get(url) if method == "GET" else admin.post(url, {})
            assert response.status_code == 404, (method, url, response.status_code)
        for path, data, field in FORM_POSTS:
            response = admin.post(path, {**data, field: big})
            assert response.status_code < 500, (path, field, big)
        assert admin.get(f"/admin/audit?before={big}").status_code == 200


def test_huge_ids_in_admin_urls_and_forms_are_refused(app, services):
    assert_huge_ids_are_refused(app, services)


@pytest.mark.parametrize("text", ["0", "-1", "1.0", " 1", "٣", "²", str(MAX_ID + 1), "", "x"])
def test_a_row_id_is_ascii_digits_within_the_integer_range(text):
    with pytest.raises(ValueError):
        row_id(text)
    assert row_id("1") == 1
    assert row_id(str(MAX_ID)) == MAX_ID
