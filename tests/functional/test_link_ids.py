"""A link never acts on anyone but the person it was sent to.

Links name rows by a random public id, never by an integer id that a new row can take over once
the old one is erased or purged. Links of the older, integer format get "this link no longer works".
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from leadcapture.consent.tokens import CONFIRM, DOWNLOAD, PREFERENCES, UNSUBSCRIBE
from leadcapture.crypto import normalise_email
from leadcapture.models import (
    Consent,
    LeadRequest,
    LedgerEvent,
    Message,
    Person,
    Submission,
    Suppression,
    new_public_id,
    utcnow,
)
from leadcapture.privacy.retention import purge_unconfirmed
from tests.support.app import BASE_URL, links, path_of, submit, text_part

pytestmark = pytest.mark.usefixtures("demo_form")

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
GONE = "Deze link werkt niet meer"
RETIRED = "Deze link komt uit een e-mail van voordat onze links veranderden"


def mailed_links(mailbox, email: str) -> list[str]:
    """Every link to our pages in every message to email, as paths."""
    found = {url for msg in mailbox.to(email) for url in links(msg) if url.startswith(BASE_URL)}
    return sorted(path_of(url) for url in found if "/f/" not in url)


def confirm_all(client, mailbox, email: str) -> None:
    link = re.search(r"bevestigen:\s*(\S+)", text_part(mailbox.to(email)[0])).group(1)
    assert client.post(path_of(link)).status_code == 200


def state(services) -> dict:
    """Everything a link could change, for every person."""
    with services.db.session() as session:
        return {
            "people": session.execute(select(Person.id, Person.public_id, Person.name_enc)).all(),
            "requests": session.execute(select(LeadRequest.id, LeadRequest.state, LeadRequest.confirmed_at)).all(),
            "consents": session.execute(select(Consent.person_id, Consent.purpose_key, Consent.state)).all(),
            "suppressions": session.execute(select(Suppression.email_index, Suppression.reason)).all(),
            "events": session.scalar(select(func.count()).select_from(LedgerEvent)),
            "messages": session.scalar(select(func.count()).select_from(Message)),
        }


def replay(client, paths: list[str], csrf: str) -> None:
    """Every way to use every link, each answered by a page saying it no longer works."""
    for path in paths:
        attempts = [("GET", path, None), ("HEAD", path, None)]
        if not path.startswith("/d/"):  # a download is only ever a GET
            attempts.append(("POST", path, {}))
        if path.startswith("/u/"):
            attempts.append(("POST", path, {"List-Unsubscribe": "One-Click"}))
        if path.startswith("/p/"):
            attempts += [
                ("POST", path, {"csrf_token": csrf, "withdraw": "__all__"}),
                ("POST", path, {"csrf_token": csrf, "renew": "newsletter"}),
                ("GET", f"{path}/forget", None),
                ("POST", f"{path}/forget", {"csrf_token": csrf}),
            ]
        for method, url, data in attempts:
            response = client.open(url, method=method, data=data)
            assert response.status_code in (404, 410), (method, url, response.status_code)
            if method != "HEAD":
                body = response.get_data(as_text=True)
                assert GONE in body and "Traceback" not in body, (method, url)


def a_csrf_token(client, mailbox, email: str) -> str:
    """The session's form token, from the person's own preference centre (it is not tied to a link)."""
    own = next(p for p in mailed_links(mailbox, email) if p.startswith("/p/"))
    return CSRF.search(client.get(f"{own}/forget").get_data(as_text=True)).group(1)


def take_over_id(services, old_person_id: int, email: str) -> None:
    """The next person gets the erased person's integer id, as SQLite gave it before ids were kept."""
    with services.db.session() as session:
        session.add(
            Person(
                id=old_person_id,
                email_index=services.vault.blind_index(normalise_email(email)),
                email_enc=services.vault.encrypt(email),
                language="nl",
            )
        )


def person_id(services, email: str) -> int:
    with services.db.session() as session:
        return session.scalar(
            select(Person.id).where(Person.email_index == services.vault.blind_index(normalise_email(email)))
        )


@pytest.mark.parametrize("same_integer_id", [False, True])
def test_an_erased_persons_links_never_act_on_the_next_person(
    client, worker, mailbox, runner, services, same_integer_id
):
    # Given a person who confirmed, holding every kind of link (confirm, not me, download,
    # one-click, preference centre), and who is then erased
    submit(client, "old@example.com", ["newsletter", "call"])
    worker.drain()
    confirm_all(client, mailbox, "old@example.com")
    worker.drain()
    old_links = mailed_links(mailbox, "old@example.com")
    assert {p[:3] for p in old_links} == {"/c/", "/u/", "/d/", "/p/"}
    old_id = person_id(services, "old@example.com")
    assert runner.invoke(["people", "erase", "old@example.com", "--yes"]).exit_code == 0
    # And the next person asks for the same purposes (with the erased person's integer id, or not)
    if same_integer_id:
        take_over_id(services, old_id, "new@example.com")
    submit(client, "new@example.com", ["newsletter", "call"])
    worker.drain()
    new_id = person_id(services, "new@example.com")
    assert (new_id == old_id) is same_integer_id
    csrf = a_csrf_token(client, mailbox, "new@example.com")
    before = state(services)
    # When every old link is used every way it can be
    replay(client, old_links, csrf)
    # Then nothing changed for anyone, and the new person's own links still work
    assert state(services) == before
    assert len(mailbox.to("new@example.com")) == 1
    confirm_all(client, mailbox, "new@example.com")
    with services.db.session() as session:
        assert set(session.scalars(select(Consent.state).where(Consent.person_id == new_id))) == {"confirmed"}


def test_a_purged_submissions_links_never_act_on_the_next_person(client, worker, mailbox, services):
    # Given an unconfirmed submission whose retention ran out, so it and its person are purged
    submit(client, "old@example.com", ["newsletter", "call"])
    worker.drain()
    old_links = mailed_links(mailbox, "old@example.com")
    assert {p[:3] for p in old_links} == {"/c/", "/u/", "/p/"}
    old_id = person_id(services, "old@example.com")
    days = services.settings.unconfirmed_retention_days
    with services.db.session() as session:
        assert purge_unconfirmed(session, services.vault, utcnow() + timedelta(days=days + 1), days).requests == 3
    assert person_id(services, "old@example.com") is None
    # And the next person submits
    submit(client, "new@example.com", ["newsletter", "call"])
    worker.drain()
    assert person_id(services, "new@example.com") > old_id  # never the purged person's id
    csrf = a_csrf_token(client, mailbox, "new@example.com")
    before = state(services)
    # When the purged submission's links are used
    replay(client, old_links, csrf)
    # Then nothing changed
    assert state(services) == before


def test_links_with_integer_ids_no_longer_work(client, worker, mailbox, services):
    # Given a person, their submission and requests, and links in the older format naming them
    submit(client, "jan@example.com", ["newsletter"])
    worker.drain()
    with services.db.session() as session:
        submission = session.scalar(select(Submission))
        person_id, submission_id, request_id = submission.person_id, submission.id, submission.requests[0].id
    sign = services.tokens.make
    paths = [
        f"/c/{sign(CONFIRM, {'s': submission_id})}",
        f"/c/{sign(CONFIRM, {'r': request_id})}",
        f"/d/{sign(DOWNLOAD, {'r': request_id})}",
        f"/u/{sign(UNSUBSCRIBE, {'s': submission_id})}",
        f"/u/{sign(UNSUBSCRIBE, {'p': person_id, 'k': None})}",
        f"/p/{sign(PREFERENCES, {'p': person_id})}",
    ]
    csrf = a_csrf_token(client, mailbox, "jan@example.com")
    before = state(services)
    # When they are used
    replay(client, paths, csrf)
    # Then each says the link no longer works (410), and nothing changed
    for path in paths:
        response = client.get(path)
        assert response.status_code == 410 and RETIRED in response.get_data(as_text=True)
    assert state(services) == before


def test_a_public_id_of_another_row_or_of_no_row_is_a_dead_link(client, worker, mailbox, services):
    # Given a person with a submission and a request
    submit(client, "jan@example.com", ["newsletter"])
    worker.drain()
    with services.db.session() as session:
        submission = session.scalar(select(Submission))
        ids = {"person": submission.person.public_id, "submission": submission.public_id}
        ids["request"] = submission.requests[0].public_id
    sign = services.tokens.make
    # When links name a row of another kind by its public id, or one that never existed
    paths = [
        f"/c/{sign(CONFIRM, {'s': ids['request']})}",
        f"/c/{sign(CONFIRM, {'r': ids['submission']})}",
        f"/u/{sign(UNSUBSCRIBE, {'s': ids['person']})}",
        f"/u/{sign(UNSUBSCRIBE, {'p': ids['submission'], 'k': None})}",
        f"/p/{sign(PREFERENCES, {'p': ids['request']})}",
        f"/p/{sign(PREFERENCES, {'p': new_public_id()})}",
        f"/d/{sign(DOWNLOAD, {'r': new_public_id()})}",
    ]
    csrf = a_csrf_token(client, mailbox, "jan@example.com")
    before = state(services)
    replay(client, paths, csrf)
    # Then nothing changed; and a public id changed inside a signed token breaks its signature
    assert state(services) == before
    own = next(p for p in mailed_links(mailbox, "jan@example.com") if p.startswith("/p/"))
    signature = own.rpartition(".")[2]
    forged = f"/p/{sign(PREFERENCES, {'p': new_public_id()}).partition('.')[0]}.{signature}"
    assert client.get(forged).status_code == 404
    assert client.get(own).status_code == 200
