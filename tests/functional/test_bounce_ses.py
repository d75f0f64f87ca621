"""POST /hooks/ses: Amazon SES notifications through SNS, checked against a locally made signing certificate.

SNS's real certificates live on amazonaws.com, which tests cannot reach: the app's fetcher
(`SES_CERT_FETCHER`) serves a certificate made here, for the amazonaws.com URL only. The
signature check itself is the real one.
"""

from __future__ import annotations

import base64
import datetime
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from tests.support.app import Drainer, Outbox
from tests.support.people import confirmed_person
from tests.support.reports import bounce_rows, last_sent, suppression_of

JAN = "jan@example.com"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-bounces"
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"
SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}


class SnsSigner:
    """Signs SNS messages as SNS does, with a certificate the fake amazonaws.com fetcher serves."""

    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = datetime.datetime.now(datetime.UTC)
        self.pem = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(self.key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM)
        )
        self.fetched: list[str] = []

    def fetch(self, url: str) -> bytes:
        self.fetched.append(url)
        return self.pem if url == CERT_URL else b"<ConfirmSubscriptionResponse/>"

    def sign(self, envelope: dict, version: str = "2") -> bytes:
        text = "".join(f"{k}\n{envelope[k]}\n" for k in SIGNED[envelope["Type"]] if k in envelope)
        algorithm = hashes.SHA256() if version == "2" else hashes.SHA1()
        signature = self.key.sign(text.encode(), padding.PKCS1v15(), algorithm)
        signed = {**envelope, "SignatureVersion": version, "SigningCertURL": CERT_URL}
        return json.dumps({**signed, "Signature": base64.b64encode(signature).decode()}).encode()


def notification(message: dict, message_id: str = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324") -> dict:
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": TOPIC,
        "Message": json.dumps(message),
        "Timestamp": "2026-11-27T10:15:02.123Z",
    }


def ses_bounce(sent, bounce_type: str = "Permanent") -> dict:
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": JAN,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
            "timestamp": "2026-11-27T10:15:01.000Z",
            "feedbackId": "0100017a-bounce-feedback-1",
        },
        "mail": {
            "messageId": "0100017a-ses-message-id",
            "source": sent.return_path,
            "destination": [JAN],
            "commonHeaders": {"messageId": sent.message_id},
        },
    }


@pytest.fixture
def signer():
    return SnsSigner()


@pytest.fixture
def ses_app(make_app, signer, dramatiq_worker):
    app = make_app(BOUNCE_SES_TOPIC_ARNS=TOPIC, SES_CERT_FETCHER=signer.fetch)
    services = app.extensions["leadcapture"]
    mailbox = Outbox(services.settings.var_dir + "/outbox")
    confirmed_person(app.test_client(), Drainer(app, dramatiq_worker), mailbox, JAN)
    return app, services, last_sent(services, mailbox, JAN)


def post(app, body: bytes):
    return app.test_client().post("/hooks/ses", data=body, content_type="text/plain; charset=UTF-8")


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_signed_permanent_bounce_suppresses_and_names_our_message(ses_app, signer, version):
    app, services, sent = ses_app

    response = post(app, signer.sign(notification(ses_bounce(sent)), version))

    assert response.get_json() == {"status": "ok", "recorded": {"suppressed": 1}}
    assert suppression_of(services, JAN) == "bounced"
    (row,) = bounce_rows(services)
    assert (row.source, row.status, row.message_row_id) == ("ses", "5.1.1", sent.row_id)  # by the VERP source


def test_a_complaint_suppresses_and_a_not_spam_report_does_not(ses_app, signer):
    app, services, sent = ses_app
    complaint = {
        "notificationType": "Complaint",
        "complaint": {"complainedRecipients": [{"emailAddress": JAN}], "feedbackId": "c-1"},
        "mail": {"source": sent.return_path, "commonHeaders": {"messageId": sent.message_id}},
    }
    not_spam = {**complaint, "complaint": {**complaint["complaint"], "complaintFeedbackType": "not-spam"}}

    assert post(app, signer.sign(notification(not_spam, "m-1"))).get_json()["recorded"] == {}
    assert suppression_of(services, JAN) is None
    assert post(app, signer.sign(notification(complaint, "m-2"))).get_json()["recorded"] == {"suppressed": 1}
    assert suppression_of(services, JAN) == "complaint"


def test_a_subscription_is_confirmed_by_fetching_its_url(ses_app, signer):
    app, _services, _sent = ses_app
    subscribe = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=x&Token=abc"
    envelope = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "abc",
        "TopicArn": TOPIC,
        "Message": "You have chosen to subscribe to the topic. To confirm, visit the SubscribeURL.",
        "SubscribeURL": subscribe,
        "Timestamp": "2026-11-27T10:00:00.000Z",
    }

    assert post(app, signer.sign(envelope)).status_code == 200
    assert signer.fetched == [CERT_URL, subscribe]


def test_a_changed_message_is_refused(ses_app, signer):
    app, services, sent = ses_app
    body = signer.sign(notification(ses_bounce(sent, "Transient")))

    response = post(app, body.replace(b"Transient", b"Permanent"))

    assert response.status_code == 401
    assert bounce_rows(services) == []


def test_a_certificate_url_off_amazonaws_is_never_fetched(ses_app, signer):
    app, services, sent = ses_app
    forged = json.loads(signer.sign(notification(ses_bounce(sent))))
    forged["SigningCertURL"] = "https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem"

    response = post(app, json.dumps(forged).encode())

    assert response.status_code == 401
    assert signer.fetched == []


def test_a_topic_not_listed_is_refused(ses_app, signer):
    app, _services, sent = ses_app
    other = {**notification(ses_bounce(sent)), "TopicArn": "arn:aws:sns:eu-west-1:999999999999:someone-else"}

    assert post(app, signer.sign(other)).status_code == 401
    assert signer.fetched == []


def test_ses_is_off_without_topics(client):
    assert client.post("/hooks/ses", data=b"{}").status_code == 404
