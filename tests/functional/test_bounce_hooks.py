"""POST /hooks/<provider>: each relay's webhook is checked the way the relay signs it, then recorded."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.people import confirmed_person
from tests.support.reports import bounce_rows, events_of, last_sent, suppression_of

JAN = "jan@example.com"
MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
pytestmark = pytest.mark.usefixtures("demo_form")


@pytest.fixture
def sendgrid_keys():
    """A locally made P-256 key pair: SendGrid's settings page shows the public half as base64 DER."""
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, base64.b64encode(der).decode()


@pytest.fixture
def hooked(make_app, sendgrid_keys, dramatiq_worker):
    """An app with every provider's webhook configured, and Jan confirmed on it."""
    from tests.support.app import Drainer, Outbox

    app = make_app(
        BOUNCE_POSTMARK_AUTH="postmark:s3cret-pass",
        BOUNCE_MAILGUN_SIGNING_KEY=MAILGUN_KEY,
        BOUNCE_SENDGRID_PUBLIC_KEY=sendgrid_keys[1],
    )
    services = app.extensions["leadcapture"]
    mailbox = Outbox(services.settings.var_dir + "/outbox")
    confirmed_person(app.test_client(), Drainer(app, dramatiq_worker), mailbox, JAN)
    return app, services, last_sent(services, mailbox, JAN)


def post(app, provider: str, body: bytes, headers: dict | None = None):
    return app.test_client().post(
        f"/hooks/{provider}", data=body, headers=headers or {}, content_type="application/json"
    )


def postmark_auth(secret: str = "postmark:s3cret-pass") -> dict:
    return {"Authorization": "Basic " + base64.b64encode(secret.encode()).decode()}


def mailgun(event: dict, key: str = MAILGUN_KEY) -> bytes:
    timestamp, token = "1764237759", "d0b6f5a1c2e34f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f"
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {"signature": {"timestamp": timestamp, "token": token, "signature": signature}, "event-data": event}
    ).encode()


def sendgrid(private, events: list, timestamp: str = "1764237759") -> tuple[bytes, dict]:
    body = json.dumps(events).encode()
    signature = private.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return body, {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }


POSTMARK_BOUNCE = {
    "RecordType": "Bounce",
    "ID": 4323372036854775807,
    "Type": "HardBounce",
    "TypeCode": 1,
    "Name": "Hard bounce",
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
    "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
    "Email": JAN,
    "BouncedAt": "2026-11-27T10:15:02Z",
    "Inactive": True,
    "CanActivate": True,
}


def test_a_postmark_hard_bounce_with_its_basic_auth_suppresses(hooked):
    app, services, _sent = hooked

    response = post(app, "postmark", json.dumps(POSTMARK_BOUNCE).encode(), postmark_auth())

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "recorded": {"suppressed": 1}}
    assert suppression_of(services, JAN) == "bounced"
    assert bounce_rows(services)[0].source == "postmark"


def test_a_postmark_post_with_the_wrong_password_records_nothing(hooked):
    app, services, _sent = hooked

    for headers in (postmark_auth("postmark:guess"), {}):
        response = post(app, "postmark", json.dumps(POSTMARK_BOUNCE).encode(), headers)
        assert response.status_code == 401
    assert suppression_of(services, JAN) is None and bounce_rows(services) == []


def test_a_postmark_spam_complaint_withdraws_and_suppresses(hooked):
    app, services, _sent = hooked
    complaint = {**POSTMARK_BOUNCE, "RecordType": "SpamComplaint", "Type": "SpamComplaint", "TypeCode": 512}

    assert post(app, "postmark", json.dumps(complaint).encode(), postmark_auth()).status_code == 200

    assert suppression_of(services, JAN) == "complaint"
    assert ("withdrawn", "system", "newsletter") in events_of(services, JAN)


def test_a_mailgun_permanent_failure_names_our_message(hooked):
    app, services, sent = hooked
    event = {
        "event": "failed",
        "severity": "permanent",
        "id": "G9Bn5sl1TC6nu79C8C0bwg",
        "recipient": JAN,
        "message": {"headers": {"message-id": sent.message_id.strip("<>")}},
        "delivery-status": {"code": 550, "enhanced-code": "5.1.1", "description": "No such user"},
    }

    response = post(app, "mailgun", mailgun(event))
    again = post(app, "mailgun", mailgun(event))  # Mailgun retries until it gets a 200

    assert (response.status_code, again.get_json()["recorded"]) == (200, {"duplicate": 1})
    (row,) = bounce_rows(services)
    assert (row.kind, row.status, row.message_row_id) == ("hard", "5.1.1", sent.row_id)
    assert suppression_of(services, JAN) == "bounced"


def test_a_mailgun_event_signed_with_another_key_is_refused(hooked):
    app, services, _sent = hooked
    event = {"event": "complained", "id": "x1", "recipient": JAN}

    response = post(app, "mailgun", mailgun(event, key="key-someone-else"))

    assert response.status_code == 401
    assert suppression_of(services, JAN) is None


def test_sendgrid_signed_events_are_recorded_and_deliveries_ignored(hooked, sendgrid_keys):
    app, services, sent = hooked
    events = [
        {"email": JAN, "event": "delivered", "sg_event_id": "ZGVsaXZlcmVk", "smtp-id": sent.message_id},
        {"email": JAN, "event": "spamreport", "sg_event_id": "c3BhbXJlcG9ydA", "smtp-id": sent.message_id},
    ]
    body, headers = sendgrid(sendgrid_keys[0], events)

    response = post(app, "sendgrid", body, headers)

    assert response.get_json() == {"status": "ok", "recorded": {"suppressed": 1}}
    assert suppression_of(services, JAN) == "complaint"


def test_a_sendgrid_batch_larger_than_a_form_post_is_taken(hooked, sendgrid_keys):
    app, services, _sent = hooked
    events = [
        {"email": f"someone{n}@example.org", "event": "delivered", "sg_event_id": f"ev{n}", "smtp-id": f"<{n}@x>"}
        for n in range(1500)
    ]
    body, headers = sendgrid(sendgrid_keys[0], [*events, {"email": JAN, "event": "bounce", "sg_event_id": "b1"}])
    assert len(body) > services.settings.max_content_length

    response = post(app, "sendgrid", body, headers)

    assert response.get_json() == {"status": "ok", "recorded": {"suppressed": 1}}


def test_a_sendgrid_body_changed_after_signing_is_refused(hooked, sendgrid_keys):
    app, services, _sent = hooked
    body, headers = sendgrid(sendgrid_keys[0], [{"email": "other@example.com", "event": "bounce", "sg_event_id": "a"}])

    response = post(app, "sendgrid", body.replace(b"other@example.com", JAN.encode()), headers)

    assert response.status_code == 401
    assert bounce_rows(services) == []


@pytest.mark.parametrize(
    ("provider", "body", "status"),
    [
        ("postmark", b"not json", 400),
        ("postmark", b"[1, 2]", 400),
        ("mailgun", b"{}", 401),
        ("sendgrid", b"[]", 401),  # no signature header
        ("ses", b"{}", 404),
    ],
)
def test_hostile_posts_get_a_clear_4xx(hooked, provider, body, status):
    app, services, _sent = hooked
    headers = postmark_auth() if provider == "postmark" else {}

    response = post(app, provider, body, headers)

    assert response.status_code == status
    assert response.get_json()["status"] == "error"


def test_a_provider_without_its_setting_is_switched_off(client):
    response = client.post("/hooks/postmark", json=POSTMARK_BOUNCE, headers=postmark_auth())

    assert response.status_code == 404
    assert "not configured" in response.get_json()["error"]
