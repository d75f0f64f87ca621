"""A post is stored with the form version its page showed, even when another one went live in between."""

from __future__ import annotations

import re
import secrets
import time

import pytest
from sqlalchemy import select

from leadcapture.consent import ledger
from leadcapture.consent.formdefs import load_toml, save
from leadcapture.consent.tokens import FORM
from leadcapture.models import Form, LedgerEvent, Submission, utcnow
from tests.support.app import DEMO_FORM, form_token

pytestmark = pytest.mark.usefixtures("demo_form")

TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
SHOWN_LABEL = "Stuur mij de maandelijkse nieuwsbrief met salestips."
NEW_LABEL = "Stuur mij elke week een e-mail met salestips."
REFUSED = "kwam niet van onze pagina"  # the token check's refusal, in the demo form's Dutch


def publish(services, slug: str = "sales-machine", **changes) -> int:
    """Save a changed copy of the demo form as the live version of slug; its id."""
    definition, asset = load_toml(DEMO_FORM)
    definition = dict(definition, slug=slug, **changes)
    with services.db.session() as session:
        version, _ = save(session, definition, asset)
        session.commit()
        return version.id


def reworded(services) -> int:
    """The marketer's new version: the newsletter reworded, product news no longer asked."""
    definition, _ = load_toml(DEMO_FORM)
    purposes = [dict(p, label=NEW_LABEL) if p["key"] == "newsletter" else p for p in definition["purposes"]]
    return publish(services, purposes=[p for p in purposes if p["key"] != "product_news"])


def live_version_id(services, slug: str = "sales-machine") -> int:
    with services.db.session() as session:
        return session.scalar(select(Form.current_version_id).where(Form.slug == slug))


def stored(services) -> list[tuple[int, list[str], dict[str, str]]]:
    """Each submission: its version id, the purposes it requested, and the wording the ledger recorded for each."""
    with services.db.session() as session:
        rows = []
        for submission in session.scalars(select(Submission).order_by(Submission.id)):
            requested = [r.purpose_key for r in submission.requests if r.purpose_key]
            events = session.scalars(
                select(LedgerEvent).where(
                    LedgerEvent.event == "requested",
                    LedgerEvent.person_id == submission.person_id,
                    LedgerEvent.purpose_key.is_not(None),
                )
            )
            labels = {e.purpose_key: ledger.payload_of(services.vault, e)["label"] for e in events}
            rows.append((submission.form_version_id, sorted(requested), labels))
        return rows


def test_a_post_is_stored_with_the_wording_its_page_showed(client, services):
    # Given a visitor who opened the form, and then a new version went live
    shown_id = live_version_id(services)
    token = form_token(client)
    new_id = reworded(services)
    assert new_id != shown_id
    # When they tick the purposes they were shown, one of them no longer asked
    data = {"csrf_token": token, "email": "jan@example.com", "purpose_newsletter": "y", "purpose_product_news": "y"}
    response = client.post("/f/sales-machine", data=data)
    # Then the submission, its requests and the ledger name the version and the wording they saw
    assert response.status_code == 200 and "Kijk in je mailbox" in response.get_data(as_text=True)
    [(version_id, keys, labels)] = stored(services)
    assert version_id == shown_id
    assert keys == ["newsletter", "product_news"]
    assert labels == {
        "newsletter": SHOWN_LABEL,
        "product_news": "Houd mij op de hoogte van nieuwe diensten van Voorbeeld B.V.",
    }


def test_a_page_shown_after_the_new_version_stores_the_new_wording(client, services):
    reworded(services)
    token = form_token(client)
    data = {"csrf_token": token, "email": "jan@example.com", "purpose_newsletter": "y", "purpose_product_news": "y"}
    assert client.post("/f/sales-machine", data=data).status_code == 200
    [(version_id, keys, labels)] = stored(services)
    assert version_id == live_version_id(services)
    assert keys == ["newsletter"] and labels == {"newsletter": NEW_LABEL}


def test_the_error_page_keeps_the_version_first_shown(client, services):
    # Given a page shown before a new version went live, sent back with a mistyped address
    shown_id = live_version_id(services)
    token = form_token(client)
    reworded(services)
    refused = client.post("/f/sales-machine", data={"csrf_token": token, "email": "jan@example"})
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    # Then the error page shows the same wording again, and its post is stored with that version
    assert SHOWN_LABEL in page and NEW_LABEL not in page
    again = TOKEN.search(page).group(1)
    data = {"csrf_token": again, "email": "jan@example.com", "purpose_newsletter": "y"}
    assert client.post("/f/sales-machine", data=data).status_code == 200
    [(version_id, keys, labels)] = stored(services)
    assert version_id == shown_id and labels == {"newsletter": SHOWN_LABEL}


def token_naming(app, version_id: int | None, slug: str = "sales-machine") -> str:
    payload = {"f": slug, "t": int(time.time()) - 60, "n": secrets.token_urlsafe(9)}
    if version_id is not None:
        payload["v"] = version_id
    return app.extensions["leadcapture"].tokens.make(FORM, payload)


@pytest.mark.parametrize("other", ["another form's version", "no version at all"])
def test_a_token_naming_no_version_of_this_form_is_refused(client, services, app, other):
    other_id = publish(services, slug="other-form") if other == "another form's version" else 10_000
    data = {"csrf_token": token_naming(app, other_id), "email": "jan@example.com", "purpose_newsletter": "y"}
    response = client.post("/f/sales-machine", data=data)
    assert response.status_code == 400 and REFUSED in response.get_data(as_text=True)
    assert stored(services) == []


def test_a_token_made_before_tokens_named_the_version_is_stored_with_the_live_one(client, services, app):
    # Given a page opened before this deploy, its token naming no version, and a new version live since
    token = token_naming(app, None)
    new_id = reworded(services)
    data = {"csrf_token": token, "email": "jan@example.com", "purpose_newsletter": "y", "purpose_product_news": "y"}
    # Then it is stored as it always was: with the live version, and only the purposes it offers
    assert client.post("/f/sales-machine", data=data).status_code == 200
    [(version_id, keys, labels)] = stored(services)
    assert version_id == new_id and keys == ["newsletter"] and labels == {"newsletter": NEW_LABEL}


def test_a_page_of_a_form_archived_since_stores_nothing(client, services):
    token = form_token(client)
    reworded(services)
    with services.db.session() as session:
        session.scalar(select(Form).where(Form.slug == "sales-machine")).archived_at = utcnow()
        session.commit()
    data = {"csrf_token": token, "email": "jan@example.com", "purpose_newsletter": "y"}
    assert client.post("/f/sales-machine", data=data).status_code == 404
    assert stored(services) == []
