"""The admin's webhook pages and `leadcapture webhooks`, with a real receiver verifying each request."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from leadcapture.integrations import webhooks
from leadcapture.models import AuditEntry, WebhookDelivery, WebhookEndpoint, utcnow
from tests.support.admin import confirm_all, signed_in
from tests.support.app import submit
from tests.support.webhooks import Receiver

SECRET = re.compile(r"(whsec_[A-Za-z0-9+/=]+)")


@pytest.fixture
def config(config):
    return {**config, "WEBHOOK_ALLOW_NETWORKS": "127.0.0.1"}


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def endpoint_row(services) -> WebhookEndpoint:
    with services.db.session() as session:
        row = session.scalars(select(WebhookEndpoint)).one()
        session.expunge(row)
        return row


def test_an_admin_adds_an_endpoint_sees_its_secret_once_and_its_deliveries(
    app, services, client, demo_form, worker, receiver
):
    admin = signed_in(app, services, "admin")
    # When an admin adds an endpoint for confirmations, with addresses
    page = admin.post(
        "/admin/webhooks",
        {"action": "add", "url": receiver.url, "event_consent.confirmed": "y", "personal_data": "y"},
    )
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    receiver.secret = SECRET.search(html).group(1)
    # Then the secret is shown this once, and never again
    assert receiver.secret not in admin.get("/admin/webhooks").get_data(as_text=True)
    # And a confirmation reaches the receiver, signed
    submit(client, "jan@example.com", ["newsletter"])
    confirm_all(services, "jan@example.com")
    worker.drain()
    assert receiver.types() == ["consent.confirmed"]
    assert receiver.received[0]["data"]["email"] == "jan@example.com"
    # And the delivery log shows it, with "send again"
    endpoint_id = endpoint_row(services).id
    log = admin.get(f"/admin/webhooks/{endpoint_id}").get_data(as_text=True)
    assert "consent.confirmed" in log and "delivered" in log and "HTTP 204" in log
    with services.db.session() as session:
        delivery_id = session.scalars(select(WebhookDelivery.id)).one()
    again = admin.post(f"/admin/webhooks/deliveries/{delivery_id}/resend")
    assert again.status_code == 302
    worker.drain()
    assert receiver.types() == ["consent.confirmed", "consent.confirmed"]
    assert receiver.received[0]["_headers"]["webhook-id"] == receiver.received[1]["_headers"]["webhook-id"]
    with services.db.session() as session:
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("webhook.%"))).all()
    assert actions == ["webhook.add", "webhook.resend"]


def test_the_admin_says_an_endpoint_was_disabled_and_enables_it_again(app, services, worker, receiver):
    admin = signed_in(app, services, "admin")
    added = admin.post("/admin/webhooks", {"action": "add", "url": receiver.url})
    receiver.secret = SECRET.search(added.get_data(as_text=True)).group(1)
    endpoint_id = endpoint_row(services).id
    receiver.statuses = [500, 500]
    services.publish, publish = None, services.publish  # each attempt made here, at the time chosen
    webhooks.fan_out(services, "msg_test1", "consent.expired", "p1", "newsletter", None, utcnow().isoformat())
    with services.db.session() as session:
        delivery_id = session.scalars(select(WebhookDelivery.id)).one()
    t0 = utcnow() - timedelta(days=2)
    webhooks.deliver(services, delivery_id, now=t0)
    webhooks.deliver(services, delivery_id, now=t0 + timedelta(days=1, seconds=1))
    services.publish = publish
    page = admin.get("/admin/webhooks").get_data(as_text=True)
    assert "<strong>disabled</strong>" in page and "HTTP 500" in page
    log = admin.get(f"/admin/webhooks/{endpoint_id}").get_data(as_text=True)
    assert "This endpoint is disabled" in log
    # "send again" on a disabled endpoint says what to do instead
    admin.post(f"/admin/webhooks/deliveries/{delivery_id}/resend")
    assert "is disabled: enable it first" in admin.get(f"/admin/webhooks/{endpoint_id}").get_data(as_text=True)
    # Enabling it sends the waiting delivery
    assert admin.post("/admin/webhooks", {"action": "enable", "endpoint_id": endpoint_id}).status_code == 302
    worker.drain()
    assert endpoint_row(services).enabled
    assert receiver.types()[-1] == "consent.expired"


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"url": "http://10.0.0.5/hook"}, "are refused unless LEADCAPTURE_WEBHOOK_ALLOW_NETWORKS allows them"),
        ({"url": "javascript:alert(1)"}, "must be http:// or https://"),
        ({"url": "https://a:b@example.com/"}, "user name or password"),
        ({"url": ""}, "must be http:// or https://"),
    ],
)
def test_a_bad_endpoint_is_a_clear_message_and_nothing_is_saved(app, services, form, message):
    admin = signed_in(app, services, "admin")
    page = admin.post("/admin/webhooks", {"action": "add", **form})
    assert page.status_code == 200
    assert message in page.get_data(as_text=True)
    with services.db.session() as session:
        assert session.scalars(select(WebhookEndpoint)).all() == []


def test_unknown_endpoints_and_deliveries_are_404(app, services):
    admin = signed_in(app, services, "admin")
    assert admin.get("/admin/webhooks/99").status_code == 404
    assert admin.post("/admin/webhooks/deliveries/99/resend").status_code == 404
    assert admin.post("/admin/webhooks", {"action": "remove", "endpoint_id": "99"}).status_code == 200
    assert admin.post("/admin/webhooks", {"action": "remove", "endpoint_id": "x"}).status_code == 200


# --- the CLI --------------------------------------------------------------------------------


def test_the_cli_adds_lists_rotates_shows_deliveries_resends_and_removes(
    services, runner, client, demo_form, worker, receiver
):
    added = runner.invoke(["webhooks", "add", receiver.url, "--event", "consent.withdrawn", "--description", "CRM"])
    assert added.exit_code == 0, added.output
    receiver.secret = SECRET.search(added.output).group(1)
    assert "shown once" in added.output
    listed = runner.invoke(["webhooks", "list"])
    assert f"1\t{receiver.url}\tenabled\tids only\tconsent.withdrawn\tCRM" in listed.output
    assert receiver.secret not in listed.output

    submit(client, "jan@example.com", ["newsletter"])
    confirm_all(services, "jan@example.com")
    from tests.support.admin import withdraw

    withdraw(services, "jan@example.com")
    worker.drain()
    assert receiver.types() == ["consent.withdrawn"]
    log = runner.invoke(["webhooks", "deliveries"])
    assert "consent.withdrawn" in log.output and "delivered" in log.output and "HTTP 204" in log.output

    rotated = runner.invoke(["webhooks", "rotate-secret", "1"])
    receiver.secret = SECRET.search(rotated.output).group(1)
    assert runner.invoke(["webhooks", "resend", "1"]).exit_code == 0
    worker.drain()
    assert receiver.types() == ["consent.withdrawn", "consent.withdrawn"] and receiver.rejected == []

    assert runner.invoke(["webhooks", "remove", "1", "--yes"]).exit_code == 0
    assert "no webhook endpoints yet" in runner.invoke(["webhooks", "list"]).output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "http://192.168.0.10/x"], "are refused"),
        (["add", "https://example.com/x", "--event", "consent.deleted"], "Invalid value for '--event'"),
        (["remove", "5", "--yes"], "there is no webhook endpoint 5"),
        (["rotate-secret", "5"], "there is no webhook endpoint 5"),
        (["enable", "5"], "there is no webhook endpoint 5"),
        (["resend", "5"], "there is no webhook delivery 5"),
        (["deliveries", "--status", "lost"], "Invalid value for '--status'"),
    ],
)
def test_cli_mistakes_are_one_line_and_a_non_zero_exit(runner, args, message):
    result = runner.invoke(["webhooks", *args])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_ids_out_of_range_are_404_not_500(app, services):
    admin = signed_in(app, services, "admin")
    huge = "9" * 30
    assert admin.get(f"/admin/webhooks/{huge}").status_code == 404
    assert admin.post(f"/admin/webhooks/deliveries/{huge}/resend").status_code == 404
    assert admin.post("/admin/webhooks", {"action": "rotate", "endpoint_id": huge}).status_code == 200


def test_cli_ids_out_of_range_are_a_message(runner):
    for args in (["resend", "9" * 30], ["remove", "9" * 30, "--yes"]):
        result = runner.invoke(["webhooks", *args])
        assert result.exit_code == 1 and "there is no webhook" in result.output


def test_removing_an_endpoint_asks_first_and_says_what_goes_with_it(app, services, receiver):
    admin = signed_in(app, services, "admin")
    added = admin.post("/admin/webhooks", {"action": "add", "url": receiver.url})
    receiver.secret = SECRET.search(added.get_data(as_text=True)).group(1)
    endpoint_id = endpoint_row(services).id
    services.publish, publish = None, services.publish  # the delivery stays waiting
    webhooks.fan_out(services, "msg_test2", "consent.expired", "p1", "newsletter", None, utcnow().isoformat())
    services.publish = publish
    # The list offers removal as a link to a page, not a button that acts
    listing = admin.get("/admin/webhooks").get_data(as_text=True)
    assert f'href="/admin/webhooks/{endpoint_id}/remove"' in listing and 'value="remove"' not in listing
    # The old one-step post removes nothing
    assert admin.post("/admin/webhooks", {"action": "remove", "endpoint_id": endpoint_id}).status_code == 400
    assert endpoint_row(services).id == endpoint_id
    # The page says what goes, and GET changes nothing
    page = admin.get(f"/admin/webhooks/{endpoint_id}/remove").get_data(as_text=True)
    assert (
        f"Remove the endpoint {receiver.url}?" in page and "1 deliveries, of which <strong>1 not delivered yet" in page
    )
    assert endpoint_row(services).id == endpoint_id
    # Its button removes the endpoint and its log, audited
    done = admin.post(f"/admin/webhooks/{endpoint_id}/remove")
    assert done.status_code == 302 and done.headers["Location"] == "/admin/webhooks"
    with services.db.session() as session:
        assert session.scalars(select(WebhookEndpoint)).all() == []
        assert session.scalars(select(WebhookDelivery)).all() == []
        assert session.scalars(select(AuditEntry.action).where(AuditEntry.action == "webhook.remove")).all()
    assert admin.get(f"/admin/webhooks/{endpoint_id}/remove").status_code == 404
    marketer = signed_in(app, services, "marketer")
    assert marketer.get(f"/admin/webhooks/{endpoint_id}/remove").status_code == 403
