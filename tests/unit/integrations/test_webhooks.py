"""Signed webhooks end to end: a real HTTP receiver verifies every request with standardwebhooks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from leadcapture.consent import events, people
from leadcapture.integrations import endpoints, webhooks
from leadcapture.models import OutboxJob, Person, WebhookDelivery, WebhookEndpoint, utcnow
from leadcapture.privacy.rights import erase_person
from tests.support.admin import confirm_all, withdraw
from tests.support.app import submit
from tests.support.settings import reconfigure
from tests.support.webhooks import Receiver


@pytest.fixture
def config(config):
    return {**config, "WEBHOOK_ALLOW_NETWORKS": "127.0.0.1"}


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def by_hand(services, monkeypatch):
    """No job reaches a worker: the test makes each attempt itself, at the time it chooses."""
    monkeypatch.setattr(services, "publish", None)


def add_endpoint(services, receiver, **kwargs) -> int:
    with services.db.session() as session:
        endpoint, secret = endpoints.add(session, services.vault, services.settings, url=receiver.url, **kwargs)
        receiver.secret = secret
        return endpoint.id


def deliveries(services) -> list[WebhookDelivery]:
    with services.db.session() as session:
        rows = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
        session.expunge_all()
        return rows


def test_it_sends_a_signed_event_per_consent_change_that_the_receiver_verifies(
    services, client, demo_form, worker, receiver
):
    # Given an endpoint for every event, allowed the address
    add_endpoint(services, receiver, personal_data=True)
    # When a person confirms the newsletter and the phone call, then withdraws the newsletter
    submit(client, "jan@example.com", ["newsletter", "call"])
    confirm_all(services, "jan@example.com")
    worker.drain()
    withdraw(services, "jan@example.com", ["newsletter"])
    worker.drain()
    # Then the receiver verified each request's signature and got each event once
    assert receiver.rejected == []
    got = sorted((e["type"], e["data"].get("purpose")) for e in receiver.received)
    assert got == [
        ("consent.confirmed", "call"),
        ("consent.confirmed", "newsletter"),
        ("consent.withdrawn", "newsletter"),
        ("lead.to_call", "call"),
    ]
    first = receiver.received[0]
    assert first["data"]["email"] == "jan@example.com"
    with services.db.session() as session:
        person = people.find_person(session, services.vault, "jan@example.com")
        assert first["data"]["person_id"] == person.public_id  # the id links and the API use, never the row id
    assert first["_headers"]["webhook-id"].startswith("msg_")
    assert first["timestamp"].endswith("Z")
    assert {d.status for d in deliveries(services)} == {"delivered"}
    assert all(d.response_code == 204 and d.attempts == 1 for d in deliveries(services))


def test_an_endpoint_gets_only_its_events_and_no_address_unless_allowed(services, client, demo_form, worker, receiver):
    add_endpoint(services, receiver, event_types=["lead.to_call"])
    submit(client, "jan@example.com", ["newsletter", "call"])
    confirm_all(services, "jan@example.com")
    worker.drain()
    assert receiver.types() == ["lead.to_call"]
    assert receiver.received[0]["data"] == {"person_id": receiver.received[0]["data"]["person_id"], "purpose": "call"}


def test_nothing_is_queued_while_no_endpoint_is_enabled(services, client, demo_form, worker):
    submit(client, "jan@example.com", ["newsletter"])
    confirm_all(services, "jan@example.com")
    with services.db.session() as session:
        assert session.scalar(select(func.count()).where(OutboxJob.actor == "webhook_event")) == 0


def test_an_erasure_before_the_delivery_keeps_the_address_from_leaving(services, client, demo_form, worker, receiver):
    # Given an event queued for an endpoint allowed addresses, not yet sent
    add_endpoint(services, receiver, personal_data=True)
    submit(client, "jan@example.com", ["newsletter"])
    with worker.paused():
        confirm_all(services, "jan@example.com")
        # When the person is erased before the worker sends it
        with services.db.session() as session:
            person = people.find_person(session, services.vault, "jan@example.com")
            erase_person(session, services.vault, person, method="admin")
    worker.drain()
    # Then every payload was built after the erasure: no address in any of them
    assert sorted(receiver.types()) == ["consent.confirmed", "person.erased", "suppression.added"]
    assert all("email" not in e["data"] for e in receiver.received)
    assert len({e["data"]["person_id"] for e in receiver.received}) == 1  # the public id, kept for person.erased
    assert "jan@example.com" not in repr(receiver.received)


def test_a_new_suppression_sends_suppression_added_once(services, client, demo_form, worker, receiver):
    add_endpoint(services, receiver, event_types=["suppression.added"])
    submit(client, "jan@example.com", ["newsletter"])
    with services.db.session() as session:
        person = people.find_person(session, services.vault, "jan@example.com")
        assert people.suppress(session, person.email_index, "bounced") is True
        assert people.suppress(session, person.email_index, "complaint") is False  # already suppressed
    worker.drain()
    assert [(e["type"], e["data"]["reason"]) for e in receiver.received] == [("suppression.added", "bounced")]


def test_a_failing_endpoint_is_retried_with_backoff_then_disabled_after_a_day(services, receiver, by_hand):
    # Given a delivery to an endpoint that answers 500
    endpoint_id = add_endpoint(services, receiver)
    webhooks.fan_out(services, events.new_event_id(), "consent.expired", "p7", "newsletter", None, utcnow().isoformat())
    delivery_id = deliveries(services)[0].id
    receiver.statuses = [500] * 10
    t0 = utcnow()
    # When it fails
    assert webhooks.deliver(services, delivery_id, now=t0) == "retrying"
    (row,) = deliveries(services)
    assert (row.attempts, row.response_code, row.next_attempt_at) == (1, 500, t0 + timedelta(seconds=30))
    # Then it is due again after the backoff, and queued once by the scheduler's retry_due
    with services.db.session() as session:
        assert webhooks.retry_due(session, t0 + timedelta(seconds=29)) == 0
        assert webhooks.retry_due(session, t0 + timedelta(seconds=30)) == 1
        assert webhooks.retry_due(session, t0 + timedelta(seconds=31)) == 0  # queued, not due twice
    assert webhooks.deliver(services, delivery_id, now=t0 + timedelta(seconds=30)) == "retrying"
    assert deliveries(services)[0].next_attempt_at == t0 + timedelta(seconds=30 + 120)
    # When it still fails a day after its first failure, the endpoint is disabled and says why
    webhooks.deliver(services, delivery_id, now=t0 + timedelta(days=1))
    with services.db.session() as session:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        assert not endpoint.enabled
        assert "HTTP 500" in endpoint.disabled_reason
        assert webhooks.retry_due(session, t0 + timedelta(days=2)) == 0  # it waits while disabled
    assert webhooks.deliver(services, delivery_id) is None
    assert len(receiver.rejected) + len(receiver.received) == 3
    # When an admin enables it again and the receiver is back, the waiting delivery goes out
    receiver.statuses = []
    with services.db.session() as session:
        assert webhooks.resume(session, session.get(WebhookEndpoint, endpoint_id), utcnow()) == 1
    assert webhooks.deliver(services, delivery_id) == "delivered"
    assert receiver.types()[-1] == "consent.expired"
    with services.db.session() as session:
        assert session.get(WebhookEndpoint, endpoint_id).failing_since is None


def test_a_redelivered_event_job_adds_no_second_delivery(services, receiver, by_hand):
    add_endpoint(services, receiver)
    args = (events.new_event_id(), "consent.renewed", "p3", "newsletter", None, utcnow().isoformat())
    assert webhooks.fan_out(services, *args) == 1
    assert webhooks.fan_out(services, *args) == 0
    assert len(deliveries(services)) == 1


def test_a_redirect_is_not_followed(services, receiver, by_hand):
    add_endpoint(services, receiver)
    other = Receiver()
    try:
        receiver.statuses, receiver.redirect_to = [307], other.url
        webhooks.fan_out(services, events.new_event_id(), "consent.expired", "p1", "x", None, utcnow().isoformat())
        assert webhooks.deliver(services, deliveries(services)[0].id) == "retrying"
        assert deliveries(services)[0].response_code == 307
        assert other.received == other.rejected == []
    finally:
        other.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:192.168.1.1]/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused(app, services, url):
    reconfigure(app, webhook_allow_networks="")
    with services.db.session() as session, pytest.raises(endpoints.EndpointError, match="are refused"):
        endpoints.add(session, services.vault, services.settings, url=url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "http:// or https://"),
        ("https://user:pw@example.com/x", "user name or password"),
        ("https:///x", "no host"),
        ("https://example.com:99999/x", "not a URL"),
        ("https://example.com/" + "x" * 2000, "longer than"),
    ],
)
def test_malformed_urls_are_refused_with_a_reason(services, url, message):
    with services.db.session() as session, pytest.raises(endpoints.EndpointError, match=message):
        endpoints.add(session, services.vault, services.settings, url=url)


def test_a_delivery_to_an_address_that_became_private_is_refused_at_send_time(app, services, receiver, by_hand):
    # Given an endpoint added while its address was allowed
    add_endpoint(services, receiver)
    webhooks.fan_out(services, events.new_event_id(), "consent.expired", "p1", "x", None, utcnow().isoformat())
    # When the setting no longer allows it
    reconfigure(app, webhook_allow_networks="")
    # Then nothing is posted and the log says why
    assert webhooks.deliver(services, deliveries(services)[0].id) == "retrying"
    assert deliveries(services)[0].error.startswith("refused: 127.0.0.1 resolves to 127.0.0.1")
    assert receiver.received == receiver.rejected == []


def test_production_requires_https(app, services):
    reconfigure(app, env="production")
    with services.db.session() as session, pytest.raises(endpoints.EndpointError, match="https://"):
        endpoints.add(session, services.vault, services.settings, url="http://crm.example.com/hook")


def test_unknown_event_types_are_refused(services, receiver):
    with services.db.session() as session, pytest.raises(endpoints.EndpointError, match="consent.deleted"):
        endpoints.add(session, services.vault, services.settings, url=receiver.url, event_types=["consent.deleted"])


def test_a_rotated_secret_signs_from_then_on(services, receiver, by_hand):
    endpoint_id = add_endpoint(services, receiver)
    old = receiver.secret
    with services.db.session() as session:
        receiver.secret = endpoints.rotate_secret(session, services.vault, session.get(WebhookEndpoint, endpoint_id))
    assert receiver.secret != old and receiver.secret.startswith("whsec_")
    webhooks.fan_out(services, events.new_event_id(), "consent.expired", "p1", "x", None, utcnow().isoformat())
    assert webhooks.deliver(services, deliveries(services)[0].id) == "delivered"
    receiver.secret = old
    with services.db.session() as session:
        webhooks.resend(session, session.get(WebhookDelivery, deliveries(services)[0].id))
    webhooks.deliver(services, deliveries(services)[0].id)
    assert receiver.rejected == ["No matching signature found"]


def test_an_expiry_by_the_scheduler_is_an_event_from_the_ledger(services, demo_form, worker, receiver):
    from leadcapture.consent import lifecycle
    from tests.support.people import add_person

    add_endpoint(services, receiver, event_types=["consent.expired"])
    person_id = add_person(services, demo_form, "old@example.com")
    with services.db.session() as session:
        public_id = session.get(Person, person_id).public_id
    with services.db.session() as session:
        assert lifecycle.expire_lapsed(session, services.vault, utcnow() + timedelta(days=5 * 365)) == 1
    worker.drain()
    assert [(e["type"], e["data"]) for e in receiver.received] == [
        ("consent.expired", {"person_id": public_id, "purpose": "newsletter"})
    ]


def test_the_register_lists_every_endpoint_as_a_recipient(services, receiver):
    from leadcapture.privacy import records

    add_endpoint(services, receiver, event_types=["lead.to_call"], personal_data=True)
    with services.db.session() as session:
        recipients = records.build(session, services.settings)["recipients"]
    assert {
        "name": "webhook endpoint 127.0.0.1",
        "role": "receives lead.to_call: ids, purposes and email addresses",
    } in (recipients)
