"""Actors: idempotent, gated at send time, and the SMTP transport against a real SMTP server."""

from __future__ import annotations

import dramatiq
import pytest
from sqlalchemy import func, select

from leadcapture.consent.tokens import UNSUBSCRIBE
from leadcapture.delivery import asset, confirmation
from leadcapture.delivery.transports import MailError, PermanentMailError, SMTPTransport, TransientMailError
from leadcapture.models import Message, Submission
from tests.support.app import path_of, submit
from tests.support.settings import reconfigure

pytestmark = pytest.mark.usefixtures("demo_form")


def only_submission(services) -> int:
    with services.db.session() as session:
        return session.scalar(select(Submission.id))


def test_a_redelivered_job_sends_no_second_copy(client, worker, mailbox, services):
    submit(client, "jan@example.com")
    worker.drain()
    submission_id = only_submission(services)
    actor = dramatiq.get_broker().get_actor("send_confirmation")
    for _ in range(3):  # the broker delivers the same job again
        actor.send(submission_id)
    worker.drain()
    assert len(mailbox.messages()) == 1
    assert confirmation.send(services, submission_id) == "sent"


def test_a_not_me_click_between_enqueue_and_send_is_honoured(client, worker, mailbox, services):
    with worker.paused():
        submit(client, "victim@example.com", ["newsletter"])
        submission_id = only_submission(services)  # the job is queued, not yet sent
        with services.db.session() as session:
            public_id = session.get(Submission, submission_id).public_id
        url = services.url("/u/" + services.tokens.make(UNSUBSCRIBE, {"s": public_id}))
        client.post(path_of(url), data={"List-Unsubscribe": "One-Click"})
    worker.drain()
    assert mailbox.messages() == []
    with services.db.session() as session:
        assert session.scalar(select(Message.status)) == "skipped"


def test_the_asset_is_not_sent_for_an_unconfirmed_request(services, client, worker, mailbox):
    submit(client, "jan@example.com")
    worker.drain()
    with services.db.session() as session:
        request_id = session.scalar(select(Submission)).requests[0].id
    assert asset.send(services, request_id) == "skipped"
    assert len(mailbox.messages()) == 1


def test_nothing_is_sent_before_the_job_runs(client, services, worker, mailbox):
    with worker.paused():
        submit(client, "jan@example.com")
        with services.db.session() as session:
            assert session.scalar(select(func.count()).select_from(Message)) == 0
        assert mailbox.messages() == []
    worker.drain()
    assert len(mailbox.messages()) == 1


def test_smtp_reuses_one_connection_for_many_messages(smtp_server):
    from tests.support.mail import message

    handler, url = smtp_server()
    transport = SMTPTransport(url)
    for _ in range(5):
        transport.send(message())
    transport.close()
    assert len(handler.messages) == 5
    assert len(handler.sessions) == 1
    received = handler.messages[0].content.decode()
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in received


def test_smtp_4xx_is_transient_and_5xx_permanent(smtp_server):
    from tests.support.mail import message

    handler, url = smtp_server(["451 4.3.0 try later", "550 5.1.1 no such user"])
    transport = SMTPTransport(url)
    with pytest.raises(TransientMailError):
        transport.send(message())
    with pytest.raises(PermanentMailError):
        transport.send(message())
    transport.send(message())
    transport.close()
    assert len(handler.messages) == 1


def test_smtp_check_names_the_relay_when_it_is_down():
    with pytest.raises(MailError, match="127.0.0.1:9"):
        SMTPTransport("smtp://127.0.0.1:9", timeout=2).check()


def test_the_flow_works_over_real_smtp(app, client, worker, services, smtp_server):
    handler, url = smtp_server()
    reconfigure(app, mail_url=url)
    services._transport = None
    submit(client, "jan@example.com", ["newsletter"])
    worker.drain()
    services.transport.close()
    (envelope,) = handler.messages
    assert envelope.rcpt_tos == ["jan@example.com"]
    assert b"Auto-Submitted: auto-generated" in envelope.content
